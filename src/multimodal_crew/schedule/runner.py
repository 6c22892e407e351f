"""One run of one schedule entry: a fresh process, a time limit, a history row.

Each run is a child process (``python -m multimodal_crew.schedule.child``): a
fresh Flow instance by construction (no state carried between runs, crewAI
#6639), and a run past ``max_runtime`` can be stopped for real. A per-entry
file lock keeps two runs of one entry from overlapping, whoever starts them.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from ..settings import get_settings
from .config import ScheduleEntry
from .history import History

__all__ = ["run_entry", "schedule_dir", "DUE"]

# job id -> the time the run was due; filled by the scheduler's executor just before it starts the job
DUE: dict[str, float] = {}
# child processes of runs in progress, and whether the scheduler is stopping (their end is then 'interrupted')
RUNNING: dict[int, subprocess.Popen] = {}
STOPPING = threading.Event()


def stop_all() -> None:
    """Stop every run in progress (scheduler shutdown)."""
    for proc in list(RUNNING.values()):
        _kill(proc)


def schedule_dir() -> Path:
    path = get_settings().home_path / "schedule"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def run_entry(entry: ScheduleEntry, *, trigger: str = "manual", due: float | None = None,
              history: History | None = None) -> int:
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
                return history.start(entry.name, entry.flow, trigger, due, status="skipped",
                                     error="the previous run of this entry is still going")
            run_id = history.start(entry.name, entry.flow, trigger, due)
            payload = json.dumps({"flow": entry.flow, "inputs": {**config_defaults(entry.flow), **entry.inputs},
                                  "run_id": run_id, "due": due})
            proc = subprocess.Popen(
                [sys.executable, "-m", "multimodal_crew.schedule.child", payload],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
            )
            history.set_pid(run_id, proc.pid)
            RUNNING[run_id] = proc
            try:
                out, err = proc.communicate(timeout=entry.max_runtime)
            except subprocess.TimeoutExpired:
                _kill(proc)
                history.finish(run_id, "timeout", f"stopped after max_runtime {entry.max_runtime:g} s")
                return run_id
            except BaseException:  # Ctrl-C or scheduler shutdown: stop the child, keep the record true
                _kill(proc)
                history.finish(run_id, "interrupted", "the scheduler stopped during the run")
                raise
            finally:
                RUNNING.pop(run_id, None)
            if STOPPING.is_set() and proc.returncode != 0:
                history.finish(run_id, "interrupted", "the scheduler stopped during the run")
            elif proc.returncode == 0:
                try:
                    result = json.loads(_last_line(out))
                except json.JSONDecodeError:
                    result = {}
                history.finish(run_id, "ok", output_dir=str(result.get("output_dir", "")),
                               flow_started=result.get("_flow_started"))
            else:
                history.finish(run_id, "failed", _last_line(err) or f"exit code {proc.returncode}")
            return run_id
    finally:
        if own:
            history.close()


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def scheduled_job(name: str, fingerprint: str = "") -> None:
    """The function APScheduler stores (by reference) and calls: reads the entry fresh from YAML."""
    from .service import current_entries

    due = DUE.pop(name, None)
    entry = current_entries().get(name)
    if entry is None:  # removed from the YAML since the job was stored
        return
    run_entry(entry, trigger="schedule", due=due)
