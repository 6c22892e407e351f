"""The server's run queue: flows run one at a time, in submission order, on one worker thread.

The embedded model must never run two generations at once, so :class:`RunManager` takes runs in FIFO
order; each run and its events are rows of a :class:`~.run_store.RunStore` (``serve/run_store.py``)::

    store = RunStore(default_path(settings))
    manager = RunManager(store, runner, validate=check_inputs)
    run_id = manager.submit("ask", {"question": "..."})   # returns at once; a `queued` event exists
    manager.wait(run_id)                                  # the record once the run has ended
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from ..errors import InputError, MMCrewError
from ..steps.results import RunResult
from .run_store import FINAL, RunEvent, RunNotFoundError, RunRecord, RunStore, default_path, error_line

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


Runner = Callable[[str, dict, Callable[[str], None], threading.Event], RunResult]
Validator = Callable[[str, dict], "dict | None"]


class RunManagerClosedError(MMCrewError):
    """The server is stopping and takes no new runs (HTTP 503)."""


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

    def _announce_positions(self, start: int = 0) -> None:
        """A ``position`` event for each queued run from index ``start`` on (the queue moved)."""
        for i, run_id in enumerate(list(self._queue)[start:], start + 1):
            self.store.add_event(run_id, "position", f"position {i} in the queue", {"position": i})

    def _left(self, deadline: float | None) -> float:
        return self._poll if deadline is None else min(self._poll, deadline - time.monotonic())
