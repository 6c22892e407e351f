"""The server's runs: a FIFO queue that runs flows one at a time, kept in SQLite with their events.

The embedded model must never run two generations at once, so :class:`RunManager` has one worker
thread that takes runs in submission order. Every run and every event it emits (``queued``,
``position``, ``progress``, ``status``, ``result``, ``error``) is a row in :class:`RunStore`, so a
restarted server still lists finished runs, and a client can read a run's events from any point::

    store = RunStore(default_path(settings))
    manager = RunManager(store, runner, validate=check_inputs)
    run_id = manager.submit("ask", {"question": "..."})   # returns at once; a `queued` event exists
    for event in manager.subscribe(run_id):               # ends with the final `status` event
        print(event.kind, event.message)

The last event of every run is a ``status`` event whose ``data`` is ``{"status": ..., "final": true}``.
A run that a dead process left ``queued`` or ``running`` is marked ``interrupted`` when the store
is opened again.
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
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from ..errors import ConfigError, InputError, MMCrewError, NotFoundError, _one_line
from ..procs import alive, identity
from ..steps.results import RunResult

__all__ = [
    "FINAL",
    "RunEvent",
    "RunManager",
    "RunManagerClosedError",
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
Runner = Callable[[str, dict, Callable[[str], None], threading.Event], RunResult]
Validator = Callable[[str, dict], "dict | None"]

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


class RunManagerClosedError(MMCrewError):
    """The server is stopping and takes no new runs (HTTP 503)."""


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
        with self._lock, _transaction(self._db):
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
        with self._lock, _transaction(self._db):
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
        with self._lock, _transaction(self._db):
            cur = self._db.execute(
                f"UPDATE runs SET {sets} WHERE id=? AND status IN ('queued', 'running')", (*changes.values(), run_id)
            )
            if cur.rowcount == 0:
                self.get(run_id)  # RunNotFoundError for an unknown id
                return None
            data = {"status": status, "final": final}
            return self._insert_event(run_id, "status", message or status, data)

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


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error) on an autocommit connection."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


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


class RunManager:
    """Runs flows one at a time, in submission order, on one worker thread.

    ``runner(flow, inputs, progress, cancelled) -> RunResult`` does a run's work: it calls
    ``progress(message)`` as it goes and should check ``cancelled`` (an Event) between steps.
    ``validate(flow, inputs)`` checks a request before it is queued, raising InputError or
    UnknownFlowError, and may return the inputs it normalised. Waits re-read the store every
    ``poll`` seconds as well, for runs another process writes.
    """

    def __init__(self, store: RunStore, runner: Runner, validate: Validator | None = None, *, poll: float = 1.0):
        self.store, self._runner, self._validate, self._poll = store, runner, validate, poll
        self._cond = threading.Condition()  # guards the queue and the current run; notified on every event
        self._queue: deque[str] = deque()
        self._current: str | None = None
        self._cancel = threading.Event()
        self._closed = False
        self._worker = threading.Thread(target=self._work, name="mmcrew-runs", daemon=True)
        self._worker.start()

    # -- the API ----------------------------------------------------------------------------
    def submit(self, flow: str, inputs: dict) -> str:
        """Validate, queue and return the new run's id at once; its ``queued`` event is written before."""
        if self._validate is not None:
            checked = self._validate(flow, inputs)
            inputs = inputs if checked is None else checked
        with self._cond:
            if self._closed:
                raise RunManagerClosedError("the server is stopping and takes no new runs; submit it again later")
            position = len(self._queue) + 1
            rec = self.store.create(flow, inputs, message=f"queued, position {position}", data={"position": position})
            self._queue.append(rec.id)
            self._cond.notify_all()
        return rec.id

    def get(self, run_id: str) -> RunRecord:
        """The stored run, with its place in the queue while it waits."""
        rec = self.store.get(run_id)
        with self._cond:
            if run_id in self._queue:
                rec.position = self._queue.index(run_id) + 1
        return rec

    def cancel(self, run_id: str) -> RunRecord:
        """A queued run leaves the queue as ``cancelled``; a running one is asked to stop (its cancel
        Event is set) and is ``cancelled`` when its runner returns. An ended run is an InputError."""
        with self._cond:
            if run_id in self._queue:
                at = self._queue.index(run_id)
                self._queue.remove(run_id)
                self.store.set_status(run_id, "cancelled", message="cancelled before it started")
                self._announce_positions(start=at)
                self._cond.notify_all()
            elif run_id == self._current:
                if not self._cancel.is_set():
                    self._cancel.set()
                    self.store.add_event(run_id, "progress", "cancel requested: no further step will start")
                    self._cond.notify_all()
            else:
                rec = self.store.get(run_id)
                if rec.status in FINAL:
                    raise InputError(f"run {run_id} has already ended ({rec.status}); there is nothing to cancel")
                raise InputError(f"run {run_id} belongs to another server process (on {rec.host}); cancel it there")
        return self.get(run_id)

    def wait(self, run_id: str, timeout: float | None = None) -> RunRecord:
        """The run once it has ended, or as it is when ``timeout`` seconds have passed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                rec = self.get(run_id)
                left = self._left(deadline)
                if rec.status in FINAL or left <= 0:
                    return rec
                self._cond.wait(left)

    def wait_events(self, run_id: str, after_seq: int = 0, timeout: float | None = None) -> list[RunEvent]:
        """The events after ``after_seq``, waiting up to ``timeout`` for one to come; [] when the time
        is up or the run has ended with no event after ``after_seq`` (an async server can call this
        in a worker thread)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                events = self.store.events(run_id, after_seq)
                if events:
                    return events
                left = self._left(deadline)
                if left <= 0 or self.store.get(run_id).status in FINAL:
                    return []
                self._cond.wait(left)

    def subscribe(
        self, run_id: str, after_seq: int = 0, *, heartbeat: float | None = None
    ) -> Iterator[RunEvent | None]:
        """The run's events after ``after_seq`` as they come, ending with its final ``status`` event.
        With ``heartbeat``, also yields None after that many quiet seconds (an SSE keep-alive, which is
        how a server notices a client has gone). A client that stops reading does not affect the run.
        An unknown id raises RunNotFoundError here, before the first event."""
        self.store.get(run_id)
        return self._follow(run_id, after_seq, heartbeat)

    def close(self, cancel_running: bool = False, timeout: float | None = None) -> bool:
        """Take no more runs; queued runs become ``interrupted``; the running one finishes, or is
        cancelled with ``cancel_running``. True when the worker has stopped within ``timeout``."""
        with self._cond:
            if not self._closed:
                self._closed = True
                for run_id in self._queue:
                    self.store.set_status(run_id, "interrupted", message="the server stopped before this run started")
                self._queue.clear()
            if cancel_running and self._current and not self._cancel.is_set():
                self._cancel.set()
                self.store.add_event(self._current, "progress", "cancel requested: the server is stopping")
            self._cond.notify_all()
        self._worker.join(timeout)
        return not self._worker.is_alive()

    # -- the worker -------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                run_id = self._queue.popleft()
                self._current, self._cancel = run_id, threading.Event()
                cancel = self._cancel
                try:
                    rec = self.store.get(run_id)
                    self.store.set_status(run_id, "running")
                    self._announce_positions()
                except Exception:  # noqa: BLE001 - the store failed: the restart marks the run interrupted
                    log.exception("cannot start run %s", run_id)
                    self._current = None
                    continue
                finally:
                    self._cond.notify_all()
            try:
                self._execute(rec, cancel)
            except Exception:  # noqa: BLE001 - a bug here must not stop the queue
                log.exception("run %s could not be recorded", run_id)
                with self._cond:
                    self._current = None

    def _execute(self, rec: RunRecord, cancel: threading.Event) -> None:
        def progress(message: str) -> None:
            with self._cond:
                if self._current != rec.id:  # a thread the runner left behind, after the run's end
                    return
                try:
                    self.store.add_event(rec.id, "progress", str(message))
                except Exception:  # noqa: BLE001 - progress is best effort; the run goes on
                    log.exception("cannot record progress of run %s", rec.id)
                self._cond.notify_all()

        result, error = None, None
        try:
            result = self._runner(rec.flow, rec.inputs, progress, cancel)
            if not isinstance(result, RunResult):
                raise TypeError(f"the runner returned {type(result).__name__}, not a RunResult")
        except BaseException as e:  # noqa: BLE001 - one run's failure must not stop the queue
            result, error = None, e
            if not isinstance(e, MMCrewError):
                log.error("run %s (%s) failed", rec.id, rec.flow, exc_info=e)
        self._finish(rec.id, cancel, result, error)

    def _finish(self, run_id: str, cancel: threading.Event, result: RunResult | None, error: BaseException | None):
        """Record the end, under the lock, so a cancel either comes before it or finds the run ended."""
        line = error_line(error) if error is not None else None
        with self._cond:
            try:
                if cancel.is_set():
                    self.store.set_status(
                        run_id, "cancelled", message="cancelled while running", error=line, result=result
                    )
                elif result is None:
                    self.store.add_event(run_id, "error", line or "", {"type": type(error).__name__})
                    self.store.set_status(run_id, "failed", message=f"failed: {line}", error=line)
                else:
                    self.store.add_event(run_id, "result", result.status, result.model_dump(mode="json"))
                    reason = f": {result.reason}" if result.reason else ""
                    self.store.set_status(run_id, result.status, message=result.status + reason, result=result)
            except Exception:  # noqa: BLE001 - the store failed: the restart marks the run interrupted
                log.exception("cannot record the end of run %s", run_id)
            finally:
                self._current = None
                self._cond.notify_all()

    def _follow(self, run_id: str, seq: int, heartbeat: float | None) -> Iterator[RunEvent | None]:
        while True:
            events = self.wait_events(run_id, seq, heartbeat)
            if not events:
                if self.store.get(run_id).status in FINAL and not self.store.events(run_id, seq):
                    return
                if heartbeat is not None:
                    yield None
                continue
            for event in events:
                yield event
                if event.final:
                    return
            seq = events[-1].seq

    def _announce_positions(self, start: int = 0) -> None:
        """A ``position`` event for each queued run from index ``start`` on (the queue moved)."""
        for i, run_id in enumerate(list(self._queue)[start:], start + 1):
            self.store.add_event(run_id, "position", f"position {i} in the queue", {"position": i})

    def _left(self, deadline: float | None) -> float:
        return self._poll if deadline is None else min(self._poll, deadline - time.monotonic())
