"""Run history in SQLite under the state folder: one row per run, never silently recreated.

A run's row is written by the run process itself (``child.py``): its pid and that
process's identity (``procs.identity``, so a reused pid is not taken for it), then its
end. A row, once closed, is never changed again: the first end recorded wins.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..procs import alive

__all__ = ["History", "HistoryCorruptError", "Run", "STATUSES"]

# "abstained" and "incomplete": the flow ended normally with that RunResult.status (its reason in `error`)
STATUSES = ("running", "ok", "abstained", "incomplete", "failed", "timeout", "skipped", "missed", "interrupted")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    flow TEXT NOT NULL,
    trigger TEXT NOT NULL,
    scheduled_for REAL,
    started REAL,
    ended REAL,
    status TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT '',
    output_dir TEXT NOT NULL DEFAULT '',
    pid INTEGER,
    flow_started REAL,
    pid_ident TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS runs_name ON runs(name, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta(key, value) VALUES ('schema', 'mmcrew-history-1');
"""


_COLUMNS = "id,name,flow,trigger,scheduled_for,started,ended,status,error,output_dir,pid,flow_started,pid_ident"


class HistoryCorruptError(ConfigError):
    """The history database cannot be read; it is reported, never recreated behind the user's back."""


@dataclass
class Run:
    id: int
    name: str
    flow: str
    trigger: str
    scheduled_for: float | None
    started: float | None
    ended: float | None
    status: str
    error: str
    output_dir: str
    pid: int | None
    flow_started: float | None = None
    pid_ident: str = ""


def _busy(e: Exception) -> bool:
    text = str(e).lower()
    return "locked" in text or "busy" in text


class History:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                self._open()
                return
            except sqlite3.OperationalError as e:
                # busy, not broken: runs write their own rows, so several processes open it at once
                if _busy(e) and time.monotonic() < deadline:
                    time.sleep(0.2)
                    continue
                if _busy(e):
                    raise HistoryCorruptError(f"run history {self.path} stayed locked for 60 s ({e})") from None
                self._corrupt(e)
            except sqlite3.DatabaseError as e:
                self._corrupt(e)

    def _open(self) -> None:
        existed = self.path.exists() and self.path.stat().st_size > 0
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        try:
            if existed:
                ok = self._db.execute("PRAGMA quick_check").fetchone()[0]
                if ok != "ok":
                    raise sqlite3.DatabaseError(ok)
                tag = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
                if not tag or tag[0] != "mmcrew-history-1":
                    raise sqlite3.DatabaseError("not a multimodal-crew run history")
            # switching the journal mode needs the file to itself; WAL persists, so only the first open does it
            if self._db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
            self._upgrade()
        except BaseException:
            self._db.close()
            raise

    def _corrupt(self, e: Exception) -> None:
        raise HistoryCorruptError(
            f"run history {self.path} is unreadable ({e}); move it aside (mv {self.path} {self.path}.bad) "
            "to start a new history"
        ) from None

    def _upgrade(self) -> None:
        """Add the columns a history written by an older version lacks."""
        have = {row[1] for row in self._db.execute("PRAGMA table_info(runs)")}
        if "pid_ident" not in have:
            try:
                self._db.execute("ALTER TABLE runs ADD COLUMN pid_ident TEXT NOT NULL DEFAULT ''")
            except sqlite3.OperationalError as e:  # another process added it just now
                if "duplicate column" not in str(e):
                    raise

    def close(self) -> None:
        self._db.close()

    def start(
        self,
        name: str,
        flow: str,
        trigger: str,
        scheduled_for: float | None,
        status: str = "running",
        error: str = "",
        *,
        pid: int | None = None,
        pid_ident: str = "",
        started: float | None = None,
    ) -> int:
        """A new row; ``pid`` (default: this process) is the process doing the run."""
        now = time.time()
        ended = now if status != "running" else None
        cur = self._db.execute(
            "INSERT INTO runs(name, flow, trigger, scheduled_for, started, ended, status, error, pid, pid_ident) "
            "VALUES (?,?,?,?,?,?,?,?,?,?)",
            (name, flow, trigger, scheduled_for, started or now, ended, status, error, pid or os.getpid(), pid_ident),
        )
        return int(cur.lastrowid)

    def set_pid(self, run_id: int, pid: int, pid_ident: str = "") -> None:
        self._db.execute("UPDATE runs SET pid=?, pid_ident=? WHERE id=?", (pid, pid_ident, run_id))

    def finish(
        self, run_id: int, status: str, error: str = "", output_dir: str = "", flow_started: float | None = None
    ) -> bool:
        """Close a row still ``running``; False if it was already closed (the first end recorded wins)."""
        if status not in STATUSES:
            raise ValueError(status)
        cur = self._db.execute(
            "UPDATE runs SET ended=?, status=?, error=?, output_dir=CASE WHEN ?='' THEN output_dir ELSE ? END, "
            "flow_started=COALESCE(?, flow_started) WHERE id=? AND status='running'",
            (time.time(), status, error[:2000], output_dir, output_dir, flow_started, run_id),
        )
        return cur.rowcount > 0

    def running_row_of(self, pid: int) -> int | None:
        """The row that process ``pid`` left ``running``, if any."""
        row = self._db.execute(
            "SELECT id FROM runs WHERE pid=? AND status='running' ORDER BY id DESC LIMIT 1", (pid,)
        ).fetchone()
        return int(row[0]) if row else None

    def runs(self, name: str | None = None, limit: int = 50) -> list[Run]:
        q = f"SELECT {_COLUMNS} FROM runs"
        args: tuple = ()
        if name:
            q += " WHERE name=?"
            args = (name,)
        q += " ORDER BY id DESC LIMIT ?"
        return [Run(*row) for row in self._db.execute(q, (*args, limit))]

    def running(self) -> list[Run]:
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM runs WHERE status='running'").fetchall()
        return [Run(*r) for r in rows]

    def mark_interrupted(self) -> int:
        """Rows left 'running' by a process that no longer exists (same pid and start time) become
        'interrupted', keeping any output folder they recorded."""
        n = 0
        for run in self.running():
            if alive(run.pid, run.pid_ident):
                continue
            n += self.finish(run.id, "interrupted", "the scheduler or run process stopped before the run ended")
        return n

    def count(self, name: str | None = None, status: str | None = None) -> int:
        q, args = "SELECT COUNT(*) FROM runs WHERE 1=1", []
        if name:
            q += " AND name=?"
            args.append(name)
        if status:
            q += " AND status=?"
            args.append(status)
        return int(self._db.execute(q, args).fetchone()[0])
