"""The report crew declared in config/flows/report_crew.yaml (`call: crew`), on a scripted CrewAI LLM."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from multimodal_crew.datasource import markdown_table, parse_query, query_report
from multimodal_crew.errors import FlowDefinitionError, InputError
from multimodal_crew.flows import load_definition, run_flow
from multimodal_crew.steps.report_data import ReportCheck
from tests.fakes import ScriptedRuntime, ScriptedToolLLM

ROOT = Path(__file__).resolve().parents[2]
JAN = {"start_date": "2024-01-01", "end_date": "2024-01-31", "city": ""}
CALL = {"tool": "report_query", "arguments": {"start_date": "2024-01-01", "end_date": "2024-01-31", "city": ""}}


def _table() -> str:
    return markdown_table(
        query_report(parse_query("2024-01-01", "2024-01-31"), ROOT / "knowledge" / "daily_active_users.csv")
    )


def run_crew_flow(script: list, inputs: dict = JAN):
    """The report_crew flow on a runtime whose CrewAI LLM plays ``script``; (RunResult, result, llm)."""
    model = ScriptedRuntime(script)
    r = run_flow("report_crew", inputs, model=model)
    return r, ReportCheck.model_validate(r.data), model.llm


def test_the_agent_its_tool_and_its_task_come_from_the_flow_yaml(state_home):
    flow = yaml.safe_load((ROOT / "config/flows/report_crew.yaml").read_text())
    crew = flow["methods"]["crew"]["do"]
    assert crew["call"] == "crew"
    r, _, llm = run_crew_flow([CALL, _table()])
    system = str(llm.seen[0]["messages"][0]["content"])
    assert crew["with"]["agents"]["analyst"]["role"] in system  # the agent the YAML declares ...
    assert [t["function"]["name"] for t in llm.seen[0]["tools"]] == ["report_query"]  # ... with its tool
    assert r.model_calls == 2  # the agent's two requests went through the run's model, counted


def _with_tool(tmp_path, ref: str):
    d = yaml.safe_load((ROOT / "config/flows/report_crew.yaml").read_text())
    d["methods"]["crew"]["do"]["with"]["agents"]["analyst"]["tools"] = [ref]
    path = tmp_path / "report_crew.yaml"
    path.write_text(yaml.safe_dump(d), encoding="utf-8")
    return path


def test_an_agent_tool_that_is_not_a_registered_step_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(
        FlowDefinitionError, match="method 'crew': agent 'analyst': tool .*reprot_query.* not a registered"
    ):
        load_definition(_with_tool(tmp_path, "multimodal_crew.steps.tools:reprot_query"))
    with pytest.raises(FlowDefinitionError, match="tools:finish' is not a registered tool step"):
        load_definition(_with_tool(tmp_path, "multimodal_crew.steps.tools:finish"))  # flow wiring, not a tool


def test_tool_call_then_table(state_home):
    r, result, llm = run_crew_flow([CALL, _table()])
    assert result.tool_called and result.table_matches
    assert result.tool_calls == [{"start_date": "2024-01-01", "end_date": "2024-01-31", "city": ""}]
    assert r.flow == "report_crew" and r.status == "ok" and "| Berlin |" in r.text
    # the model was offered the tool, and its result came back in the conversation
    assert llm.seen[0]["tools"][0]["function"]["name"] == "report_query"
    assert any("Berlin" in str(m.get("content")) for m in llm.seen[1]["messages"] if m.get("role") == "tool")
    # the task text was filled from the inputs
    assert "2024-01-01" in str(llm.seen[0]["messages"])


def test_invented_table_is_detected(state_home):
    r, result, _ = run_crew_flow(["| City | Users |\n|---|---|\n| New York | 120000 |"])
    assert not result.tool_called and not result.table_matches
    assert r.status == "incomplete" and "never called report_query" in r.reason


def test_a_changed_number_after_the_tool_call_is_detected(state_home):
    table = _table()
    first_total = table.splitlines()[2].split("|")[3].strip()
    r, result, _ = run_crew_flow([CALL, table.replace(first_total, str(int(first_total) + 1), 1)])
    assert result.tool_called and not result.table_matches
    assert r.status == "incomplete" and "differs" in r.reason


def test_bad_input_fails_before_the_agent_runs(state_home):
    model = ScriptedRuntime([CALL, "x"])
    with pytest.raises(InputError, match="unknown city 'Paris'"):
        run_flow("report_crew", {**JAN, "city": "Paris"}, model=model)
    assert model.llm.seen == []


def test_a_tool_call_that_fails_is_told_to_the_agent_and_not_counted(state_home):
    bad = {"tool": "report_query", "arguments": {**CALL["arguments"], "city": "Paris"}}
    r, result, llm = run_crew_flow([bad, CALL, _table()])
    assert "unknown city 'Paris'" in str(llm.seen[1]["messages"])  # the agent saw the error
    assert result.tool_calls == [CALL["arguments"]] and r.status == "ok"


def test_bench_protocol_runs_the_flow_on_a_bare_crewai_llm(state_home):
    """``bench/protocol.py`` gives the flow a plain CrewAI LLM (its baseline) instead of a runtime."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from protocol import run_report_crew
    finally:
        sys.path.remove(str(ROOT / "bench"))
    llm = ScriptedToolLLM(model="scripted", script=[CALL, _table()])
    result = run_report_crew(JAN, llm)
    assert result.tool_called and result.table_matches


def test_crew_modules_import_no_flow_and_read_no_settings_at_import():
    code = (
        "import sys, multimodal_crew.settings as s\n"
        "def boom(*a, **k): raise SystemExit('settings read at import')\n"
        "s.get_settings = boom\n"
        "import multimodal_crew.steps.tools, multimodal_crew.steps.report, multimodal_crew.steps.report_data\n"
        "import multimodal_crew.steps.calc, multimodal_crew.steps.heartbeat\n"
        "print(sorted(m for m in sys.modules if m.startswith('multimodal_crew.flows')))\n"
    )
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip() == "[]"
