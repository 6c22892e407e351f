"""The YAML report crew (config/flows/report_crew.yaml -> the `report_crew` step) on a scripted CrewAI LLM."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from multimodal_crew.crews.report.crew import ReportCrew, ReportCrewResult, run_report_crew
from multimodal_crew.datasource import markdown_table, parse_query, query_report
from multimodal_crew.errors import InputError
from multimodal_crew.flows import run_flow
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
    return r, ReportCrewResult.model_validate(r.data), model.llm


def test_agent_and_task_come_from_yaml():
    agents = yaml.safe_load((ROOT / "config/report/agents.yaml").read_text())
    from multimodal_crew.steps import Deps
    from multimodal_crew.steps.tools import as_tool

    llm = ScriptedToolLLM(model="scripted", script=["x"])
    crew = ReportCrew(llm=llm, tool=as_tool("report_query", Deps()), config_dir=ROOT / "config" / "report").crew()
    assert crew.agents[0].role.strip() == agents["analyst"]["role"].strip()
    assert [t.name for t in crew.agents[0].tools] == ["report_query"]


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


def test_run_report_crew_takes_a_bare_crewai_llm(state_home):
    """``bench/protocol.py`` runs the crew outside a flow on a CrewAI LLM."""
    llm = ScriptedToolLLM(model="scripted", script=[CALL, _table()])
    result = run_report_crew(JAN, model=llm)
    assert result.tool_called and result.table_matches


def test_crew_modules_import_no_flow_and_read_no_settings_at_import():
    code = (
        "import sys, multimodal_crew.settings as s\n"
        "def boom(*a, **k): raise SystemExit('settings read at import')\n"
        "s.get_settings = boom\n"
        "import multimodal_crew.crews.report.crew, multimodal_crew.steps.report, multimodal_crew.steps.report_data\n"
        "import multimodal_crew.steps.calc, multimodal_crew.steps.heartbeat\n"
        "print(sorted(m for m in sys.modules if m.startswith('multimodal_crew.flows')))\n"
    )
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip() == "[]"
