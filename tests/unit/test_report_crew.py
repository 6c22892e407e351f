"""The YAML report crew's wiring on a scripted CrewAI LLM (no model)."""

from pathlib import Path

import yaml

from multimodal_crew.crews.report.crew import ReportCrew, run_report_crew
from multimodal_crew.datasource import markdown_table, parse_query, query_report
from tests.fakes import ScriptedToolLLM

ROOT = Path(__file__).resolve().parents[2]
JAN = {"start_date": "2024-01-01", "end_date": "2024-01-31", "city": ""}


def _table() -> str:
    return markdown_table(
        query_report(parse_query("2024-01-01", "2024-01-31"), ROOT / "knowledge" / "daily_active_users.csv")
    )


def test_agent_and_task_come_from_yaml():
    agents = yaml.safe_load((ROOT / "config/report/agents.yaml").read_text())
    crew = ReportCrew(llm=ScriptedToolLLM(model="scripted", script=["x"])).crew()
    assert crew.agents[0].role.strip() == agents["analyst"]["role"].strip()
    assert [t.name for t in crew.agents[0].tools] == ["report_query"]


def test_tool_call_then_table(state_home):
    llm = ScriptedToolLLM(
        model="scripted",
        script=[
            {"tool": "report_query", "arguments": {"start_date": "2024-01-01", "end_date": "2024-01-31", "city": ""}},
            _table(),
        ],
    )
    result = run_report_crew(JAN, model=llm)
    assert result.tool_called and result.table_matches
    assert result.tool_calls == [{"start_date": "2024-01-01", "end_date": "2024-01-31", "city": ""}]
    # the model was offered the tool, and its result came back in the conversation
    assert llm.seen[0]["tools"][0]["function"]["name"] == "report_query"
    assert any("Berlin" in str(m.get("content")) for m in llm.seen[1]["messages"] if m.get("role") == "tool")
    # the task text was filled from the inputs
    assert "2024-01-01" in str(llm.seen[0]["messages"])


def test_invented_table_is_detected(state_home):
    llm = ScriptedToolLLM(model="scripted", script=["| City | Users |\n|---|---|\n| New York | 120000 |"])
    result = run_report_crew(JAN, model=llm)
    assert not result.tool_called and not result.table_matches
