"""The scheduler: APScheduler 3 with a SQLite job store, one instance per state folder.

* ``start()`` takes an exclusive lock on ``<state>/schedule/scheduler.lock``; a second
  scheduler on the same folder is refused with a clear message.
* Jobs live in ``<state>/schedule/jobs.sqlite``. On start the stored jobs are kept
  when their entry is unchanged (so what was missed while the scheduler was down is
  seen and handled by the entry's misfire policy), replaced when it changed, and
  removed when the entry is gone or disabled.
* On start, rows left ``running`` by a run process that is gone become ``interrupted``,
  and staging folders that no live process owns are removed.
* Misfire policy ``skip``: a run more than ``SKIP_GRACE`` seconds late is recorded as
  missed. ``run_once``: any number of missed runs become one catch-up run.
  Either way runs are coalesced and at most one instance of an entry runs at a time.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from ..errors import UserError
from ..settings import get_settings
from . import runner
from .config import ScheduleEntry, load_schedules
from .history import History
from .procs import clean_all_stale_staging

__all__ = ["Scheduler", "SchedulerBusyError", "current_entries", "schedules_path", "SKIP_GRACE"]

SKIP_GRACE = 30  # seconds of lateness still run under the `skip` policy
JOB_FUNC = "multimodal_crew.schedule.runner:scheduled_job"


class SchedulerBusyError(UserError):
    """Another scheduler already runs on this state folder."""


def schedules_path() -> Path:
    return get_settings().config_path / "schedules.yaml"


_ENTRY_CACHE: dict[str, object] = {"key": None, "entries": {}}


def current_entries() -> dict[str, ScheduleEntry]:
    """The entries of schedules.yaml, re-read when the file changes."""
    p = schedules_path()
    key = (str(p), p.stat().st_mtime_ns if p.exists() else None)
    if _ENTRY_CACHE["key"] != key:
        _ENTRY_CACHE["entries"] = {e.name: e for e in load_schedules(p)}
        _ENTRY_CACHE["key"] = key
    return dict(_ENTRY_CACHE["entries"])  # type: ignore[arg-type]


class _DueExecutor(ThreadPoolExecutor):
    """Remembers when each job was due, for the run's history row (and the overhead bench)."""

    def _do_submit_job(self, job, run_times):
        runner.DUE[job.id] = run_times[-1].timestamp()
        super()._do_submit_job(job, run_times)


class Scheduler:
    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else schedules_path()
        self.dir = runner.schedule_dir()
        self._lock_file = None
        self._sched: BackgroundScheduler | None = None
        self._stop = threading.Event()
        self.history: History | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def _acquire(self) -> None:
        f = open(self.dir / "scheduler.lock", "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            pid = f.read().strip() or "?"
            f.close()
            raise SchedulerBusyError(
                f"another scheduler (pid {pid}) is already running on {self.dir.parent}; stop it first "
                "or use another MMCREW_HOME"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._lock_file = f

    def start(self) -> list[ScheduleEntry]:
        """Start in the background; return the enabled entries. Call ``stop()`` to end."""
        entries = load_schedules(self.path)  # invalid entries: reported before anything runs
        self._acquire()
        try:
            self.history = History(self.dir / "history.sqlite")
            self.history.mark_interrupted()
            clean_all_stale_staging(get_settings().outputs_path)
            enabled = [e for e in entries if e.enabled]
            self._sched = BackgroundScheduler(
                jobstores={"default": SQLAlchemyJobStore(url=f"sqlite:///{self.dir / 'jobs.sqlite'}")},
                executors={"default": _DueExecutor(max_workers=max(4, len(enabled)))},
                job_defaults={"coalesce": True, "max_instances": 1},
                timezone="UTC",
            )
            self._sched.add_listener(self._on_missed, EVENT_JOB_MISSED)
            self._sched.add_listener(self._on_busy, EVENT_JOB_MAX_INSTANCES)
            if enabled:
                runner.warm()
            self._sched.start(paused=True)
            self._reconcile(enabled)
            self._sched.resume()
            return enabled
        except BaseException:
            self.stop()
            raise

    def _reconcile(self, enabled: list[ScheduleEntry]) -> None:
        stored = {job.id: job for job in self._sched.get_jobs()}
        wanted = {e.name: e for e in enabled}
        for job_id in set(stored) - set(wanted):
            self._sched.remove_job(job_id)
        for name, entry in wanted.items():
            fp = entry.fingerprint()
            job = stored.get(name)
            if job is not None and job.kwargs.get("fingerprint") == fp:
                continue  # unchanged: keep its next run time, so missed runs are seen
            self._sched.add_job(
                JOB_FUNC,
                trigger=entry.trigger(),
                id=name,
                name=name,
                kwargs={"name": name, "fingerprint": fp},
                misfire_grace_time=None if entry.misfire == "run_once" else SKIP_GRACE,
                coalesce=True,
                max_instances=1,
                replace_existing=True,
            )

    def _entry(self, job_id: str) -> ScheduleEntry | None:
        try:
            return current_entries().get(job_id)
        except Exception:
            return None

    def _on_missed(self, event) -> None:
        entry = self._entry(event.job_id)
        if entry and self.history:
            self.history.start(
                entry.name,
                entry.flow,
                "schedule",
                event.scheduled_run_time.timestamp(),
                status="missed",
                error="due while the scheduler was not running (misfire: skip; backlog coalesced)",
            )

    def _on_busy(self, event) -> None:
        entry = self._entry(event.job_id)
        if entry and self.history:
            due = event.scheduled_run_times[-1].timestamp() if event.scheduled_run_times else None
            self.history.start(
                entry.name,
                entry.flow,
                "schedule",
                due,
                status="skipped",
                error="the previous run of this entry is still going",
            )

    def next_runs(self) -> dict[str, object]:
        return {job.id: job.next_run_time for job in self._sched.get_jobs()} if self._sched else {}

    def wait(self, timeout: float | None = None) -> bool:
        return self._stop.wait(timeout)

    def request_stop(self) -> None:
        self._stop.set()

    def stop(self) -> None:
        runner.STOPPING.set()
        try:
            runner.stop_all()
            if self._sched is not None and self._sched.running:
                self._sched.shutdown(wait=True)
        finally:
            runner.STOPPING.clear()
            if self.history:
                self.history.close()
                self.history = None
            if self._lock_file:
                self._lock_file.close()
                self._lock_file = None
            self._stop.set()
