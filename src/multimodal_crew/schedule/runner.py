"""One run of one schedule entry: a fresh process, a time limit, a history row.

Each run is a child process forked from a server that has CrewAI preloaded
(``child.py``): a fresh Flow instance by construction (no state carried between
runs, crewAI #6639), a start in milliseconds, and a run past ``max_runtime``
can be stopped for real. A per-entry file lock keeps two runs of one entry from overlapping, whoever starts them.
"""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import threading
import time
from pathlib import Path
from typing import Any

from ..settings import get_settings
from .config import ScheduleEntry
from .history import History

__all__ = ["run_entry", "schedule_dir", "DUE"]

# job id -> the time the run was due; filled by the scheduler's executor just before it starts the job
DUE: dict[str, float] = {}
# child processes of runs in progress, and whether the scheduler is stopping (their end is then 'interrupted')
RUNNING: dict[int, Any] = {}
STOPPING = threading.Event()


def stop_all() -> None:
    """Stop every run in progress (scheduler shutdown)."""
    for proc in list(RUNNING.values()):
        _kill(proc)


def schedule_dir() -> Path:
    path = get_settings().home_path / "schedule"
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_entry(
    entry: ScheduleEntry, *, trigger: str = "manual", due: float | None = None, history: History | None = None
) -> int:
    """Run ``entry`` now; return the history row id. Never raises for a failed run."""
    from ..inputs import config_defaults

    own = history is None
    history = history or History(schedule_dir() / "history.sqlite")
    try:
        lock_path = schedule_dir() / "locks" / f"{entry.name}.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return history.start(
                    entry.name,
                    entry.flow,
                    trigger,
                    due,
                    status="skipped",
                    error="the previous run of this entry is still going",
                )
            run_id = history.start(entry.name, entry.flow, trigger, due)
            payload = {
                "flow": entry.flow,
                "inputs": {**config_defaults(entry.flow), **entry.inputs},
                "env": dict(os.environ),
            }
            parent, child_end = _CTX.Pipe(duplex=False)
            proc = _CTX.Process(target=_child_main, args=(payload, child_end), name=f"mmcrew-run-{entry.name}")
            try:
                proc.start()
                child_end.close()
                history.set_pid(run_id, proc.pid)
                RUNNING[run_id] = proc
                message = _wait(proc, parent, entry.max_runtime)
                if message == "timeout":
                    _kill(proc)
                    history.finish(run_id, "timeout", f"stopped after max_runtime {entry.max_runtime:g} s")
                    return run_id
                if message == "stopping":  # the scheduler stopped, perhaps before this child was in RUNNING
                    _kill(proc)
                    history.finish(run_id, "interrupted", "the scheduler stopped during the run")
                    return run_id
            except BaseException:  # Ctrl-C or scheduler shutdown: stop the child, keep the record true
                _kill(proc)
                history.finish(run_id, "interrupted", "the scheduler stopped during the run")
                raise
            finally:
                RUNNING.pop(run_id, None)
                parent.close()
            if STOPPING.is_set() and (message is None or message[0] != "ok"):
                history.finish(run_id, "interrupted", "the scheduler stopped during the run")
            elif message and message[0] == "ok":
                result = message[1]
                history.finish(
                    run_id, "ok", output_dir=str(result.get("output_dir", "")), flow_started=result.get("_flow_started")
                )
            elif message:
                history.finish(run_id, "failed", message[1])
            else:
                history.finish(run_id, "failed", f"the run process ended with exit code {proc.exitcode}")
            return run_id
    finally:
        if own:
            history.close()


def _kill(proc) -> None:
    if proc.is_alive():
        proc.terminate()
        proc.join(5)
    if proc.is_alive():
        proc.kill()
        proc.join()


def _wait(proc, conn, limit: float):
    """The child's message, None if it died without one, "timeout", or "stopping" when the
    scheduler is stopping. Reads while waiting, so a large result cannot fill the pipe and
    block the child."""
    deadline = time.monotonic() + limit
    while True:
        if STOPPING.is_set():
            return "stopping"
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return "timeout"
        if conn.poll(min(remaining, 0.25)):
            try:
                message = conn.recv()
            except EOFError:
                message = None
            proc.join(10)
            return message
        if not proc.is_alive():
            return conn.recv() if conn.poll(0) else None


def _noop() -> None:
    pass


def warm() -> None:
    """Start the preloaded fork server now (a few seconds of imports), not when the first run is due."""
    p = _CTX.Process(target=_noop)
    p.start()
    p.join()


def _child_main(payload, conn) -> None:
    from .child import run

    run(payload, conn)


def _context():
    try:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["multimodal_crew.schedule.child"])
        return ctx
    except ValueError:  # no forkserver on this platform
        return multiprocessing.get_context("spawn")


_CTX = _context()


def scheduled_job(name: str, fingerprint: str = "") -> None:
    """The function APScheduler stores (by reference) and calls: reads the entry fresh from YAML."""
    from .service import current_entries

    due = DUE.pop(name, None)
    entry = current_entries().get(name)
    if entry is None:  # removed from the YAML since the job was stored
        return
    run_entry(entry, trigger="schedule", due=due)
