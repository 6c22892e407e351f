"""The server's runs and their events, kept in SQLite (``RunStore``): what a restarted server still lists.

Every run and every event it emits (``queued``, ``position``, ``progress``, ``status``, ``result``,
``error``) is a row, so a client can read a run's events from any point. The last event of every run is
a ``status`` event whose ``data`` is ``{"status": ..., "final": true}``. A run that a dead process left
``queued`` or ``running`` is marked ``interrupted`` when the store is opened again. The queue that runs
them is ``serve.runs.RunManager``.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
import time
import uuid
import weakref
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from ..errors import ConfigError, MMCrewError, NotFoundError, _one_line
from ..knowledge.store import transaction
from ..procs import alive, identity
from ..steps.results import RunResult

__all__ = [
    "FINAL",
    "RunEvent",
    "RunNotFoundError",
    "RunRecord",
    "RunStore",
    "default_path",
    "error_line",
]

log = logging.getLogger(__name__)

Status = Literal["queued", "running", "ok", "abstained", "incomplete", "failed", "cancelled", "interrupted"]
EventKind = Literal["queued", "position", "progress", "status", "result", "error"]
FINAL = frozenset({"ok", "abstained", "incomplete", "failed", "cancelled", "interrupted"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, flow TEXT NOT NULL, inputs TEXT NOT NULL, status TEXT NOT NULL,
    created REAL NOT NULL, started REAL, finished REAL, result TEXT, error TEXT NOT NULL DEFAULT '',
    host TEXT NOT NULL DEFAULT '', owner TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS runs_created ON runs(created);
CREATE INDEX IF NOT EXISTS runs_open ON runs(status) WHERE status IN ('queued', 'running');
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL, seq INTEGER NOT NULL, t REAL NOT NULL, kind TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '', data TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (run_id, seq)
);
"""
_COLUMNS = "id, flow, inputs, status, created, started, finished, result, error, host"
# tokens of the stores open in this process: a run owned by this pid but by no open store was
# left by a store that was closed (an in-process restart), and is as lost as one of a dead process
_OPEN_STORES: set[str] = set()


class RunNotFoundError(NotFoundError):
    """No run has that id (HTTP 404)."""


class RunRecord(BaseModel):
    """One run as the API shows it; ``position`` is its place in the queue (1 = next) while queued."""

    id: str
    flow: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    status: Status
    created: float
    started: float | None = None
    finished: float | None = None
    result: RunResult | None = None
    error: str = ""
    host: str = ""
    position: int | None = None


class RunEvent(BaseModel):
    """One event of a run; ``seq`` counts from 1 within the run (the SSE ``id``)."""

    run_id: str
    seq: int
    t: float
    kind: EventKind
    message: str = ""
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def final(self) -> bool:
        return self.kind == "status" and bool(self.data.get("final"))


def default_path(settings) -> Path:
    """Where ``mmcrew serve`` keeps its runs: ``$MMCREW_HOME/serve/runs.sqlite``."""
    return settings.home_path / "serve" / "runs.sqlite"


def error_line(e: BaseException) -> str:
    """One line for a failed run: our own errors are already written for people; others get their type."""
    text = str(e) if isinstance(e, MMCrewError) else f"{type(e).__name__}: {e}".rstrip(": ")
    return _one_line(text, 1000)


class RunStore:
    """Runs and events in one SQLite file (WAL); one connection shared by threads under a lock."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.host = socket.gethostname()
        self._token = uuid.uuid4().hex
        self._owner = f"{os.getpid()}|{identity(os.getpid())}|{self._token}"
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as e:
            raise ConfigError(f"cannot open the run store {self.path} ({_one_line(e)}); check MMCREW_HOME") from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            have = {row[1] for row in self._db.execute("PRAGMA table_info(runs)")}
            if not {"inputs", "owner", "host", "result"} <= have:
                raise sqlite3.DatabaseError("its runs table is not the server's")
        except sqlite3.Error as e:
            self._db.close()
            raise ConfigError(
                f"the run store {self.path} is unreadable ({_one_line(e)}); move it aside (mv {self.path} "
                f"{self.path}.bad) and start the server again"
            ) from None
        _OPEN_STORES.add(self._token)
        self._finalizer = weakref.finalize(self, _OPEN_STORES.discard, self._token)
        self.interrupted = self._mark_interrupted()

    def close(self) -> None:
        self._finalizer()
        with self._lock:
            self._db.close()

    # -- writes ---------------------------------------------------------------------------
    def create(self, flow: str, inputs: dict, *, message: str = "queued", data: dict | None = None) -> RunRecord:
        """A new ``queued`` run and its first event (``queued``), in one transaction."""
        run_id, now = uuid.uuid4().hex, time.time()
        with self._lock, transaction(self._db):
            self._db.execute(
                "INSERT INTO runs(id, flow, inputs, status, created, host, owner) VALUES (?,?,?,?,?,?,?)",
                (
                    run_id,
                    flow,
                    json.dumps(inputs, ensure_ascii=False, default=str),
                    "queued",
                    now,
                    self.host,
                    self._owner,
                ),
            )
            self._insert_event(run_id, "queued", message, data or {})
        return self.get(run_id)

    def add_event(self, run_id: str, kind: EventKind, message: str = "", data: dict | None = None) -> RunEvent:
        with self._lock, transaction(self._db):
            return self._insert_event(run_id, kind, message, data or {})

    def set_status(
        self,
        run_id: str,
        status: Status,
        *,
        message: str = "",
        error: str | None = None,
        result: RunResult | None = None,
    ) -> RunEvent | None:
        """Move a run to ``status`` and write its ``status`` event, in one transaction (a reader that
        sees a finished run also sees its final event). None if the run had already ended: the first
        end recorded wins."""
        now, final = time.time(), status in FINAL
        changes: dict[str, Any] = {"status": status}
        if status == "running":
            changes["started"] = now
        if final:
            changes["finished"] = now
        if error is not None:
            changes["error"] = error
        if result is not None:
            changes["result"] = result.model_dump_json()
        sets = ", ".join(f"{column}=?" for column in changes)
        with self._lock, transaction(self._db):
            cur = self._db.execute(
                f"UPDATE runs SET {sets} WHERE id=? AND status IN ('queued', 'running')", (*changes.values(), run_id)
            )
            if cur.rowcount == 0:
                self.get(run_id)  # RunNotFoundError for an unknown id
                return None
            data = {"status": status, "final": final}
            return self._insert_event(run_id, "status", message or status, data)

    def prune(self, before: float) -> int:
        """Deletes the runs that ended before ``before`` (a ``time.time()``) and their events; the number deleted.
        Runs still queued or running are never deleted."""
        done = tuple(FINAL)
        marks = ",".join("?" * len(done))
        with self._lock, transaction(self._db):
            ids = [r[0] for r in self._db.execute(
                f"SELECT id FROM runs WHERE status IN ({marks}) AND COALESCE(finished, created) < ?", (*done, before)
            )]  # fmt: skip
            for k in range(0, len(ids), 500):
                chunk = ids[k : k + 500]
                q = ",".join("?" * len(chunk))
                self._db.execute(f"DELETE FROM events WHERE run_id IN ({q})", chunk)
                self._db.execute(f"DELETE FROM runs WHERE id IN ({q})", chunk)
        return len(ids)

    def names(self, text: str) -> bool:
        """Whether the inputs of any kept run contain ``text`` (a file name)."""
        with self._lock:
            return (
                self._db.execute("SELECT 1 FROM runs WHERE instr(inputs, ?) > 0 LIMIT 1", (text,)).fetchone()
                is not None
            )

    # -- reads ----------------------------------------------------------------------------
    def get(self, run_id: str) -> RunRecord:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None:
            raise RunNotFoundError(f"no run has the id {run_id!r}; GET /runs lists them")
        return _record(row)

    def list(self, limit: int = 50, offset: int = 0, flow: str | None = None) -> list[RunRecord]:
        """Runs, newest first."""
        where, args = ("WHERE flow=?", [flow]) if flow else ("", [])
        q = f"SELECT {_COLUMNS} FROM runs {where} ORDER BY rowid DESC LIMIT ? OFFSET ?"
        with self._lock:
            rows = self._db.execute(q, (*args, max(1, min(limit, 1000)), max(0, offset))).fetchall()
        return [_record(r) for r in rows]

    def events(self, run_id: str, after_seq: int = 0) -> list[RunEvent]:
        """The run's events with ``seq > after_seq``, in order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT run_id, seq, t, kind, message, data FROM events WHERE run_id=? AND seq>? ORDER BY seq",
                (run_id, after_seq),
            ).fetchall()
        return [RunEvent(run_id=r[0], seq=r[1], t=r[2], kind=r[3], message=r[4], data=json.loads(r[5])) for r in rows]

    # -- internals ------------------------------------------------------------------------
    def _insert_event(self, run_id: str, kind: str, message: str, data: dict) -> RunEvent:
        (seq,) = self._db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE run_id=?", (run_id,)).fetchone()
        event = RunEvent(run_id=run_id, seq=seq, t=time.time(), kind=kind, message=message[:4000], data=data)
        self._db.execute(
            "INSERT INTO events(run_id, seq, t, kind, message, data) VALUES (?,?,?,?,?,?)",
            (run_id, seq, event.t, kind, event.message, json.dumps(data, ensure_ascii=False, default=str)),
        )
        return event

    def _mark_interrupted(self) -> list[str]:
        """Runs left ``queued``/``running`` on this host by a process (or store) that is gone become
        ``interrupted``. Runs of another host are left alone: whether their server lives is unknown here."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, owner FROM runs WHERE status IN ('queued', 'running') AND host=?", (self.host,)
            ).fetchall()
        lost = [run_id for run_id, owner in rows if not _owner_alive(owner)]
        for run_id in lost:
            self.set_status(run_id, "interrupted", message="the server stopped before this run ended; submit it again")
        return lost


def _owner_alive(owner: str) -> bool:
    parts = owner.split("|")
    if len(parts) != 3 or not parts[0].isdigit():
        return False
    pid, ident, token = int(parts[0]), parts[1], parts[2]
    if pid == os.getpid() and ident == identity(pid):
        return token in _OPEN_STORES
    return alive(pid, ident)


def _record(row: tuple) -> RunRecord:
    rec = dict(zip(_COLUMNS.split(", "), row, strict=True))
    rec["inputs"] = json.loads(rec["inputs"])
    rec["result"] = RunResult.model_validate_json(rec["result"]) if rec["result"] else None
    return RunRecord(**rec)
