"""The plan flow on named fake models: validators, compile to YAML, execution order, failure propagation."""

import json
from pathlib import Path

import pytest
import yaml

from multimodal_crew.errors import InputError
from multimodal_crew.flows import run_flow
from multimodal_crew.steps.plan_run import compile_plan
from multimodal_crew.steps.planning import Plan, PlanError, PlanTask, ToolSpec, check_plan, make_plan, registry_tools
from tests.fakes import ScriptedModel, expected_totals

ROOT = Path(__file__).resolve().parents[2]
FEB = {"start_date": "2024-02-01", "end_date": "2024-02-29"}
TOOLS = registry_tools()


def _plan(*tasks: tuple[str, dict]) -> dict:
    return {"tasks": [{"step": f"use {t}", "tool": t, "args": a} for t, a in tasks]}


def _problems(*tasks: tuple[str, dict], max_tasks: int = 6, roots=()) -> list[str]:
    plan = Plan(tasks=[PlanTask(tool=t, args=a) for t, a in tasks])
    return check_plan(plan, TOOLS, max_tasks=max_tasks, roots=roots)


# --- validators -----------------------------------------------------------------------------------


def test_a_valid_plan_has_no_problems_and_its_links_come_from_the_references():
    tasks = (("report_query", {**FEB, "city": "Osaka"}), ("report_query", {**FEB, "city": "Lisbon"}),
             ("calculate", {"expression": "<task-1> - <task-2>"}))  # fmt: skip
    assert _problems(*tasks) == []
    plan = Plan(tasks=[PlanTask(tool=t, args=a) for t, a in tasks])
    assert plan.links() == [(1, 3), (2, 3)]


def test_a_reference_to_a_later_or_missing_task_is_refused():
    # the first task referring to itself is told what to write instead
    assert "is task 1 itself" in " ".join(_problems(("summarize", {"text": "<task-1>"})))
    later = _problems(("ask", {"question": "q"}), ("summarize", {"text": "<task-3>"}), ("summarize", {"text": "x"}))
    assert "task 2: <task-3> is not an earlier task; task 2 may only use <task-1> to <task-1>" in " ".join(later)
    assert "<task-5> does not exist" in " ".join(
        _problems(("ask", {"question": "q"}), ("summarize", {"text": "<task-5>"}))
    )


def test_unknown_tool_unknown_argument_and_missing_argument_are_refused():
    assert "no tool 'web_search'" in " ".join(_problems(("web_search", {"q": "x"})))
    assert "has no argument 'query'" in " ".join(_problems(("ask", {"query": "x", "question": "y"})))
    assert "needs the argument 'question'" in " ".join(_problems(("ask", {"file": "a.pdf"})))


def test_an_output_kind_that_does_not_fit_is_refused():
    p = _problems(("report_query", FEB), ("see", {"image": "<task-1>", "question": "what?"}))
    assert "see.image takes a image, but <task-1> (report_query) gives a table" in " ".join(p)
    p = _problems(("chart", {"table": "sales.csv"}))
    assert "takes a table from an earlier task" in " ".join(p)


def test_an_image_that_does_not_exist_or_lies_outside_the_allowed_folders_is_refused(tmp_path):
    inside = tmp_path / "k"
    inside.mkdir()
    (inside / "a.png").write_bytes(b"x")
    assert _problems(("see", {"image": str(inside / "a.png"), "question": "q"}), roots=[inside]) == []
    assert "no file" in " ".join(_problems(("see", {"image": str(inside / "b.png"), "question": "q"}), roots=[inside]))
    p = _problems(("see", {"image": "/etc/passwd", "question": "q"}), roots=[inside])
    assert "outside the folders a plan may read" in " ".join(p)


def test_too_many_tasks_are_refused():
    assert "at most 2 are allowed" in " ".join(_problems(*[("calculate", {"expression": "1"})] * 3, max_tasks=2))


def test_the_problem_is_fed_back_and_a_plan_that_never_validates_raises_and_runs_nothing():
    bad = _plan(("summarize", {"text": "<task-2>"}))
    good = _plan(("calculate", {"expression": "2 + 2"}))
    model = ScriptedModel(bad, good)
    plan = make_plan("two plus two", TOOLS, model, max_retries=1)
    assert [t.tool for t in plan.tasks] == ["calculate"]
    assert "<task-2> does not exist" in str(model.requests[1][0])  # the reason went back to the model
    with pytest.raises(PlanError, match="no valid plan after 2 attempt"):
        make_plan("x", TOOLS, ScriptedModel(bad), max_retries=1)


def test_each_task_states_its_step_before_its_tool_and_the_prompt_shows_a_worked_example():
    model = ScriptedModel(_plan(("calculate", {"expression": "1"})))
    plan = make_plan("x", TOOLS, model)
    schema = model.requests[0][1]
    task = next(iter(schema["$defs"].values()))
    assert list(task["properties"])[:2] == ["step", "tool"] and "step" in task["required"]
    assert plan.tasks[0].step == "use calculate"
    system = model.requests[0][0][0]["content"]
    assert '"text": "<task-1>"' in system and "transcribe" not in {t.name for t in TOOLS}


def test_tool_names_are_schema_constrained_to_the_tools_offered():
    model = ScriptedModel(_plan(("calculate", {"expression": "1"})))
    make_plan("x", [ToolSpec(name="calculate", description="math", inputs={"expression": "text"})], model)
    schema = json.dumps(model.requests[0][1])
    assert '"enum": ["calculate"]' in schema or '"const": "calculate"' in schema


# --- compile and run ------------------------------------------------------------------------------


def test_the_compiled_plan_is_a_checked_yaml_flow_wired_by_outputs():
    from crewai.flow.flow_definition import FlowDefinition

    from multimodal_crew.steps.definitions import check_definition

    plan = Plan(tasks=[PlanTask(tool="report_query", args={**FEB, "city": "Osaka"}),
                       PlanTask(tool="report_query", args={**FEB, "city": "Lisbon"}),
                       PlanTask(tool="calculate", args={"expression": "<task-1> - <task-2>"})])  # fmt: skip
    d = compile_plan(plan, "difference")
    m = d["methods"]
    assert m["task_1"]["listen"] == "begin" and m["task_3"]["listen"] == {"and": ["task_1", "task_2"]}
    assert m["task_3"]["do"]["with"]["inputs"] == {"1": "${outputs.task_1}", "2": "${outputs.task_2}"}
    check_definition(FlowDefinition.from_declaration(contents=yaml.safe_dump(d)), "compiled")


def _osaka_minus_lisbon() -> tuple[dict, int]:
    t = expected_totals(FEB["start_date"], FEB["end_date"])
    return _plan(("report_query", {**FEB, "city": "Osaka"}), ("report_query", {**FEB, "city": "Lisbon"}),
                 ("calculate", {"expression": "<task-1> - <task-2>"})), t["Osaka"] - t["Lisbon"]  # fmt: skip


def test_a_plan_runs_end_to_end_and_keeps_everything_in_its_run_folder(state_home):
    """Two report_query tasks and a calculate: a table in an expression is its grand total."""
    plan, diff = _osaka_minus_lisbon()
    model = ScriptedModel(plan, {"answer": f"Osaka had {diff} more."})
    r = run_flow("plan", {"request": "How many more users did Osaka have than Lisbon in February 2024?"}, model=model)
    run = Path(r.output_dir)
    assert (run / "plan.json").is_file() and (run / "plan.yaml").is_file() and (run / "log.txt").is_file()
    recs = [json.loads((run / f"task-{i}.json").read_text()) for i in (1, 2, 3)]
    assert [x["status"] for x in recs] == ["ok", "ok", "ok"]
    assert recs[2]["value"] == str(diff) and recs[2]["args"]["expression"].endswith(f"- {recs[1]['value']}")
    assert r.status == "ok" and r.text == f"Osaka had {diff} more." and r.model_calls == 2
    assert json.loads((run / "status.json").read_text())["status"] == "done"
    assert (run / "answer.md").read_text().strip() == r.text


def test_a_failing_task_skips_its_dependants_the_others_finish_and_the_run_is_incomplete(state_home):
    plan = _plan(("report_query", {**FEB, "city": "Paris"}),  # unknown city: fails
                 ("calculate", {"expression": "<task-1> * 2"}),  # depends on it: skipped
                 ("calculate", {"expression": "6 * 7"}))  # independent: runs  # fmt: skip
    model = ScriptedModel(plan, {"answer": "6 * 7 is 42."})
    r = run_flow("plan", {"request": "x"}, model=model)
    run = Path(r.output_dir)
    recs = {i: json.loads((run / f"task-{i}.json").read_text()) for i in (1, 2, 3)}
    assert recs[1]["status"] == "failed" and "unknown city 'Paris'" in recs[1]["error"]
    assert recs[2]["status"] == "skipped" and "task 1" in recs[2]["error"]
    assert recs[3]["status"] == "ok" and recs[3]["value"] == "42"
    assert r.status == "incomplete" and "task 1 (report_query) failed" in r.reason
    assert json.loads((run / "status.json").read_text())["status"] == "incomplete"


def test_numbers_in_the_answer_must_come_from_the_task_outputs(state_home):
    plan = _plan(("calculate", {"expression": "6 * 7"}), ("calculate", {"expression": "<task-1> + 1"}))
    model = ScriptedModel(plan, {"answer": "It is 44."}, {"answer": "It is 43."})
    r = run_flow("plan", {"request": "6 times 7 plus 1"}, model=model)
    assert r.status == "ok" and r.text == "It is 43."
    assert "44, which no tool result contains" in str(model.requests[-1][0])


def test_a_missing_image_is_refused_before_anything_runs(state_home):
    model = ScriptedModel(_plan(("calculate", {"expression": "1"})))
    with pytest.raises(InputError, match="no such image: nope.png"):
        run_flow("plan", {"request": "what is in it?", "images": ["nope.png"]}, model=model)
    assert model.requests == []


def test_a_path_that_leaves_the_run_folder_is_refused_and_a_plain_name_is_written_there(state_home):
    for bad in ("../../etc/x.png", "/tmp/x.png", "sub/x.png", ".."):
        p = _problems(("report_query", FEB), ("chart", {"table": "<task-1>", "path": bad}))
        assert "must be a plain file name" in " ".join(p), bad
    plan = _plan(("report_query", FEB), ("chart", {"table": "<task-1>", "path": "feb.png"}))
    r = run_flow("plan", {"request": "chart February"}, model=ScriptedModel(plan, {"answer": "Drawn."}))
    assert (Path(r.output_dir) / "feb.png").stat().st_size > 1000


def test_a_request_no_tool_can_serve_gets_an_explanation_and_nothing_runs(state_home):
    model = ScriptedModel({"tasks": [], "unsupported": "booking flights needs a flight tool"})
    r = run_flow("plan", {"request": "Book me a flight to Osaka"}, model=model)
    assert r.status == "abstained" and "flight tool" in r.reason and r.output_dir is None
    assert not (state_home / "outputs" / "plan").exists() or not any((state_home / "outputs" / "plan").iterdir())
    with pytest.raises(PlanError, match="no tasks"):
        make_plan("x", TOOLS, ScriptedModel({"tasks": []}), max_retries=0)


def test_a_second_value_in_a_numbered_argument_is_told_to_become_a_second_task():
    problems = _problems(("report_query", {**FEB, "city": "Osaka", "city2": "Lisbon"}))
    assert "for a second city, write a second report_query task" in " ".join(problems)
