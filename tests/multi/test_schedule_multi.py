"""Two schedulers on two "machines" sharing one real PostgreSQL (tests/servers.py): two
``mmcrew schedule start`` processes with different MMCREW_HOMEs and MMCREW_MACHINEs, the same
schedules.yaml and namespace. A 1-second interval entry runs for about 20 s.

* Every due time in the window has exactly one row in the shared history (a run, or a ``skipped``
  one), written by whichever scheduler claimed it; none is missing, none is doubled.
* ``kill -9`` of one scheduler (its whole process group: scheduler, fork server, run) in the middle:
  the other goes on alone, every due time still has exactly one row, the dead one's lock is free
  (it starts again on the same machine name), and a run it left ``running`` is closed as
  ``interrupted`` once its lease has lapsed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.multi

MMCREW = str(Path(sys.executable).with_name("mmcrew"))
ROOT = Path(__file__).resolve().parents[2]
ENTRY = {"name": "hb", "flow": "ping", "interval": 1, "misfire": "skip"}


@pytest.fixture
def config(tmp_path) -> Path:
    folder = tmp_path / "config"
    (folder / "flows").mkdir(parents=True)
    (folder / "flows" / "ping.yaml").write_text((ROOT / "config" / "flows" / "ping.yaml").read_text())
    (folder / "schedules.yaml").write_text(yaml.safe_dump({"schedules": [ENTRY]}))
    return folder


def machine_env(tmp_path: Path, name: str, pg_url: str, config: Path) -> dict:
    env = os.environ.copy()  # MMCREW_NAMESPACE: this test's (tests/conftest.state_home)
    env.update({
        "MMCREW_HOME": str(tmp_path / f"home-{name}"), "MMCREW_MACHINE": name,
        "MMCREW_DATABASE_URL": pg_url, "MMCREW_CONFIG_DIR": str(config),
    })  # fmt: skip
    return env


def start(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [MMCREW, "schedule", "start"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # its own process group: the scheduler, its fork server and its runs
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip


def wait_running(proc: subprocess.Popen, timeout: float = 120) -> None:
    """Until the scheduler says it runs (its first stderr line)."""
    deadline = time.monotonic() + timeout
    line = ""
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if "scheduler running" in line:
            return
        if proc.poll() is not None:
            break
    pytest.fail(f"the scheduler did not start: {line}{proc.stderr.read() if proc.poll() is not None else ''}")


def stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=30)
    return err


def kill_9(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)


def history(pg_url: str, machine: str = "checker"):
    from multimodal_crew.schedule.history import History
    from multimodal_crew.schedule.runner import schedule_dir
    from multimodal_crew.settings import get_settings

    s = get_settings(refresh=True)
    return History(schedule_dir(s) / "unused.sqlite", database_url=pg_url, machine=machine, namespace=s.namespace)


def rows_per_due(runs, since: float, until: float) -> dict[float, list]:
    """The rows of every whole-second due time in [since, until], by due time."""
    by_due: dict[float, list] = {float(t): [] for t in range(int(since) + 1, int(until))}
    for r in runs:
        if r.scheduled_for is not None and since < r.scheduled_for < until:
            by_due.setdefault(float(r.scheduled_for), []).append(r)
    return by_due


def assert_exactly_once(by_due: dict[float, list]) -> None:
    wrong = {t: [(r.machine, r.status) for r in rows] for t, rows in by_due.items() if len(rows) != 1}
    assert not wrong, f"due times without exactly one row: {wrong}"


def test_two_schedulers_run_every_due_time_once_also_across_a_kill_9(tmp_path, pg_url, config):
    """Phase 1: both run for 20 s (the issue's measure). Phase 2: kill -9 of a, b alone for 6 s,
    a started again, 4 s more. Every due time of the whole window: exactly one row."""
    env_a = machine_env(tmp_path, "a", pg_url, config)
    a = start(env_a)
    b = start(machine_env(tmp_path, "b", pg_url, config))
    a2 = None
    try:
        wait_running(a)
        wait_running(b)
        since = time.time() + 1  # both are up: every due time from here on is theirs to share
        time.sleep(20)
        phase1_end = time.time() - 1
        kill_9(a)
        killed_at = time.time()
        time.sleep(6)
        a2 = start(env_a)  # the dead scheduler's lock went with its connection: the same machine starts again
        wait_running(a2)
        time.sleep(4)
        until = time.time() - 2  # the last due times' rows may still be being written
    finally:
        errors = "".join(stop(p) for p in (a2, b) if p is not None)
        if a.poll() is None:
            kill_9(a)
    h = history(pg_url, machine="b")
    try:
        runs = h.runs("hb", limit=500)
        claims = dict(h.claims("hb"))
        left_running = [r for r in runs if r.status == "running"]
        time.sleep(1.5)
        closed = h.mark_interrupted(lease=1.0)  # as b's sweep does once LEASE has passed
        after = {r.id: r for r in h.runs("hb", limit=500)}
    finally:
        h.close()

    phase1 = rows_per_due(runs, since, phase1_end)
    assert len(phase1) >= 17, (len(phase1), errors)
    assert_exactly_once(phase1)
    rows = [rows[0] for rows in phase1.values()]
    statuses = Counter(r.status for r in rows)
    assert statuses["ok"] >= len(rows) - 2, statuses  # a ping run takes ~40 ms: hardly ever still going
    assert all(claims[r.scheduled_for] == r.machine for r in rows)  # the claimer is the one that ran it
    machines = Counter(r.machine for r in rows)
    assert set(machines) <= {"a", "b"}, machines
    late = sorted(r.started - r.scheduled_for for r in rows)
    print(f"\ntwo schedulers, 20 s: {len(rows)} due times, exactly 1 row each; by machine {dict(machines)}; "
          f"statuses {dict(statuses)}; run started after its due time p50 {late[len(late) // 2]:.2f} s")  # fmt: skip

    whole = rows_per_due(runs, since, until)
    assert_exactly_once(whole)  # across the kill and the restart too
    alone = [rows[0] for t, rows in whole.items() if killed_at + 1 < t < killed_at + 5]
    assert alone and {r.machine for r in alone} == {"b"}, [(r.machine, r.status) for r in alone]
    assert closed == len(left_running)
    for r in left_running:  # a run of a's the kill cut short: interrupted by its lease, not left running
        assert after[r.id].status == "interrupted" and "lease" in after[r.id].error, after[r.id]

    shown = subprocess.run([MMCREW, "schedule", "history", "hb", "--limit", "40"], env={**env_a, "COLUMNS": "300"},
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "machine" in shown.stdout and "***" in shown.stdout  # the shared history, its password hidden
    table_rows = [line for line in shown.stdout.splitlines() if " ok " in line or "│ ok" in line]
    assert any("│ a " in line for line in table_rows) and any("│ b " in line for line in table_rows), shown.stdout


def test_postgresql_stopped_under_two_schedulers_they_go_on_after_its_restart(tmp_path, pg_server, pg_url, config):
    """PostgreSQL down for ~5 s under two running schedulers: neither dies, nothing is run twice, and
    once it is back every due time again gets exactly one row."""
    a = start(machine_env(tmp_path, "a", pg_url, config))
    b = start(machine_env(tmp_path, "b", pg_url, config))
    try:
        wait_running(a)
        wait_running(b)
        since = time.time() + 1
        time.sleep(4)
        down_from = time.time()
        pg_server.stop()
        time.sleep(5)
        pg_server.start()
        up_at = time.time()
        time.sleep(8)
        until = time.time() - 2
        assert a.poll() is None and b.poll() is None, "a scheduler died with the database"
    finally:
        errors = stop(a) + stop(b)
    h = history(pg_url)
    try:
        runs = h.runs("hb", limit=500)
    finally:
        h.close()
    before = rows_per_due(runs, since, down_from - 1)
    after = rows_per_due(runs, up_at + 3, until)  # a few seconds for the pools to find the server again
    assert_exactly_once(before)
    assert len(after) >= 3, errors
    assert_exactly_once(after)
    doubled = [t for t, rows in rows_per_due(runs, since, until).items() if len(rows) > 1]
    assert not doubled, doubled  # during the outage: a due time may have no row, never two
