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

A ``Scheduler`` owns all of its state (its runs in progress, whether it is stopping, the
entries last read); it starts runs through ``runner`` and ``runner`` never imports this module.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from ..errors import UserError
from ..locks import PidLock
from ..procs import clean_all_stale_staging
from ..settings import Settings, get_settings
from . import runner
from .config import ScheduleEntry, load_schedules
from .history import History

__all__ = ["Scheduler", "SchedulerBusyError", "current_entries", "schedules_path", "SKIP_GRACE"]

SKIP_GRACE = 30  # seconds of lateness still run under the `skip` policy
JOB_FUNC = "multimodal_crew.schedule.runner:scheduled_job"


class SchedulerBusyError(UserError):
    """Another scheduler already runs on this state folder."""


def schedules_path(settings: Settings | None = None) -> Path:
    return (settings or get_settings()).config_path / "schedules.yaml"


def current_entries(settings: Settings | None = None) -> dict[str, ScheduleEntry]:
    """The entries of schedules.yaml, checked, by name."""
    return {e.name: e for e in load_schedules(schedules_path(settings))}


class _Job:
    """A job as APScheduler's ``run_job`` sees it, with its scheduler (``owner``) and the time the run
    was due added to the stored arguments of ``runner.scheduled_job``."""

    def __init__(self, job, **extra: Any):
        self._job = job
        self.kwargs = {**job.kwargs, **extra}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._job, name)

    def __str__(self) -> str:
        return str(self._job)


class _Executor(ThreadPoolExecutor):
    """Hands each run to the scheduler that owns this executor, with the time it was due (for its
    history row and the overhead bench)."""

    def __init__(self, owner: Scheduler, max_workers: int):
        super().__init__(max_workers=max_workers)
        self.owner = owner

    def _do_submit_job(self, job, run_times):
        if self.owner.runs.stopping.is_set():
            return  # a run due while the scheduler stops is not started (nor half-started)
        try:
            super()._do_submit_job(_Job(job, owner=self.owner, due=run_times[-1].timestamp()), run_times)
        except RuntimeError:  # the pool shut down between the check and the submit (Ctrl-C)
            if not self.owner.runs.stopping.is_set():
                raise


class Scheduler:
    def __init__(self, path: Path | None = None, settings: Settings | None = None):
        self.settings = settings or get_settings()
        self.path = Path(path) if path else schedules_path(self.settings)
        self.dir = runner.schedule_dir(self.settings)
        self.runs = runner.Runs()  # the runs in progress, and whether this scheduler is stopping
        self._lock = PidLock(self.dir / "scheduler.lock")
        self._sched: BackgroundScheduler | None = None
        self._stop = threading.Event()
        self._entries: tuple[Any, dict[str, ScheduleEntry]] = (None, {})  # (file's mtime, entries)
        self._entries_lock = threading.Lock()
        self.history: History | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def _acquire(self) -> None:
        if not self._lock.acquire():
            raise SchedulerBusyError(
                f"another scheduler (pid {self._lock.holder}) is already running on {self.dir.parent}; "
                "stop it first or use another MMCREW_HOME"
            )

    def start(self) -> list[ScheduleEntry]:
        """Start in the background; return the enabled entries. Call ``stop()`` to end."""
        entries = load_schedules(self.path)  # invalid entries: reported before anything runs
        self._acquire()
        try:
            self.history = History(self.dir / "history.sqlite")
            self.history.mark_interrupted()
            clean_all_stale_staging(self.settings.outputs_path)
            enabled = [e for e in entries if e.enabled]
            self._sched = BackgroundScheduler(
                jobstores={"default": SQLAlchemyJobStore(url=f"sqlite:///{self.dir / 'jobs.sqlite'}")},
                executors={"default": _Executor(self, max_workers=max(4, len(enabled)))},
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

    def entries(self) -> dict[str, ScheduleEntry]:
        """The entries of this scheduler's schedules.yaml, re-read when the file changes."""
        key = self.path.stat().st_mtime_ns if self.path.exists() else None
        with self._entries_lock:
            if self._entries[0] != key or key is None:
                self._entries = (key, {e.name: e for e in load_schedules(self.path)})
            return dict(self._entries[1])

    def _entry(self, job_id: str) -> ScheduleEntry | None:
        try:
            return self.entries().get(job_id)
        except Exception:
            return None

    def run_scheduled(self, name: str, due: float | None) -> None:
        """Run entry ``name`` as the schedule says (called by ``runner.scheduled_job`` in an executor thread)."""
        entry = self.entries().get(name)  # an invalid YAML raises: APScheduler logs it as the job's error
        if entry is None:  # removed from the YAML since the job was stored
            return
        runner.run_entry(entry, trigger="schedule", due=due, runs=self.runs, settings=self.settings)

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
        self.runs.stopping.set()
        try:
            self.runs.stop_all()
            if self._sched is not None and self._sched.running:
                self._sched.shutdown(wait=True)
        finally:
            self.runs.stopping.clear()
            if self.history:
                self.history.close()
                self.history = None
            self._lock.release()
            self._stop.set()
