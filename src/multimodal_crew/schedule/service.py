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

With a shared database (``MMCREW_DATABASE_URL``) several schedulers, one per machine
(``MMCREW_MACHINE``), schedule the same entries and each due time runs once:

* APScheduler 3 cannot share a job store between schedulers, so each machine keeps its
  own, a table ``jobs_<machine>`` in the ``mmcrew_<namespace>_schedule`` schema; the lock is the
  advisory lock ``<namespace>:scheduler:<machine>`` (one scheduler per machine name), released by
  the server when the process dies.
* Interval entries count from a fixed point (``config.GRID_START``), so every machine
  computes the same due times; before running, missing or skipping a due time a
  scheduler claims ``(entry, due time)`` (``History.claim``). The loser does nothing and
  records nothing: every due time has exactly one row, written by whoever claimed it.
* A run's lock is the advisory lock ``schedule-run:<entry>`` (one run of an entry at a
  time across machines); its row holds a lease, and every scheduler closes the rows
  whose lease expired (``History.mark_interrupted``) at start and every ``SWEEP`` seconds.

A ``Scheduler`` owns all of its state (its runs in progress, whether it is stopping, the
entries last read); it starts runs through ``runner`` and ``runner`` never imports this module.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from ..errors import UserError
from ..hashing import short_hash
from ..locks import PidLock
from ..procs import clean_all_stale_staging
from ..settings import Settings, get_settings
from . import runner
from .config import ScheduleEntry, load_schedules
from .history import History, lock_name

__all__ = ["Scheduler", "SchedulerBusyError", "current_entries", "schedules_path", "jobs_table", "SKIP_GRACE"]

SKIP_GRACE = 30  # seconds of lateness still run under the `skip` policy
SWEEP = 10.0  # seconds between two looks for expired leases (shared database)
JOBSTORE_RETRY = 1.0  # seconds before APScheduler asks a job store that failed again (its default: 10)
JOB_FUNC = "multimodal_crew.schedule.runner:scheduled_job"


def jobs_table(machine: str) -> str:
    """The job store table of one machine in the shared database (names differ per machine name)."""
    slug = re.sub(r"[^a-z0-9_]+", "_", machine.lower()).strip("_")[:40]
    return f"jobs_{slug}_{short_hash(machine, 6)}"


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
        self.shared = self.settings.shared_database
        self.machine = self.settings.machine_name
        self.claims = self.shared  # claim each due time before running it (tests turn it on for SQLite)
        if self.shared:
            from ..db import SharedLock

            self._lock: Any = SharedLock(
                self.settings.database_url,
                lock_name(self.settings.namespace, f"scheduler:{self.machine}"),
                f"{self.machine} pid {os.getpid()}",
            )
        else:
            self._lock = PidLock(self.dir / "scheduler.lock")
        self._sweeping = threading.Event()
        self._sweeper: threading.Thread | None = None
        self._sched: BackgroundScheduler | None = None
        self._stop = threading.Event()
        self._entries: tuple[Any, dict[str, ScheduleEntry]] = (None, {})  # (file's mtime, entries)
        self._entries_lock = threading.Lock()
        self.history: History | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def _acquire(self) -> None:
        if self._lock.acquire():
            return
        if self.shared:
            from ..db import safe_url

            raise SchedulerBusyError(
                f"another scheduler ({self._lock.holder}) is already running as machine {self.machine!r} on "
                f"{safe_url(self.settings.database_url)}; stop it first or set MMCREW_MACHINE to another name"
            )
        raise SchedulerBusyError(
            f"another scheduler (pid {self._lock.holder}) is already running on {self.dir.parent}; "
            "stop it first or use another MMCREW_HOME"
        )

    def start(self) -> list[ScheduleEntry]:
        """Start in the background; return the enabled entries. Call ``stop()`` to end."""
        entries = load_schedules(self.path)  # invalid entries: reported before anything runs
        self._acquire()
        try:
            self.history = History.of(self.settings)
            self.history.mark_interrupted()
            clean_all_stale_staging(self.settings.outputs_path)
            enabled = [e for e in entries if e.enabled]
            self._sched = BackgroundScheduler(
                jobstores={"default": self._jobstore()},
                executors={"default": _Executor(self, max_workers=max(4, len(enabled)))},
                job_defaults={"coalesce": True, "max_instances": 1},
                jobstore_retry_interval=JOBSTORE_RETRY,  # a database back after a restart: due times go on at once
                timezone="UTC",
            )
            self._sched.add_listener(self._on_missed, EVENT_JOB_MISSED)
            self._sched.add_listener(self._on_busy, EVENT_JOB_MAX_INSTANCES)
            if enabled:
                runner.warm()
            self._sched.start(paused=True)
            self._reconcile(enabled)
            self._sched.resume()
            if self.history.leased:
                self._sweeper = threading.Thread(target=self._sweep, name="mmcrew-lease-sweep", daemon=True)
                self._sweeper.start()
            return enabled
        except BaseException:
            self.stop()
            raise

    def _jobstore(self) -> SQLAlchemyJobStore:
        if self.shared:  # this machine's table in the shared database (the schema exists: History made it)
            from ..db import engine

            return SQLAlchemyJobStore(
                engine=engine(self.settings.database_url),
                tablename=jobs_table(self.machine),
                tableschema=self.history.schema,
            )
        return SQLAlchemyJobStore(url=f"sqlite:///{self.dir / 'jobs.sqlite'}")

    def _sweep(self) -> None:
        """Close the rows whose lease expired (a machine that died during a run) and forget old claims."""
        while not self._sweeping.wait(SWEEP):
            history = self.history
            if history is None:
                return
            try:
                history.mark_interrupted()
                history.prune_claims()
            except Exception:  # noqa: BLE001 - the database is down: the next sweep tries again
                pass

    def _reconcile(self, enabled: list[ScheduleEntry]) -> None:
        stored = {job.id: job for job in self._sched.get_jobs()}
        wanted = {e.name: e for e in enabled}
        for job_id in set(stored) - set(wanted):
            self._sched.remove_job(job_id)
        for name, entry in wanted.items():
            fp = entry.fingerprint() + ("-grid" if self.claims else "")  # anchored due times: another job
            job = stored.get(name)
            if job is not None and job.kwargs.get("fingerprint") == fp:
                continue  # unchanged: keep its next run time, so missed runs are seen
            self._sched.add_job(
                JOB_FUNC,
                trigger=entry.trigger(anchored=self.claims),
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
        if not self._claim(name, due):
            return  # another scheduler sharing the database took this due time: it runs and records it
        runner.run_entry(entry, trigger="schedule", due=due, runs=self.runs, settings=self.settings)

    def _claim(self, name: str, due: float | None) -> bool:
        """Whether this scheduler is the one to run (or record) ``name`` due at ``due``: always without
        claims; with them, the first scheduler to claim the due time."""
        history = self.history
        if not self.claims or due is None or history is None:
            return True
        return history.claim(name, due)

    def _on_missed(self, event) -> None:
        entry = self._entry(event.job_id)
        if entry and self.history and self._claim(entry.name, event.scheduled_run_time.timestamp()):
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
            if not self._claim(entry.name, due):
                return
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
            self._sweeping.set()
            if self._sweeper is not None:
                self._sweeper.join(5)
                self._sweeper = None
            self._sweeping.clear()
            if self.history:
                self.history.close()
                self.history = None
            self._lock.release()
            self._stop.set()
