"""Scheduler: config checks, history, timeouts, overlaps, restarts and misfires.

No test waits on the clock for a schedule: missed runs are made by moving a
stored job's next run time into the past, then starting the scheduler again.
Each run is a real child process (about 2-3 s to import CrewAI).
"""

import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from multimodal_crew.schedule.config import ScheduleConfigError, ScheduleEntry, load_schedules
from multimodal_crew.schedule.history import History, HistoryCorruptError
from multimodal_crew.schedule.runner import run_entry, schedule_dir
from multimodal_crew.schedule.service import Scheduler, SchedulerBusyError

pytestmark = pytest.mark.usefixtures("sched_config")  # tests/conftest.py: ping, boom and freeze


def write_schedules(config: Path, entries: list[dict]) -> Path:
    path = config / "schedules.yaml"
    path.write_text(yaml.safe_dump({"schedules": entries}))
    return path


def history() -> History:
    return History(schedule_dir() / "history.sqlite")


def test_invalid_entries_are_all_reported_with_name_and_reason(sched_config):
    path = write_schedules(
        sched_config,
        [
            {"name": "a", "flow": "ping", "cron": "61 * * * *"},
            {"name": "b", "flow": "ping", "cron": "0 7 * * * *"},
            {"name": "c", "flow": "nosuch", "interval": 60},
            {"name": "d", "flow": "ping", "interval": 60, "inputs": {"colour": "red"}},
            {"name": "e", "flow": "ping", "interval": 60},
            {"name": "e", "flow": "ping", "interval": 30},
            {"name": "f", "flow": "ping", "interval": 60, "timezone": "Mars/Olympus"},
            {"name": "g", "flow": "ping", "interval": 60, "cron": "* * * * *"},
            {"name": "h", "flow": "ping", "interval": "soon"},
        ],
    )
    with pytest.raises(ScheduleConfigError) as info:
        load_schedules(path)
    problems = info.value.problems
    assert len(problems) == 8
    text = "\n".join(problems)
    for needle in [
        "'a'",
        "'b'): cron '0 7 * * * *' must have 5 fields",
        "unknown flow 'nosuch'",
        "has no input 'colour'",
        "duplicate name 'e'",
        "unknown time zone 'Mars/Olympus'",
        "exactly one of cron or interval",
        "'soon'",
    ]:
        assert needle in text, (needle, text)


def test_manual_run_is_recorded_with_its_output_folder(state_home):
    entry = ScheduleEntry(name="hb", flow="ping", interval=60, inputs={"message": "hello"})
    run_id = run_entry(entry)
    run = history().runs("hb")[0]
    assert (run.id, run.status, run.trigger) == (run_id, "ok", "manual")
    assert (Path(run.output_dir) / "ping.json").read_text().count("hello") == 1
    assert run.started <= run.flow_started <= run.ended


def test_each_run_has_its_own_output_folder(state_home):
    entry = ScheduleEntry(name="hb", flow="ping", interval=60)
    run_entry(entry)
    run_entry(entry)
    a, b = history().runs("hb")
    assert a.output_dir != b.output_dir and Path(a.output_dir).is_dir() and Path(b.output_dir).is_dir()


def test_a_run_that_raises_is_recorded_as_failed(state_home):
    run_entry(ScheduleEntry(name="bad", flow="boom", interval=60))
    run = history().runs("bad")[0]
    assert run.status == "failed" and "failed on purpose" in run.error


def test_a_run_past_its_max_runtime_is_stopped(state_home):
    entry = ScheduleEntry(name="slow", flow="ping", interval=60, inputs={"seconds": 60}, max_runtime=4)
    t0 = time.monotonic()
    run_entry(entry)
    assert time.monotonic() - t0 < 15
    run = history().runs("slow")[0]
    assert run.status == "timeout" and "max_runtime 4 s" in run.error
    assert not (state_home / "outputs" / "ping").exists() or not any(
        p.name.startswith("2") for p in (state_home / "outputs" / "ping").iterdir()
    )


def test_two_runs_of_one_entry_never_overlap(state_home):
    entry = ScheduleEntry(name="long", flow="ping", interval=60, inputs={"seconds": 4})
    first = threading.Thread(target=run_entry, args=(entry,))
    first.start()
    deadline = time.monotonic() + 60  # the fork server's first start is slow on a busy machine
    while time.monotonic() < deadline and not [r for r in history().runs("long") if r.status == "running"]:
        time.sleep(0.1)
    assert [r for r in history().runs("long") if r.status == "running"], "the first run never started"
    run_entry(entry)  # while the first is still going
    first.join()
    statuses = sorted(r.status for r in history().runs("long"))
    assert statuses == ["ok", "skipped"]


def test_second_scheduler_on_the_same_state_folder_is_refused(sched_config, state_home):
    write_schedules(sched_config, [])
    first = Scheduler()
    first.start()
    try:
        with pytest.raises(SchedulerBusyError, match="another scheduler .* is already running"):
            Scheduler().start()
    finally:
        first.stop()
    again = Scheduler()  # the lock is released on stop
    again.start()
    again.stop()


def test_corrupt_history_is_reported_not_recreated(state_home):
    path = schedule_dir() / "history.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(HistoryCorruptError, match="unreadable .* move it aside"):
        History(path)
    assert path.read_bytes() == b"this is not a database" * 100


def _move_next_run_into_past(hours: float) -> None:
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    store = SQLAlchemyJobStore(url=f"sqlite:///{schedule_dir() / 'jobs.sqlite'}")
    from apscheduler.schedulers.background import BackgroundScheduler

    store.start(BackgroundScheduler(timezone="UTC"), "default")  # needed to unpickle jobs
    for job in store.get_all_jobs():
        job._modify(next_run_time=datetime.now(timezone.utc) - timedelta(hours=hours))
        store.update_job(job)
    store.shutdown()


def _wait_for(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("policy", ["run_once", "skip"])
def test_restart_applies_the_misfire_policy_and_runs_nothing_twice(sched_config, state_home, policy):
    write_schedules(sched_config, [{"name": "hourly", "flow": "ping", "interval": "1h", "misfire": policy}])
    s = Scheduler()
    s.start()
    s.stop()  # the job is stored, due in an hour
    _move_next_run_into_past(hours=3.5)  # the scheduler was "down" for 3.5 hours: 3-4 runs missed

    s = Scheduler()
    s.start()
    try:
        if policy == "run_once":
            assert _wait_for(lambda: any(r.status == "ok" for r in history().runs("hourly")))
        else:
            assert _wait_for(lambda: any(r.status == "missed" for r in history().runs("hourly")), 5)
        time.sleep(1.0)
    finally:
        s.stop()
    runs = history().runs("hourly")
    ran = [r for r in runs if r.status == "ok"]
    missed = [r for r in runs if r.status == "missed"]
    if policy == "run_once":
        assert len(ran) == 1 and not missed  # coalesced into one catch-up run
    else:
        assert not ran and len(missed) == 1  # the coalesced backlog, recorded once as missed

    s = Scheduler()  # restart again right away: nothing is due, nothing runs again
    s.start()
    time.sleep(1.5)
    s.stop()
    assert len(history().runs("hourly")) == len(runs)


def test_run_left_running_by_a_killed_scheduler_is_marked_interrupted(sched_config, state_home):
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    h = history()
    run_id = h.start("hb", "ping", "schedule", time.time())
    h.set_pid(run_id, dead.pid)
    write_schedules(sched_config, [])
    s = Scheduler()
    s.start()
    s.stop()
    assert history().runs("hb")[0].status == "interrupted"


def test_scheduler_runs_a_due_entry(sched_config, state_home):
    write_schedules(sched_config, [{"name": "fast", "flow": "ping", "interval": 1, "misfire": "skip"}])
    s = Scheduler()
    s.start()
    try:
        assert _wait_for(lambda: any(r.status == "ok" for r in history().runs("fast")))
    finally:
        s.stop()
    run = next(r for r in history().runs("fast") if r.status == "ok")
    assert run.trigger == "schedule" and run.scheduled_for is not None
    assert 0 <= run.flow_started - run.scheduled_for < 30


def test_cli_reports_a_corrupt_history_in_one_line(state_home):
    from tests.fakes import assert_one_line_error, mmcrew

    (schedule_dir() / "history.sqlite").write_bytes(b"garbage" * 500)
    assert_one_line_error(mmcrew("schedule", "history"), 3, "unreadable", "move it aside")


def test_cli_reports_invalid_schedules_before_running_anything(sched_config, state_home):
    from tests.fakes import assert_one_line_error, mmcrew

    write_schedules(sched_config, [{"name": "x", "flow": "ping", "cron": "bad cron"}])
    for args in (["schedule", "start"], ["schedule", "list"], ["schedule", "run", "x"]):
        assert_one_line_error(mmcrew(*args), 3, "schedules.yaml", "'x'", "5 fields")
    assert not (schedule_dir() / "jobs.sqlite").exists()


def test_cli_schedule_run_and_history(sched_config, state_home):
    from tests.fakes import mmcrew

    write_schedules(
        sched_config, [{"name": "hb", "flow": "ping", "interval": 60}, {"name": "bad", "flow": "boom", "interval": 60}]
    )
    ok = mmcrew("schedule", "run", "hb")
    assert ok.returncode == 0 and ok.stdout.startswith("ok hb (ping)")
    bad = mmcrew("schedule", "run", "bad")
    assert bad.returncode == 1 and "failed on purpose" in bad.stdout
    table = mmcrew("schedule", "history").stdout
    assert "hb" in table and "bad" in table and "failed" in table
    missing = mmcrew("schedule", "run", "nope")
    assert missing.returncode == 2 and "no schedule entry 'nope'" in missing.stderr


def test_ctrl_c_stops_the_scheduler_cleanly_and_records_the_interrupted_run(sched_config, state_home):
    import os
    import signal
    import subprocess
    import sys

    write_schedules(sched_config, [{"name": "slow", "flow": "ping", "interval": 1, "inputs": {"seconds": 30}}])
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "mmcrew"), "schedule", "start"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
        # as in a terminal: a suite started in the background by a non-interactive shell
        # (`make test &`) inherits SIGINT ignored, and Python then keeps ignoring it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert _wait_for(lambda: any(r.status == "running" for r in history().runs("slow")), 30)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=90)  # generous: the machine may be busy; speed is in bench/
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "stopping" in err
    assert history().runs("slow")[0].status == "interrupted"
    # and the lock is free again
    s = Scheduler()
    s.start()
    s.stop()
