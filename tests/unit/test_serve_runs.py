"""The server's run queue: FIFO, one run at a time, events in a real SQLite file, cancel, restart.

Runners here are fakes: small functions that sleep, report progress, raise, or wait for their
cancel Event. The store is a real SQLite file under ``tmp_path``.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from itertools import pairwise

import pytest

from multimodal_crew.errors import ConfigError, InputError, StructuredOutputError, UnknownFlowError
from multimodal_crew.serve.runs import (
    FINAL,
    RunManager,
    RunManagerClosedError,
    RunNotFoundError,
    RunStore,
    default_path,
)
from multimodal_crew.steps.results import Citation, RunResult

WAIT = 5.0  # seconds a test waits for something that takes milliseconds


class FakeRunner:
    """Records which runs ran and when; never lets two overlap unnoticed. ``gate`` (when given)
    holds each run until it is set; ``started`` is set as a run begins."""

    def __init__(self, delay: float = 0.0, gate: threading.Event | None = None):
        self.delay, self.gate = delay, gate
        self.calls: list[dict] = []
        self.spans: list[tuple[float, float]] = []
        self.active = 0
        self.max_active = 0
        self.started = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, flow, inputs, progress, cancelled) -> RunResult:
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.calls.append(inputs)
        t0 = time.monotonic()
        self.started.set()
        try:
            progress(f"working on {inputs}")
            if self.gate is not None:
                assert self.gate.wait(WAIT)
            time.sleep(self.delay)
            progress("done")
            return RunResult(flow=flow, text=f"answer {inputs.get('i')}")
        finally:
            with self._lock:
                self.active -= 1
                self.spans.append((t0, time.monotonic()))


def until_cancelled(flow, inputs, progress, cancelled) -> RunResult:
    """Does 'steps' until its cancel Event is set, then returns what it has."""
    while not cancelled.wait(0.01):
        progress("a step")
    return RunResult(flow=flow, status="incomplete", reason="cancelled", text="partial")


@pytest.fixture
def store(tmp_path):
    s = RunStore(tmp_path / "runs.sqlite")
    yield s
    s.close()


@pytest.fixture
def start(store):
    """``start(runner, **kw)`` -> a RunManager on the test's store, closed at the end."""
    managers: list[RunManager] = []

    def make(runner, **kw) -> RunManager:
        managers.append(RunManager(store, runner, poll=0.05, **kw))
        return managers[-1]

    yield make
    for m in managers:
        m.close(cancel_running=True, timeout=WAIT)


def kinds(store, run_id) -> list[str]:
    return [e.kind for e in store.events(run_id)]


# -- queueing -------------------------------------------------------------------------------
def test_submit_returns_at_once_with_a_queued_event_already_stored(store, start):
    gate = threading.Event()
    manager = start(FakeRunner(gate=gate))
    t0 = time.perf_counter()
    run_id = manager.submit("ask", {"i": 1})
    first = store.events(run_id)[0]
    assert time.perf_counter() - t0 < 0.2
    assert (first.seq, first.kind, first.data) == (1, "queued", {"position": 1})
    assert len(run_id) == 32 and store.get(run_id).host
    gate.set()
    assert manager.wait(run_id, WAIT).status == "ok"


def test_runs_go_in_submission_order_one_at_a_time(store, start):
    runner = FakeRunner(delay=0.03)
    manager = start(runner)
    ids = [manager.submit("ask", {"i": i}) for i in range(5)]
    records = [manager.wait(run_id, WAIT) for run_id in ids]
    assert [r.status for r in records] == ["ok"] * 5
    assert [c["i"] for c in runner.calls] == list(range(5))
    assert runner.max_active == 1
    spans = sorted(runner.spans)
    assert all(a[1] <= b[0] for a, b in pairwise(spans))  # no overlap
    stored = sorted(records, key=lambda r: r.started)
    assert [r.id for r in stored] == ids and all(a.finished <= b.started for a, b in pairwise(stored))
    assert records[2].result.text == "answer 2"


def test_waiting_runs_see_their_place_in_the_queue_move(store, start):
    gate = threading.Event()
    runner = FakeRunner(gate=gate)
    manager = start(runner)
    first = manager.submit("ask", {"i": 0})
    assert runner.started.wait(WAIT)
    waiting = [manager.submit("ask", {"i": i}) for i in (1, 2, 3)]
    assert [manager.get(r).position for r in waiting] == [1, 2, 3]
    gate.set()
    for run_id in [first, *waiting]:
        manager.wait(run_id, WAIT)
    last = store.events(waiting[2])
    places = [e.data["position"] for e in last if e.kind in ("queued", "position")]
    assert places == [3, 2, 1]
    assert [e.kind for e in last][-1] == "status" and manager.get(waiting[2]).position is None


def test_a_bad_request_is_refused_at_submit_and_never_queued(store, start):
    def validate(flow, inputs):
        if flow != "ask":
            raise UnknownFlowError(f"no flow named {flow!r}")
        if "question" not in inputs:
            raise InputError("ask needs a question")
        return {"question": inputs["question"].strip()}

    runner = FakeRunner()
    manager = start(runner, validate=validate)
    with pytest.raises(UnknownFlowError):
        manager.submit("nope", {})
    with pytest.raises(InputError, match="needs a question"):
        manager.submit("ask", {})
    assert store.list() == []
    run_id = manager.submit("ask", {"question": "  why?  "})
    assert manager.wait(run_id, WAIT).inputs == {"question": "why?"}  # the normalised inputs are kept


# -- cancel -----------------------------------------------------------------------------------
def test_cancel_a_queued_run_removes_it_and_moves_the_queue(store, start):
    gate = threading.Event()
    runner = FakeRunner(gate=gate)
    manager = start(runner)
    manager.submit("ask", {"i": 0})
    assert runner.started.wait(WAIT)
    doomed, kept = manager.submit("ask", {"i": 1}), manager.submit("ask", {"i": 2})
    assert manager.cancel(doomed).status == "cancelled"
    assert store.events(kept)[-1].data == {"position": 1}
    gate.set()
    assert manager.wait(kept, WAIT).status == "ok"
    assert [c["i"] for c in runner.calls] == [0, 2]  # the cancelled run never reached the runner
    assert kinds(store, doomed) == ["queued", "status"] and store.events(doomed)[-1].final


@pytest.mark.parametrize("ends_by", ["returning", "raising"])
def test_cancel_a_running_run_sets_its_event_and_the_queue_goes_on(store, start, ends_by):
    def runner(flow, inputs, progress, cancelled):
        if inputs.get("next"):
            return RunResult(flow=flow)
        if ends_by == "returning":
            return until_cancelled(flow, inputs, progress, cancelled)
        cancelled.wait(WAIT)
        raise RuntimeError("stopped between steps")

    manager = start(runner)
    run_id, after = manager.submit("ask", {}), manager.submit("ask", {"next": True})
    deadline = time.monotonic() + WAIT
    while manager.get(run_id).status != "running" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert manager.cancel(run_id).status == "running"  # asked to stop; it ends when the runner returns
    rec = manager.wait(run_id, WAIT)
    assert rec.status == "cancelled" and rec.finished
    assert "error" not in kinds(store, run_id) and store.events(run_id)[-1].final
    assert manager.wait(after, WAIT).status == "ok"


def test_cancel_an_ended_or_unknown_run_is_one_line_error(store, start):
    manager = start(FakeRunner())
    run_id = manager.submit("ask", {})
    manager.wait(run_id, WAIT)
    with pytest.raises(InputError, match=r"already ended \(ok\)") as err:
        manager.cancel(run_id)
    assert "\n" not in str(err.value)
    with pytest.raises(RunNotFoundError):
        manager.cancel("f" * 32)
    assert manager.get(run_id).status == "ok"


# -- failures and results -------------------------------------------------------------------
def test_a_runner_that_raises_fails_its_run_only(store, start):
    def runner(flow, inputs, progress, cancelled):
        if inputs["how"] == "ours":
            raise StructuredOutputError("Answer", [])
        if inputs["how"] == "bug":
            raise ValueError("bad\nthing")
        if inputs["how"] == "none":
            return None
        return RunResult(flow=flow, text="fine")

    manager = start(runner)
    ids = [manager.submit("ask", {"how": how}) for how in ("ours", "bug", "none", "ok")]
    ours, bug, none, ok = (manager.wait(i, WAIT) for i in ids)
    assert ours.status == "failed" and ours.error.startswith("the model gave no valid Answer")
    assert bug.status == "failed" and bug.error == "ValueError: bad thing"
    assert none.error == "TypeError: the runner returned NoneType, not a RunResult"
    assert ok.status == "ok" and ok.result.text == "fine"
    events = store.events(bug.id)
    assert [e.kind for e in events][-2:] == ["error", "status"] and events[-2].message == bug.error


@pytest.mark.parametrize("status", ["abstained", "incomplete"])
def test_abstained_and_incomplete_results_keep_their_status(store, start, status):
    cite = Citation(file="plan.pdf", page=3, quote="deductible", start=10, end=20)
    manager = start(
        lambda f, i, p, c: RunResult(flow=f, status=status, reason="not in the documents", citations=[cite])
    )
    rec = manager.wait(manager.submit("ask", {}), WAIT)
    assert rec.status == status and rec.result.citations == [cite]
    events = store.events(rec.id)
    assert events[-2].kind == "result" and events[-2].data["citations"][0]["page"] == 3
    assert events[-1].message == f"{status}: not in the documents"


# -- events -----------------------------------------------------------------------------------
def test_events_are_numbered_and_read_after_a_seq(store, start):
    manager = start(FakeRunner())
    run_id = manager.submit("ask", {"i": 7})
    manager.wait(run_id, WAIT)
    events = store.events(run_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.kind for e in events] == ["queued", "status", "progress", "progress", "result", "status"]
    assert [e.seq for e in store.events(run_id, after_seq=3)] == list(range(4, len(events) + 1))
    assert store.events(run_id, after_seq=len(events)) == []


def test_progress_after_the_end_of_a_run_is_dropped(store, start):
    kept = []

    def runner(flow, inputs, progress, cancelled):
        kept.append(progress)
        return RunResult(flow=flow)

    manager = start(runner)
    run_id = manager.submit("ask", {})
    manager.wait(run_id, WAIT)
    kept[0]("a thread the runner left behind")
    assert store.events(run_id)[-1].final


# -- concurrency ------------------------------------------------------------------------------
def test_sixteen_concurrent_clients_all_get_their_runs_in_order(store, start):
    runner = FakeRunner(delay=0.005)
    manager = start(runner)
    barrier = threading.Barrier(16)
    answers: dict[int, str] = {}
    errors: list[BaseException] = []

    def client(i: int) -> None:
        try:
            barrier.wait(WAIT)
            answers[i] = manager.submit("ask", {"i": i})
        except BaseException as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert errors == [] and len(answers) == 16 and len(set(answers.values())) == 16
    records = {i: manager.wait(run_id, WAIT) for i, run_id in answers.items()}
    assert all(r.status == "ok" and r.result.text == f"answer {i}" for i, r in records.items())
    queued = store.list(limit=100)[::-1]  # oldest first
    assert len(queued) == 16 and [c["i"] for c in runner.calls] == [r.inputs["i"] for r in queued]
    assert all(a.created <= b.created and a.finished <= b.started for a, b in pairwise(queued))
    assert runner.max_active == 1


# -- the store ------------------------------------------------------------------------------
def test_a_restart_lists_finished_runs_and_marks_lost_ones_interrupted(tmp_path):
    path = tmp_path / "runs.sqlite"
    first = RunStore(path)
    done = first.create("ask", {"question": "q"})
    first.set_status(done.id, "running")
    first.set_status(done.id, "ok", result=RunResult(flow="ask", text="kept"))
    lost_running, lost_queued = first.create("ask", {}), first.create("see", {})
    first.set_status(lost_running.id, "running")
    live = RunStore(path)  # another live store leaves the first one's runs alone
    assert live.interrupted == [] and live.get(lost_running.id).status == "running"
    first.close()  # the server stops without ending its runs
    again = RunStore(path)
    assert sorted(again.interrupted) == sorted([lost_running.id, lost_queued.id])
    for run_id in (lost_running.id, lost_queued.id):
        rec, last = again.get(run_id), again.events(run_id)[-1]
        assert rec.status == "interrupted" and rec.finished and last.final and "stopped" in last.message
    assert again.get(done.id).result.text == "kept"
    assert [r.id for r in again.list()] == [lost_queued.id, lost_running.id, done.id]
    live.close()
    again.close()


def test_runs_of_a_process_that_died_are_interrupted(tmp_path):
    path = tmp_path / "runs.sqlite"
    code = (
        "import os, sys\nfrom multimodal_crew.serve.runs import RunStore\n"
        "s = RunStore(sys.argv[1]); r = s.create('ask', {}); s.set_status(r.id, 'running')\n"
        "print(r.id, flush=True); os._exit(9)\n"
    )
    p = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 9, p.stderr
    store = RunStore(path)
    assert store.interrupted == [p.stdout.strip()] and store.get(p.stdout.strip()).status == "interrupted"
    store.close()


def test_list_is_newest_first_with_paging_and_a_flow_filter(store):
    made = [store.create("ask" if i % 2 else "see", {"i": i}).id for i in range(5)]
    assert [r.id for r in store.list()] == made[::-1]
    assert [r.id for r in store.list(limit=2, offset=1)] == [made[3], made[2]]
    assert [r.inputs["i"] for r in store.list(flow="ask")] == [3, 1]


def test_the_first_end_recorded_wins(store):
    run_id = store.create("ask", {}).id
    assert store.set_status(run_id, "cancelled").final
    assert store.set_status(run_id, "ok") is None and store.get(run_id).status == "cancelled"
    assert store.get(run_id).status in FINAL


def test_an_unreadable_store_is_one_line_config_error(tmp_path):
    bad = tmp_path / "runs.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigError, match="move it aside") as err:
        RunStore(bad)
    assert "\n" not in str(err.value)


def test_default_path_is_under_mmcrew_home(state_home):
    from multimodal_crew.settings import get_settings

    assert default_path(get_settings()) == state_home / "serve" / "runs.sqlite"


# -- stopping ---------------------------------------------------------------------------------
@pytest.mark.parametrize("cancel_running", [False, True])
def test_close_ends_the_queue_and_refuses_new_runs(store, cancel_running):
    manager = RunManager(store, until_cancelled if cancel_running else FakeRunner(delay=0.2), poll=0.05)
    running = manager.submit("ask", {})
    deadline = time.monotonic() + WAIT
    while store.get(running).status != "running" and time.monotonic() < deadline:
        time.sleep(0.01)
    waiting = manager.submit("ask", {})
    assert manager.close(cancel_running=cancel_running, timeout=WAIT)
    assert store.get(running).status == ("cancelled" if cancel_running else "ok")
    assert store.get(waiting).status == "interrupted" and store.events(waiting)[-1].final
    with pytest.raises(RunManagerClosedError):
        manager.submit("ask", {})
