"""The body of one scheduled run, executed in a process forked from a preloaded server.

The scheduler starts runs through a multiprocessing *forkserver* that has
already imported CrewAI and this package (``server.py``), so a run starts in
milliseconds instead of the seconds a fresh interpreter needs, while each run
still gets a process of its own: fresh Flow state, and a hard stop when it overruns.

The run process owns its run: it holds the entry's lock (a file lock, or with a shared
database a PostgreSQL advisory lock) for exactly as long as it lives, writes its own
history row (start, end, output folder; on a shared history it renews the row's lease
every few seconds), enforces its own ``max_runtime``, and never outlives the process
that started it. A watchdog thread
waits on a pipe whose only writer is that process: a "stop" message or the pipe's
end (the starter died, even by ``kill -9``), SIGTERM/SIGINT, or the time limit make
it remove this run's staging folders, close the row and exit. On Linux the run also
gets SIGKILL when the fork server dies (``PR_SET_PDEATHSIG``), and the server dies
shortly after the process that started it: the hard stop when Python cannot act.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

# imported here so the forkserver preloads them: every run then starts with them in memory
import crewai  # noqa: F401

from .. import _offline  # noqa: F401
from ..locks import PidLock


def _preload() -> None:
    """Every step module (and ``MMCREW_EXTRA_STEPS``) imported, every YAML flow parsed and checked,
    once, before the first fork. A broken file is reported by the run that uses it, not here."""
    from ..flows import all_flows
    from ..steps import all_steps

    try:
        all_steps()
        all_flows()
    except Exception:  # noqa: BLE001
        pass
    try:  # what a run on a shared history uses (SQLAlchemy, psycopg), when installed
        import psycopg  # noqa: F401
        import sqlalchemy  # noqa: F401
    except ImportError:
        pass


_preload()

PR_SET_PDEATHSIG = 1


def die_with_server() -> None:
    """Linux: get SIGKILL when the fork server that forked this process dies. Called first thing
    after the fork; if the server already died before that, exit now."""
    server = sys.modules.get("multimodal_crew.schedule.server")
    if server is None or server.PID == os.getpid() or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            return
    except (OSError, AttributeError):
        return
    if os.getppid() != server.PID:  # the server died between our fork and the prctl
        os._exit(1)


class _Watch:
    """Ends the run from outside the flow: stop message, starter gone, signal, or time limit."""

    def __init__(self, ctl, limit: float, outputs: Path):
        self.ctl, self.limit, self.outputs = ctl, limit, outputs
        self.lock = threading.Lock()  # held while the row is written, by the run or by the watch
        self.closed = False
        self.history = None
        self.run_id: int | None = None
        self._sig_r, self._sig_w = os.pipe()
        os.set_blocking(self._sig_w, False)

    def start(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        signal.set_wakeup_fd(self._sig_w, warn_on_full_buffer=False)  # wakes the watch even when the
        threading.Thread(target=self._run, name="mmcrew-run-watch", daemon=True).start()  # flow is in C code

    def _on_signal(self, signum, frame) -> None:
        try:
            os.write(self._sig_w, bytes([signum]))
        except OSError:
            pass

    def _reason(self) -> tuple[str, str]:
        deadline = time.monotonic() + self.limit
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "timeout", f"stopped after max_runtime {self.limit:g} s"
            ready = wait([self.ctl, self._sig_r], remaining)
            if self._sig_r in ready:
                signum = os.read(self._sig_r, 64)[:1]
                name = signal.Signals(signum[0]).name if signum else "a signal"
                return "interrupted", f"the run process got {name}"
            if self.ctl in ready:
                try:
                    message = self.ctl.recv()
                except (EOFError, OSError):
                    return "interrupted", "the process that started the run ended during the run"
                if message == "stop":
                    return "interrupted", "the scheduler stopped during the run"

    def _run(self) -> None:
        status, why = self._reason()
        with self.lock:
            if self.closed:  # the run is recording its own end; it exits right after
                return
            self.closed = True
            try:
                from ..procs import remove_own_staging

                remove_own_staging(self.outputs)
                if self.history is not None and self.run_id is not None:
                    self.history.finish(self.run_id, status, why)
            finally:
                os._exit(3 if status == "timeout" else 2)


def _run_lock(payload: dict[str, Any]):
    """The entry's one-run-at-a-time lock: an ``fcntl`` lock on a local file, or with a shared history
    a PostgreSQL advisory lock ``schedule-run:<entry>`` (the server lets go when this process dies)."""
    if payload.get("database_url"):
        from ..db import SharedLock

        machine = payload.get("machine") or "?"
        from .history import lock_name

        name = lock_name(payload.get("namespace", "main"), f"schedule-run:{payload['name']}")
        return SharedLock(payload["database_url"], name, f"{machine} pid {os.getpid()}")
    return PidLock(payload["lock"])


def _renew(history, watch: _Watch, every: float) -> None:
    """Renew the run's lease (shared history) until its row is closed; a database that is down for a
    while is retried (the lease lapses if it stays down longer than ``history.LEASE``)."""
    while True:
        time.sleep(every)
        if watch.closed:
            return
        try:
            if not history.heartbeat(watch.run_id):
                return
        except Exception:  # noqa: BLE001 - the next renewal tries again
            pass


def run(payload: dict[str, Any], conn, ctl) -> None:
    """Run one entry: send ("busy", holder) if another run of it holds its lock, else ("started", run_id);
    the row in the history says how it ended."""
    os.environ.clear()
    os.environ.update(payload["env"])  # the scheduler's environment now, not the forkserver's at start-up
    from ..flows import run_flow
    from ..models.runtime import reset_runtime
    from ..procs import identity
    from ..settings import get_settings
    from .history import HEARTBEAT, History

    watch = _Watch(ctl, payload["max_runtime"], get_settings(refresh=True).outputs_path)
    watch.start()
    lock = _run_lock(payload)  # held by this process until it exits, however it exits
    if not lock.acquire():
        _send(conn, ("busy", lock.holder))
        return
    history = History(
        Path(payload["history"]),
        database_url=payload.get("database_url", ""),
        machine=payload.get("machine"),
        namespace=payload.get("namespace", "main"),
    )
    with watch.lock:
        if watch.closed:
            return
        watch.history = history
        watch.run_id = history.start(
            payload["name"],
            payload["flow"],
            payload["trigger"],
            payload["due"],
            pid=os.getpid(),
            pid_ident=identity(os.getpid()),
        )
    if history.shared:
        threading.Thread(target=_renew, args=(history, watch, HEARTBEAT), name="mmcrew-run-lease", daemon=True).start()
    _send(conn, ("started", watch.run_id))
    reset_runtime()
    started = time.time()
    status, error, output_dir = "ok", "", ""
    try:
        result = run_flow(payload["flow"], payload["inputs"])  # a RunResult
        status, error, output_dir = result.status, result.reason, result.output_dir or ""
    except BaseException as e:  # noqa: BLE001 - recorded in the history; the scheduler goes on
        status, error = "failed", f"{type(e).__name__}: {e}"
    with watch.lock:
        watch.closed = True
        history.finish(watch.run_id, status, error, output_dir=output_dir, flow_started=started)
    _send(conn, ("done", status))


def _send(conn, message) -> None:
    try:
        conn.send(message)
    except OSError:  # the starter is gone: the watch ends the run (or it has ended)
        pass
