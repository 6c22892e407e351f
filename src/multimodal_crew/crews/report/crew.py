"""The report as a one-agent CrewAI crew defined in YAML (``config/report/``).

Here the agent must decide to call ``report_query`` itself: the other CrewAI shape, kept next
to the ``report`` flow so both can be compared (``bench/protocol.py``). The agent's one tool is
the registered step ``report_query`` (``steps.tools.as_tool``); its LLM is the flow's model
(``deps.model.llm``), so on the embedded model each agent step is grammar-constrained to a tool
call or, once a tool result is in, a final answer. The answer is then checked against the data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crewai import Agent, Crew, Task
from crewai.project import CrewBase, agent, crew, task

from ...datasource import table_matches
from ...errors import ConfigError
from ...steps.crewing import crew_llm
from ...steps.registry import Deps, call_step
from ...steps.report_data import ReportQueryInputs, ReportTable
from ...steps.results import StepOutput
from ...steps.tools import as_tool
from .. import sequential, use_config

__all__ = ["ReportCrew", "ReportCrewResult", "run_crew", "run_report_crew"]


class ReportCrewResult(StepOutput):
    answer: str
    tool_calls: list[dict]  # the arguments of every report_query call that returned data, in order
    tool_called: bool
    table_matches: bool

    def result_fields(self) -> dict[str, Any]:
        if not self.tool_called:
            why = "the agent never called report_query: its table is not from the data"
        elif not self.table_matches:
            why = "the agent's table differs from what report_query returned"
        else:
            return {"text": self.answer}
        return {"text": self.answer, "status": "incomplete", "reason": why}


@CrewBase
class ReportCrew:
    """One analyst, one task, one tool, from ``<config_dir>/agents.yaml`` and ``tasks.yaml``."""

    def __init__(self, *, llm: Any, tool: Any, config_dir: Path | str):
        # the model and the tool are given: an agent without an llm would get CrewAI's default (OpenAI)
        use_config(self, Path(config_dir))
        self.llm = llm
        self.tool = tool

    @agent
    def analyst(self) -> Agent:
        return Agent(config=self.agents_config["analyst"], llm=self.llm, tools=[self.tool], verbose=False)

    @task
    def report_task(self) -> Task:
        return Task(config=self.tasks_config["report_task"])

    @crew
    def crew(self) -> Crew:
        return sequential(self)


def run_crew(inputs: ReportQueryInputs, deps: Deps) -> ReportCrewResult:
    """The ``report_crew`` step: kick the crew off and check its answer against the data."""
    expected: ReportTable = call_step("report_query", inputs, deps)  # bad input fails here, before the model
    if getattr(deps.model, "llm", None) is None:
        raise ConfigError("the configured model has no CrewAI LLM for agents (`.llm`); set MODEL to a chat model")
    calls: list[dict] = []
    tool = as_tool("report_query", deps, on_output=lambda args, out: calls.append(dict(args)))
    deps.step("the analyst agent is writing the report")
    with crew_llm(deps) as llm:  # the configured model, its requests counted in deps.model_calls
        crew_ = ReportCrew(llm=llm, tool=tool, config_dir=deps.settings.config_path / "report").crew()
        out = crew_.kickoff(inputs=inputs.model_dump())
    return ReportCrewResult(
        answer=out.raw,
        tool_calls=calls,
        tool_called=bool(calls),
        table_matches=table_matches(out.raw, expected.data),
    )


def run_report_crew(inputs: dict, model: Any = None, settings: Any = None) -> ReportCrewResult:
    """Run the crew outside a flow (``bench/protocol.py``). ``model`` is a runtime (with ``.llm``)
    or a CrewAI LLM; None: the configured model."""
    if model is not None and not hasattr(model, "complete_json") and not hasattr(model, "llm"):

        class _Runtime:  # a bare CrewAI LLM: what agents use
            llm = model

        model = _Runtime()
    return call_step("report_crew", inputs, Deps(settings=settings, model=model))
