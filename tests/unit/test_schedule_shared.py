"""Scheduling across machines, on SQLite: the claim of a due time, leases, machine names, the
history's migration, anchored interval due times. (The same with real processes on a real
PostgreSQL: tests/multi/test_schedule_multi.py.)

Two ``History`` objects with different ``machine`` names on one file stand for two machines
sharing one database: the SQL is the same on SQLite and PostgreSQL (``db.Database``).
"""

import os
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from multimodal_crew.procs import identity
from multimodal_crew.schedule.config import ScheduleEntry
from multimodal_crew.schedule.history import History, due_key
from multimodal_crew.schedule.runner import run_entry, schedule_dir
from multimodal_crew.schedule.service import Scheduler


def two_machines(path: Path) -> tuple[History, History]:
    return History(path, machine="a"), History(path, machine="b")


# -- claims ----------------------------------------------------------------------------------------
def test_a_due_time_is_claimed_once_whoever_asks(state_home):
    a, b = two_machines(schedule_dir() / "history.sqlite")
    due = 1_700_000_000.0
    assert a.claim("hb", due) is True
    assert b.claim("hb", due) is False  # the other machine loses
    assert a.claim("hb", due) is False  # and so does the winner asking again (a restart, a retry)
    assert b.claim("hb", due + 1) is True  # the next due time is another claim
    assert a.claim("other", due) is True  # and so is another entry's
    assert a.claimed_by("hb", due) == "a" and b.claimed_by("hb", due + 1) == "b"
    assert a.claims("hb") == [(due, "a"), (due + 1, "b")]
    assert b.runs() == []  # a claim is not a run: the loser records nothing


def test_the_claim_key_is_the_due_time_in_milliseconds(state_home):
    a, b = two_machines(schedule_dir() / "history.sqlite")
    due = 1_700_000_000.1
    assert due_key(due) == due_key(1_700_000_000.0 + 0.1) == 1_700_000_000_100
    assert a.claim("hb", due) and not b.claim("hb", due + 0.0001)  # float noise: the same due time
    assert b.claim("hb", due + 0.002)


def test_old_claims_are_pruned(state_home):
    a, _ = two_machines(schedule_dir() / "history.sqlite")
    a.claim("hb", 1.0)
    a._db.run("UPDATE claims SET claimed_at=?", (time.time() - 8 * 86400,))
    a.claim("hb", 2.0)
    a.prune_claims()
    assert [due for due, _ in a.claims("hb")] == [2.0]


def write_schedules(config: Path, entries: list[dict]) -> None:
    (config / "schedules.yaml").write_text(yaml.safe_dump({"schedules": entries}))


def test_the_scheduler_that_loses_the_claim_neither_runs_nor_records(sched_config, state_home, monkeypatch):
    from multimodal_crew.settings import get_settings

    monkeypatch.setenv("MMCREW_MACHINE", "a")
    get_settings(refresh=True)
    write_schedules(sched_config, [{"name": "hb", "flow": "ping", "interval": "1h"}])  # never due during the test
    s = Scheduler()
    s.claims = True  # as with a shared database
    s.start()
    try:
        other = History(schedule_dir() / "history.sqlite", machine="b")
        taken, free = time.time() - 2, time.time() - 1
        assert other.claim("hb", taken)
        s.run_scheduled("hb", taken)  # "b" has it: nothing here
        assert s.history.runs("hb") == []
        s.run_scheduled("hb", free)  # nobody has it: this scheduler claims and runs it
        [run] = s.history.runs("hb")
        assert (run.status, run.machine, run.scheduled_for) == ("ok", "a", free)
        assert s.history.claimed_by("hb", free) == "a"
        s.run_scheduled("hb", free)  # the same due time again (a second scheduler firing late): nothing
        assert len(s.history.runs("hb")) == 1
    finally:
        s.stop()


def test_a_missed_or_skipped_due_time_is_recorded_only_by_its_claimer(sched_config, state_home, monkeypatch):
    from types import SimpleNamespace

    from multimodal_crew.settings import get_settings

    monkeypatch.setenv("MMCREW_MACHINE", "a")
    get_settings(refresh=True)
    write_schedules(sched_config, [{"name": "hb", "flow": "ping", "interval": "1h"}])
    s = Scheduler()
    s.claims = True
    s.start()
    try:
        other = History(schedule_dir() / "history.sqlite", machine="b")
        t = datetime.now(timezone.utc).replace(microsecond=0)
        other.claim("hb", t.timestamp())
        s._on_missed(SimpleNamespace(job_id="hb", scheduled_run_time=t))
        s._on_busy(SimpleNamespace(job_id="hb", scheduled_run_times=[t]))
        assert s.history.runs("hb") == []
        later = t + timedelta(seconds=1)
        s._on_missed(SimpleNamespace(job_id="hb", scheduled_run_time=later))
        s._on_busy(SimpleNamespace(job_id="hb", scheduled_run_times=[later]))  # the same due time: once
        assert [(r.status, r.machine) for r in s.history.runs("hb")] == [("missed", "a")]
    finally:
        s.stop()


def test_with_claims_interval_due_times_are_the_same_on_every_machine():
    entry = ScheduleEntry(name="hb", flow="ping", interval=7)
    first, second = entry.trigger(anchored=True), entry.trigger(anchored=True)
    now = datetime.now(timezone.utc)
    a = first.get_next_fire_time(None, now)
    b = second.get_next_fire_time(None, now + timedelta(seconds=2.5))  # a machine that started later
    if b != a:  # it started after a's first due time: its first is a's second
        a = first.get_next_fire_time(a, a)
    assert a == b and a.timestamp() % 7 == datetime(2000, 1, 1, tzinfo=timezone.utc).timestamp() % 7
    # cron and the default (unanchored) interval are as before
    assert ScheduleEntry(name="c", flow="ping", cron="0 7 * * *").trigger(anchored=True).fields
    assert entry.trigger().start_date > now


# -- leases --------------------------------------------------------------------------------------
def test_another_machines_running_row_is_judged_by_its_lease_not_by_local_pids(state_home):
    path = schedule_dir() / "history.sqlite"
    a, b = two_machines(path)
    a.leased = b.leased = True  # as on a shared database
    me = identity(os.getpid())
    # b's rows: pids that mean nothing here (one of them is even ours)
    fresh = b.start("x", "ping", "schedule", None, pid=os.getpid(), pid_ident="otherboot:1")
    stale = b.start("y", "ping", "schedule", None, pid=999_999, pid_ident="otherboot:2")
    b._db.run("UPDATE runs SET heartbeat_at=? WHERE id=?", (time.time() - 31, stale))
    # a's own rows, this boot: looked up by pid at once, whatever the lease says
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = a.start("z", "ping", "schedule", None, pid=dead.pid, pid_ident=f"{me.split(':')[0]}:1")
    live = a.start("w", "ping", "schedule", None, pid=os.getpid(), pid_ident=me)
    a._db.run("UPDATE runs SET heartbeat_at=? WHERE id=?", (time.time() - 600, live))

    assert a.mark_interrupted() == 2
    status = {r.id: (r.status, r.error) for r in a.runs(limit=10)}
    assert status[fresh][0] == "running"  # b renewed it: b's business, whatever our pid table says
    assert status[stale][0] == "interrupted" and "on b" in status[stale][1] and "lease" in status[stale][1]
    assert status[gone][0] == "interrupted" and "stopped before the run ended" in status[gone][1]
    assert status[live][0] == "running"


def test_a_heartbeat_renews_the_lease_until_the_row_is_closed(state_home):
    a, b = two_machines(schedule_dir() / "history.sqlite")
    a.leased = True
    run_id = b.start("x", "ping", "schedule", None, pid=999_999, pid_ident="otherboot:1")
    b._db.run("UPDATE runs SET heartbeat_at=? WHERE id=?", (time.time() - 29, run_id))
    assert b.heartbeat(run_id)
    assert a.mark_interrupted() == 0
    assert b.finish(run_id, "ok") and not b.heartbeat(run_id)  # closed: nothing left to renew


def test_on_sqlite_every_row_is_judged_by_its_pid_as_before(state_home):
    a, b = two_machines(schedule_dir() / "history.sqlite")
    assert not a.leased  # one machine: no leases
    run_id = b.start("x", "ping", "schedule", None, pid=os.getpid(), pid_ident=identity(os.getpid()))
    b._db.run("UPDATE runs SET heartbeat_at=0 WHERE id=?", (run_id,))
    assert a.mark_interrupted() == 0 and a.runs()[0].status == "running"


# -- the machine column, and older history files -------------------------------------------------
def test_rows_name_the_machine_from_settings(state_home, monkeypatch):
    from multimodal_crew.settings import get_settings

    monkeypatch.setenv("MMCREW_MACHINE", "box-7")
    get_settings(refresh=True)
    run_entry(ScheduleEntry(name="hb", flow="ping", interval=60))
    h = History.of()
    assert (h.runs("hb")[0].status, h.runs("hb")[0].machine) == ("ok", "box-7")
    assert History(schedule_dir() / "history.sqlite").machine == "box-7"


def test_a_history_without_machines_or_leases_is_migrated(state_home, monkeypatch):
    path = schedule_dir() / "history.sqlite"
    db = sqlite3.connect(path)
    db.executescript(  # the previous version's file: pid_ident, no machine, no heartbeat, no claims
        "CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, flow TEXT NOT NULL,"
        " trigger TEXT NOT NULL, scheduled_for REAL, started REAL, ended REAL, status TEXT NOT NULL,"
        " error TEXT NOT NULL DEFAULT '', output_dir TEXT NOT NULL DEFAULT '', pid INTEGER, flow_started REAL,"
        " pid_ident TEXT NOT NULL DEFAULT '');"
        "CREATE INDEX runs_name ON runs(name, id);"
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO meta VALUES ('schema', 'mmcrew-history-1');"
        "INSERT INTO runs(name, flow, trigger, started, ended, status, pid) VALUES ('old', 'ping', 'manual', 1, 2, 'ok', 1);"
    )
    db.commit()
    db.close()
    h = History(path, machine="m1")
    cols = {row[1] for row in sqlite3.connect(path).execute("PRAGMA table_info(runs)")}
    assert {"machine", "heartbeat_at", "pid_ident"} <= cols
    [old] = h.runs("old")
    assert (old.status, old.machine, old.heartbeat_at, old.ended) == ("ok", "", None, 2)
    new = h.start("new", "ping", "manual", None)
    assert h.runs("new")[0].machine == "m1" and h.finish(new, "ok")
    assert h.claim("new", 10.0) and not History(path, machine="m2").claim("new", 10.0)
    h.close()
    History(path).close()  # opening it again changes nothing
    assert len(History(path).runs(limit=10)) == 2


def test_cli_history_shows_the_machine(sched_config, state_home):
    from tests.fakes import mmcrew

    h = History(schedule_dir() / "history.sqlite", machine="gpu-box")
    h.finish(h.start("hb", "ping", "manual", None), "ok")
    h.close()
    table = mmcrew("schedule", "history").stdout
    assert "machine" in table and "gpu-box" in table


@pytest.mark.parametrize("shared_name", ["a.b", "A B", "ü"])
def test_job_tables_differ_per_machine(shared_name):
    from multimodal_crew.schedule.service import jobs_table

    name = jobs_table(shared_name)
    assert name.startswith("jobs_") and name.replace("_", "").isalnum() and name.isascii()
    assert name != jobs_table(shared_name + "x") and len(name) <= 63
