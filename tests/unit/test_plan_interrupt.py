"""A plan that is stopped part-way, in a real subprocess: by Ctrl-C (SIGINT), or by a plug-in step that
raises an exception the plan does not expect. The finished tasks stay in the run folder, the tasks that
depend on the broken one never run, the run folder says how it ended and the exit code is non-zero.

The plug-in steps (``slow``, ``crash``) are written to a temporary file and loaded through
``MMCREW_EXTRA_STEPS``, in the subprocess only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PLUGIN = """
import time

from multimodal_crew.steps import Deps, StepInputs, step
from multimodal_crew.steps.results import StepOutput


class SlowInputs(StepInputs):
    seconds: float


class Slept(StepOutput):
    seconds: float

    def result_fields(self):
        return {"text": f"slept {self.seconds} s"}


@step("slow", "Sleep for some seconds (tests)", SlowInputs, "text")
def slow(inputs: SlowInputs, deps: Deps) -> Slept:
    time.sleep(inputs.seconds)
    return Slept(seconds=inputs.seconds)


class CrashInputs(StepInputs):
    after: str = ""


@step("crash", "Always raises RuntimeError (tests)", CrashInputs, "text")
def crash(inputs: CrashInputs, deps: Deps):
    raise RuntimeError("the plug-in step crashed")
"""

# what a terminal gives the process: SIGINT raises KeyboardInterrupt (a test runner started in the
# background may hand its children SIGINT ignored, and Python keeps it ignored)
SCRIPT = """
import json, signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
from multimodal_crew.flows import run_flow
from tests.fakes import ScriptedModel
plan, answer = json.loads(sys.argv[1]), json.loads(sys.argv[2])
r = run_flow("plan", {"request": "a plan that is stopped part-way"}, model=ScriptedModel(plan, answer))
print("RESULT", r.status, r.reason)
sys.exit(0 if r.status == "ok" else 5)  # as `mmcrew run` does
"""


def _plan(*tasks: tuple[str, dict]) -> dict:
    return {"tasks": [{"step": f"use {t}", "tool": t, "args": a} for t, a in tasks]}


@pytest.fixture
def plugin_env(state_home, tmp_path) -> dict[str, str]:
    path = tmp_path / "plan_plugin_steps.py"
    path.write_text(textwrap.dedent(PLUGIN), encoding="utf-8")
    return {**os.environ, "MMCREW_HOME": str(state_home), "MMCREW_EXTRA_STEPS": str(path)}


def _start(plan: dict, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, json.dumps(plan), json.dumps({"answer": "It is 2."})],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _run_dir(home: Path) -> Path:
    runs = sorted((home / "outputs" / "plan").glob("*/"))
    assert len(runs) == 1, runs
    return runs[0]


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _folder(run: Path) -> str:
    """The run folder's files, status and log, for an assertion message."""
    status = (run / "status.json").read_text() if (run / "status.json").is_file() else "(no status.json)"
    log = (run / "log.txt").read_text() if (run / "log.txt").is_file() else "(no log.txt)"
    return f"files: {sorted(p.name for p in run.iterdir())}\nstatus.json: {status}\nlog.txt:\n{log}"


def _wait_for(path_glob, home: Path, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not list((home / "outputs" / "plan").glob(path_glob)):
        if proc.poll() is not None:
            out, errs = proc.communicate()
            pytest.fail(
                f"the plan ended (code {proc.returncode}) before {path_glob} was written:\n{out}\n{errs[-3000:]}"
            )
        if time.monotonic() > deadline:
            pytest.fail(f"{path_glob} did not appear within {seconds} s")
        time.sleep(0.1)


def test_ctrl_c_in_the_middle_of_a_plan_marks_the_run_at_once_and_starts_nothing_more(state_home, plugin_env):
    """From Python (run_flow): the run folder says "interrupted" at once; the step already running
    (a thread) ends, nothing after it starts, and KeyboardInterrupt ends the process."""
    plan = _plan(("calculate", {"expression": "1 + 1"}), ("slow", {"seconds": "12"}),
                 ("calculate", {"expression": "<task-2> + 1"}))  # fmt: skip
    proc = _start(plan, plugin_env)
    try:
        _wait_for("*/task-1.json", state_home, proc)
        time.sleep(0.5)  # the slow task is sleeping now
        proc.send_signal(signal.SIGINT)
        run = _run_dir(state_home)
        deadline = time.monotonic() + 5
        while _read(run / "status.json")["status"] != "interrupted" and time.monotonic() < deadline:
            time.sleep(0.1)
        marked = _read(run / "status.json")["status"]
        out, errs = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    facts = f"code {proc.returncode}\n{_folder(run)}\nstderr:\n{errs[-1500:]}"
    assert marked == "interrupted", facts  # within 5 s of Ctrl-C, while the slow task still sleeps
    assert proc.returncode != 0 and "KeyboardInterrupt" in errs, facts
    assert _read(run / "task-1.json")["status"] == "ok", facts
    task3 = run / "task-3.json"
    assert not task3.is_file() or _read(task3)["status"] == "skipped", facts
    assert _read(run / "status.json")["status"] == "interrupted", facts  # nothing overwrote it
    assert not (run / "answer.md").exists(), facts


def test_ctrl_c_under_mmcrew_exits_130_at_once_and_keeps_the_finished_tasks(state_home, plugin_env):
    from tests.fakes import FakeOpenAIServer

    plan = _plan(("calculate", {"expression": "1 + 1"}), ("slow", {"seconds": "60"}))
    with FakeOpenAIServer([json.dumps(plan)]) as srv:
        env = {**plugin_env, "MODEL": "openai/fake", "MMCREW_API_BASE": srv.url + "/v1"}
        proc = subprocess.Popen(
            [sys.executable, "-c", "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
             "sys.argv = ['mmcrew'] + sys.argv[1:]; from multimodal_crew.cli import main; main()",
             "run", "plan", "-i", "request=one plus one, then wait"],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            _wait_for("*/task-1.json", state_home, proc)
            time.sleep(0.5)
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            out, errs = proc.communicate(timeout=30)
            took = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    run = _run_dir(state_home)
    facts = f"code {proc.returncode}, {took:.1f} s\n{_folder(run)}\nstderr:\n{errs[-1500:]}"
    assert proc.returncode == 130 and took < 10, facts  # the 60 s step is not waited for
    assert "interrupted" in errs.strip().splitlines()[-1], facts
    assert _read(run / "task-1.json")["status"] == "ok", facts
    assert _read(run / "status.json")["status"] == "interrupted", facts


def test_a_step_that_raises_stops_its_dependants_keeps_what_was_done_and_exits_non_zero(state_home, plugin_env):
    plan = _plan(
        ("calculate", {"expression": "1 + 1"}),
        ("crash", {"after": "<task-1>"}),  # runs after task 1, raises RuntimeError (not an MMCrewError)
        ("calculate", {"expression": "<task-2> + 1"}),  # depends on the crash: must not run
        ("calculate", {"expression": "6 * 7"}),  # independent: runs
    )
    proc = _start(plan, plugin_env)
    try:
        out, errs = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    run = _run_dir(state_home)
    facts = f"code {proc.returncode}\nstdout: {out[-500:]}\n{_folder(run)}\nstderr:\n{errs[-1500:]}"
    assert proc.returncode == 5 and "RESULT incomplete" in out, facts
    assert _read(run / "task-1.json")["status"] == "ok", facts  # the step already done is kept
    t2 = _read(run / "task-2.json")
    assert t2["status"] == "failed" and t2["error"] == "RuntimeError: the plug-in step crashed", facts
    assert _read(run / "task-3.json")["status"] == "skipped", facts  # its dependant did not run, and says so
    assert _read(run / "task-4.json")["status"] == "ok", facts  # the others finish
    assert _read(run / "status.json")["status"] == "incomplete", facts
    assert "task 2 (crash) failed: RuntimeError" in out, facts
