"""One run of one schedule entry: a fresh process, a time limit, a history row.

Each run is a child process forked from a server that has CrewAI preloaded
(``server.py``, ``child.py``): a fresh Flow instance by construction (no state carried
between runs, crewAI #6639), a start in milliseconds, and a run past ``max_runtime``
can be stopped for real. The run process owns its run: it takes the per-entry file
lock (so two runs of one entry never overlap, whoever starts them, and the lock is
held exactly as long as the run lives), writes its history row, stops itself at
``max_runtime``, and ends when the process that started it ends. This side keeps a
pipe to it (its lifeline), asks it to stop, and records what it could not.

The runs in progress and whether their scheduler is stopping live in one :class:`Runs`
object, owned by whoever starts runs (``service.Scheduler``, or ``run_entry`` alone for
``mmcrew schedule run``). This module never imports ``service``.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from typing import Any

from ..settings import Settings
from .config import ScheduleEntry
from .history import History, schedule_dir

__all__ = ["Runs", "run_entry", "schedule_dir", "scheduled_job", "warm"]

STOP_GRACE = 5.0  # seconds a run has to stop by itself (remove its staging folder, close its row) before it is killed
START_LIMIT = 120.0  # seconds for the fork server to start (it imports CrewAI once) and the run to take its lock


class Runs:
    """The runs one scheduler (or one ``run_entry`` call) has in progress: the stop pipe of each,
    by pid, and whether the scheduler is stopping (their end is then recorded as 'interrupted')."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self._pipes: dict[int, Any] = {}
        self._lock = threading.Lock()

    def add(self, pid: int, ctl) -> None:
        with self._lock:
            self._pipes[pid] = ctl

    def remove(self, pid: int | None) -> None:
        with self._lock:
            self._pipes.pop(pid, None)

    def stop_all(self) -> None:
        """Ask every run in progress to stop (scheduler shutdown); their runners wait for them."""
        with self._lock:
            pipes = list(self._pipes.values())
        for ctl in pipes:
            _ask_stop(ctl)


def run_entry(
    entry: ScheduleEntry,
    *,
    trigger: str = "manual",
    due: float | None = None,
    history: History | None = None,
    runs: Runs | None = None,
    settings: Settings | None = None,
) -> int:
    """Run ``entry`` now; return the history row id. Never raises for a failed run. ``runs``: the
    scheduler's runs in progress (a lone run gets its own). ``history`` (default: the one ``settings``
    name, ``History.of``) is where the run process writes its row; on a shared history the run's lock
    is shared too (``db.SharedLock``), so no two machines run the entry at once."""
    runs = runs or Runs()
    folder = schedule_dir(settings)
    own = history is None
    history = history or History.of(settings)
    try:
        lock_path = folder / "locks" / f"{entry.name}.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "name": entry.name,
            "flow": entry.flow,
            "inputs": dict(entry.inputs),  # run_flow puts them over the definition's defaults
            "env": dict(os.environ),
            "trigger": trigger,
            "due": due,
            "max_runtime": entry.max_runtime,
            "lock": str(lock_path),
            "history": str(history.path),
            "database_url": history.database_url,  # "" : the SQLite history and an fcntl lock
            "machine": history.machine,
            "namespace": history.namespace,
        }
        results, child_end = _CTX.Pipe(duplex=False)
        child_ctl, ctl = _CTX.Pipe(duplex=False)  # only this process holds `ctl`: the run's lifeline
        proc = _CTX.Process(target=_child_main, args=(payload, child_end, child_ctl), name=f"mmcrew-run-{entry.name}")
        run_id, t0 = None, time.time()
        try:
            proc.start()
            child_end.close()
            child_ctl.close()
            runs.add(proc.pid, ctl)
            message = _wait(proc, results, START_LIMIT + entry.max_runtime, runs.stopping)
            if isinstance(message, tuple) and message[0] == "busy":
                holder = message[1] if len(message) > 1 and history.shared else ""
                return history.start(
                    entry.name,
                    entry.flow,
                    trigger,
                    due,
                    status="skipped",
                    error="the previous run of this entry is still going" + (f" ({holder})" if holder else ""),
                )
            run_id = message[1] if isinstance(message, tuple) and message[0] == "started" else None
            if run_id is None and message in ("timeout", "stopping"):
                _stop(proc, ctl)
            if run_id is None:  # it ended (or was stopped) before it said it started
                run_id = history.running_row_of(proc.pid) or history.start(
                    entry.name, entry.flow, trigger, due, pid=proc.pid, started=t0
                )
            else:  # it stops itself at max_runtime; this is the backstop
                message = _wait(proc, results, entry.max_runtime + STOP_GRACE, runs.stopping)
                if message in ("timeout", "stopping"):
                    _stop(proc, ctl)
            proc.join(STOP_GRACE)
            if message == "timeout":
                history.finish(run_id, "timeout", f"stopped after max_runtime {entry.max_runtime:g} s")
            elif message == "stopping" or runs.stopping.is_set():
                history.finish(run_id, "interrupted", "the scheduler stopped during the run")
            else:  # the run process records its own end; this only closes a row it could not
                history.finish(run_id, "failed", f"the run process ended with exit code {proc.exitcode}")
            return run_id
        except BaseException:  # Ctrl-C in `schedule run`: stop the run, keep the record true
            _stop(proc, ctl)
            run_id = run_id or history.running_row_of(proc.pid or 0)
            if run_id is not None:
                history.finish(run_id, "interrupted", "the scheduler stopped during the run")
            raise
        finally:
            runs.remove(proc.pid)
            results.close()
            ctl.close()
    finally:
        if own:
            history.close()


def _ask_stop(ctl) -> None:
    try:
        ctl.send("stop")
    except (OSError, ValueError):  # it has ended, or the pipe is closed
        pass


def _stop(proc, ctl) -> None:
    """Ask the run to stop (it removes its staging folder and closes its row), then make sure."""
    if proc.pid is None:
        return
    _ask_stop(ctl)
    proc.join(STOP_GRACE)
    if proc.is_alive():
        proc.terminate()
        proc.join(STOP_GRACE)
    if proc.is_alive():
        proc.kill()
        proc.join()


def _wait(proc, conn, limit: float, stopping: threading.Event):
    """The run's next message, None if it ended without one, "timeout" after ``limit`` seconds,
    or "stopping" when the scheduler is stopping."""
    deadline = time.monotonic() + limit
    while True:
        if stopping.is_set():
            return "stopping"
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return "timeout"
        if conn.poll(min(remaining, 0.25)):
            try:
                return conn.recv()
            except EOFError:
                proc.join(STOP_GRACE)
                return None
        if not proc.is_alive():
            return conn.recv() if conn.poll(0) else None


def _noop() -> None:
    pass


def warm() -> None:
    """Start the preloaded fork server now (a few seconds of imports), not when the first run is due."""
    p = _CTX.Process(target=_noop)
    p.start()
    p.join()


def _child_main(payload, conn, ctl) -> None:
    from .child import die_with_server, run

    die_with_server()  # first thing after the fork
    run(payload, conn, ctl)


def _context():
    try:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["multimodal_crew.schedule.server"])
        return ctx
    except ValueError:  # no forkserver on this platform
        return multiprocessing.get_context("spawn")


_CTX = _context()


def scheduled_job(name: str, fingerprint: str = "", *, owner: Any = None, due: float | None = None) -> None:
    """The function APScheduler stores (by reference, with ``name`` and ``fingerprint``) and calls.

    The executor of the scheduler that runs the job adds ``owner`` (that scheduler) and ``due``
    (when the run was due); the owner reads the entry fresh from YAML and runs it."""
    if owner is not None:
        owner.run_scheduled(name, due)
