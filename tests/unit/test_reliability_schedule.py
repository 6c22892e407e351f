"""Scheduler reliability: a killed or stopped scheduler leaves no run behind.

Real processes, real signals, real SQLite: the scheduler runs as `mmcrew schedule
start` in its own session, its runs are forked processes, and the tests kill them
with SIGKILL or SIGINT. A run is "gone" when its process no longer exists or is a
zombie (ended, waiting to be reaped).
"""

import os
import signal
import subprocess
import sys
import threading
import time
from itertools import pairwise
from pathlib import Path

import pytest
import yaml

from multimodal_crew.schedule.config import ScheduleEntry
from multimodal_crew.schedule.history import History
from multimodal_crew.schedule.runner import run_entry, schedule_dir
from multimodal_crew.schedule.service import Scheduler

MMCREW = str(Path(sys.executable).parent / "mmcrew")

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
    pytest.mark.usefixtures("sched_config"),  # tests/conftest.py: ping, boom and freeze
]


def write_schedules(config: Path, entries: list[dict]) -> None:
    (config / "schedules.yaml").write_text(yaml.safe_dump({"schedules": entries}))


def runs(name: str):
    h = History(schedule_dir() / "history.sqlite")
    try:
        return h.runs(name, limit=500)
    finally:
        h.close()


def wait_for(predicate, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def running(name: str):
    return next((r for r in runs(name) if r.status == "running"), None)


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in (b"Z", b"X")


def staging(home: Path, flow: str = "ping") -> list[Path]:
    """Staging folders and their owner files."""
    return sorted((home / "outputs" / flow).glob(".staging-*"))


def staging_dirs(home: Path, flow: str = "ping") -> list[Path]:
    return [p for p in staging(home, flow) if p.is_dir()]


def lock_holders(path: Path) -> set[int]:
    """Pids holding a flock on ``path``, from /proc/locks."""
    inode = os.stat(path).st_ino
    pids = set()
    for line in Path("/proc/locks").read_text().splitlines():
        parts = line.split()
        if "FLOCK" in parts and parts[-3].rsplit(":", 1)[-1] == str(inode) and "->" not in parts:
            pids.add(int(parts[-4]))
    return pids


def start_scheduler() -> subprocess.Popen:
    return subprocess.Popen(
        [MMCREW, "schedule", "start"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
        start_new_session=True,  # its own process group: the scheduler, its fork server and its runs
        # as in a terminal (a suite started in the background inherits SIGINT ignored)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate(timeout=30)


def no_overlap(rows) -> None:
    done = sorted((r for r in rows if r.status not in ("skipped", "missed")), key=lambda r: r.started)
    assert all(r.ended is not None for r in done), [(r.id, r.status) for r in done]
    for a, b in pairwise(done):
        assert a.ended <= b.started, f"runs {a.id} ({a.status}) and {b.id} ({b.status}) overlap"


SLOW = {"name": "slow", "flow": "ping", "interval": 1, "misfire": "skip", "inputs": {"seconds": 6}}


def test_kill_9_on_the_scheduler_takes_its_run_with_it_and_a_restart_runs_nothing_twice(sched_config, state_home):
    write_schedules(sched_config, [SLOW])
    sched = start_scheduler()
    try:
        assert wait_for(lambda: running("slow")), "the run never started"
        old = running("slow")
        sched.send_signal(signal.SIGKILL)
        sched.wait(10)
        assert wait_for(lambda: gone(old.pid), 5), "the run outlived its scheduler"
    finally:
        kill_group(sched)

    s = Scheduler()  # the restart: its catch-up run may not start while the old one still runs
    s.start()
    try:
        assert wait_for(lambda: any(r.status == "ok" for r in runs("slow")))
    finally:
        s.stop()
    rows = runs("slow")
    first = next(r for r in rows if r.id == old.id)
    assert first.status == "interrupted" and first.ended is not None, first
    no_overlap(rows)
    assert not staging(state_home)


def test_kill_9_on_schedule_run_takes_its_run_with_it(sched_config, state_home):
    write_schedules(sched_config, [SLOW])
    cli = subprocess.Popen([MMCREW, "schedule", "run", "slow"], env=dict(os.environ), start_new_session=True)
    try:
        assert wait_for(lambda: running("slow") and staging(state_home)), "the run never started"
        pid = running("slow").pid
        cli.send_signal(signal.SIGKILL)
        assert wait_for(lambda: gone(pid), 5), "the run outlived the command that started it"
    finally:
        kill_group(cli)
    run = runs("slow")[0]
    assert run.status == "interrupted" and run.ended and "started the run ended" in run.error
    assert not staging(state_home)


def test_a_run_that_cannot_act_is_still_killed_with_its_scheduler(sched_config, state_home):
    write_schedules(sched_config, [{"name": "frozen", "flow": "freeze", "interval": 1}])
    sched = start_scheduler()
    try:
        assert wait_for(lambda: running("frozen")), "the run never started"
        frozen = running("frozen")
        pid = frozen.pid
        assert wait_for(lambda: Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0] == b"T", 10)
        sched.send_signal(signal.SIGKILL)  # the stopped run cannot notice; its fork server kills it
        assert wait_for(lambda: gone(pid), 10), "the run outlived its scheduler"
    finally:
        kill_group(sched)
    write_schedules(sched_config, [])
    s = Scheduler()
    s.start()
    s.stop()
    row = next(r for r in runs("frozen") if r.id == frozen.id)  # later rows: runs skipped while it was frozen
    assert row.status == "interrupted" and row.ended


def test_the_run_process_holds_its_entrys_lock(state_home):
    entry = ScheduleEntry(name="held", flow="ping", interval=60, inputs={"seconds": 3})
    t = threading.Thread(target=run_entry, args=(entry,))
    t.start()
    try:
        assert wait_for(lambda: running("held") and staging_dirs(state_home)), "the run never started"
        # the process doing the work, not the one that started it: held exactly as long as the run lives
        assert lock_holders(schedule_dir() / "locks" / "held.lock") == {running("held").pid}
    finally:
        t.join(60)
    assert runs("held")[0].status == "ok" and not lock_holders(schedule_dir() / "locks" / "held.lock")


def test_a_restart_closes_the_row_and_removes_the_staging_folder_of_a_run_killed_with_it(sched_config, state_home):
    write_schedules(sched_config, [SLOW])
    sched = start_scheduler()
    try:
        assert wait_for(lambda: running("slow") and staging(state_home)), "the run never started"
        old = running("slow")
        os.killpg(sched.pid, signal.SIGKILL)  # the scheduler, its fork server and the run, all at once
        assert wait_for(lambda: gone(old.pid), 5)
    finally:
        kill_group(sched)
    assert running("slow") is not None and staging(state_home)  # nobody was left to clean up

    write_schedules(sched_config, [])
    s = Scheduler()
    s.start()
    s.stop()
    first = next(r for r in runs("slow") if r.id == old.id)
    assert first.status == "interrupted" and first.ended is not None, first
    assert not staging(state_home)


@pytest.mark.parametrize("who", ["scheduler", "process group"])
def test_ctrl_c_on_the_scheduler_leaves_no_staging_folder(sched_config, state_home, who):
    write_schedules(sched_config, [{**SLOW, "inputs": {"seconds": 60}}])
    sched = start_scheduler()
    try:
        assert wait_for(lambda: running("slow") and staging(state_home)), "the run never started"
        pid = running("slow").pid
        if who == "scheduler":
            sched.send_signal(signal.SIGINT)
        else:  # Ctrl-C in a terminal: every process in the foreground group gets it
            os.killpg(sched.pid, signal.SIGINT)
        _, err = sched.communicate(timeout=90)
    finally:
        if sched.poll() is None:
            kill_group(sched)
    assert sched.returncode == 0, err
    assert "Traceback" not in err
    assert wait_for(lambda: gone(pid), 5)
    assert [r.status for r in runs("slow")][-1:] == ["interrupted"] and runs("slow")[0].ended
    assert not staging(state_home)


def test_a_run_stopped_at_max_runtime_leaves_no_staging_folder(state_home):
    run_entry(ScheduleEntry(name="slow", flow="ping", interval=60, inputs={"seconds": 60}, max_runtime=3))
    assert runs("slow")[0].status == "timeout"
    assert not staging(state_home)


def test_the_next_run_removes_a_killed_runs_staging_folder_but_not_a_live_ones(state_home):
    def start(name: str, seconds: float) -> threading.Thread:
        t = threading.Thread(
            target=run_entry, args=(ScheduleEntry(name=name, flow="ping", interval=60, inputs={"seconds": seconds}),)
        )
        t.start()
        return t

    live = start("live", 30)  # long enough to outlive the steps below on a loaded machine
    assert wait_for(lambda: running("live") and staging_dirs(state_home)), "the live run never started"
    [mine] = staging_dirs(state_home)
    killed = start("killed", 60)
    assert wait_for(lambda: running("killed") and len(staging_dirs(state_home)) == 2), "the run never started"
    os.kill(running("killed").pid, signal.SIGKILL)  # no chance to clean up (OOM killer, kill -9)
    killed.join(30)
    run = runs("killed")[0]
    assert run.status == "failed" and "exit code -9" in run.error and run.ended
    [left] = [p for p in staging_dirs(state_home) if p != mine]

    run_entry(ScheduleEntry(name="next", flow="ping", interval=60))
    assert runs("next")[0].status == "ok"
    assert not left.exists() and mine.is_dir()  # the killed run's folder is gone, the live one's is not
    assert running("live") is not None, "the live run ended too early for this test to mean anything"
    live.join(60)
    assert runs("live")[0].status == "ok" and not staging(state_home)


def test_a_row_whose_pid_now_belongs_to_another_process_is_marked_interrupted(sched_config, state_home):
    from multimodal_crew.procs import identity

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        h = History(schedule_dir() / "history.sqlite")
        reused = h.start("a", "ping", "schedule", None)
        h.set_pid(reused, other.pid, f"{identity(other.pid).split(':')[0]}:1")  # same pid, another start time
        live = h.start("b", "ping", "schedule", None)
        h.set_pid(live, other.pid, identity(other.pid))
        h.close()
        write_schedules(sched_config, [])
        s = Scheduler()
        s.start()
        s.stop()
        assert (runs("a")[0].status, bool(runs("a")[0].ended)) == ("interrupted", True)
        assert runs("b")[0].status == "running"
    finally:
        other.kill()
        other.wait()


def test_a_history_written_by_the_previous_version_is_upgraded(state_home):
    import sqlite3

    path = schedule_dir() / "history.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, flow TEXT NOT NULL,"
        " trigger TEXT NOT NULL, scheduled_for REAL, started REAL, ended REAL, status TEXT NOT NULL,"
        " error TEXT NOT NULL DEFAULT '', output_dir TEXT NOT NULL DEFAULT '', pid INTEGER, flow_started REAL);"
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO meta VALUES ('schema', 'mmcrew-history-1');"
        "INSERT INTO runs(name, flow, trigger, started, status, pid) VALUES ('old', 'ping', 'manual', 1, 'ok', 1);"
    )
    db.commit()
    db.close()
    run_entry(ScheduleEntry(name="new", flow="ping", interval=60))
    assert runs("old")[0].status == "ok" and runs("old")[0].pid_ident == ""
    new = runs("new")[0]
    assert new.status == "ok" and new.pid_ident
