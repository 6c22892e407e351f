"""The report as a one-agent CrewAI crew defined in YAML (``config/report/``).

Here the agent must decide to call ``report_query`` itself: the other CrewAI
shape, kept next to the flow so both can be compared (``bench/protocol.py``).
On the embedded model each agent step is grammar-constrained to a tool call or,
once a tool result is in, a final answer.
"""

from __future__ import annotations

from typing import Any

from crewai import Agent, Crew, Process, Task
from crewai.project import CrewBase, agent, crew, task
from pydantic import BaseModel

from ...datasource import parse_query, table_matches
from ...flows.report import ReportInputs
from ...settings import get_settings
from ...tools.report_query import ReportQueryTool

__all__ = ["ReportCrew", "ReportCrewInputs", "ReportCrewResult", "run_report_crew"]

_CONFIG = get_settings().config_path / "report"


class ReportCrewInputs(ReportInputs):
    """The same inputs as the report flow."""


class ReportCrewResult(BaseModel):
    answer: str
    tool_calls: list[dict]
    tool_called: bool
    table_matches: bool


@CrewBase
class ReportCrew:
    """One analyst, one task, one tool."""

    agents_config = str(_CONFIG / "agents.yaml")
    tasks_config = str(_CONFIG / "tasks.yaml")

    def __init__(self, llm: Any = None, tool: ReportQueryTool | None = None):
        self.llm = llm
        self.tool = tool or ReportQueryTool()

    @agent
    def analyst(self) -> Agent:
        return Agent(config=self.agents_config["analyst"], llm=self.llm, tools=[self.tool], verbose=False)

    @task
    def report_task(self) -> Task:
        return Task(config=self.tasks_config["report_task"])

    @crew
    def crew(self) -> Crew:
        return Crew(agents=self.agents, tasks=self.tasks, process=Process.sequential, verbose=False)


def run_report_crew(inputs: dict, model: Any = None) -> ReportCrewResult:
    """Kick the crew off and check its answer against the data."""
    q = parse_query(inputs["start_date"], inputs["end_date"], inputs.get("city"))
    if model is None:
        from ...models.runtime import get_runtime

        model = get_runtime()
    llm = getattr(model, "llm", model)
    tool = ReportQueryTool()
    expected = tool.query(q.start.isoformat(), q.end.isoformat(), q.city or "")  # bad input fails here, early
    out = ReportCrew(llm=llm, tool=tool).crew().kickoff(inputs=dict(inputs))
    return ReportCrewResult(
        answer=out.raw,
        tool_calls=tool.calls,
        tool_called=bool(tool.calls),
        table_matches=table_matches(out.raw, expected),
    )
