"""The research crew (``config/research/``): planner, researcher, writer and critic.

The researcher gets ``knowledge_search`` always, and ``report_query`` / ``vision_ask`` when the
caller asks for them. Every task's output is typed (``Plan``, ``Findings``, ``Draft``,
``Verdict``); on the embedded model each becomes a llama.cpp grammar (for the researcher, the
final answer after its tool calls). ``guardrails`` (task name -> CrewAI guardrail) let the flow
check an output in code before the next task sees it.
``crew.yaml`` chooses the process; ``hierarchical`` adds a manager agent on the same model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from crewai import Agent, Crew, Process, Task
from crewai.project import CrewBase, agent, crew, task
from pydantic import BaseModel, Field

from ...errors import ConfigError
from ...settings import get_settings
from ...tools.knowledge_search import KnowledgeSearchTool

__all__ = [
    "ResearchCrew",
    "Plan",
    "Finding",
    "Findings",
    "Paragraph",
    "Draft",
    "Problem",
    "Verdict",
    "process_from_yaml",
]

_CONFIG = get_settings().config_path / "research"


class Plan(BaseModel):
    questions: list[str] = Field(..., min_length=1, max_length=4)


class Finding(BaseModel):
    fact: str = Field(..., description="what the page says, in one short sentence")
    file: str = Field(..., description="the file of the knowledge_search result")
    page: int = Field(..., description="the page of the knowledge_search result")
    quote: str = Field(..., description="one sentence copied word for word from that result")


class Findings(BaseModel):
    findings: list[Finding] = Field(..., max_length=8)


class Paragraph(BaseModel):
    text: str = Field(..., description="one paragraph of the report, using only the findings it cites")
    sources: list[int] = Field(..., min_length=1, max_length=4, description="numbers of the findings it uses")


class Draft(BaseModel):
    title: str
    paragraphs: list[Paragraph] = Field(..., min_length=1, max_length=6)


class Problem(BaseModel):
    paragraph: int = Field(..., description="the number of the paragraph")
    words: str = Field(..., description="the words of that paragraph that its quotes do not say, copied exactly")
    reason: str = Field("", description="why, in a few words")


class Verdict(BaseModel):
    problems: list[Problem] = Field(default_factory=list, max_length=8)
    approved: bool


def process_from_yaml(path: Path | None = None) -> Process:
    path = path or _CONFIG / "crew.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        return Process.sequential
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: {str(e).splitlines()[0]}") from None
    value = str(data.get("process", "sequential")).strip().lower()
    if value not in ("sequential", "hierarchical"):
        raise ConfigError(f"{path}: process must be sequential or hierarchical, not {value!r}")
    return Process(value)


@CrewBase
class ResearchCrew:
    agents_config = str(_CONFIG / "agents.yaml")
    tasks_config = str(_CONFIG / "tasks.yaml")

    def __init__(
        self,
        llm: Any = None,
        search: KnowledgeSearchTool | None = None,
        extra_tools: list | None = None,
        process: Process | None = None,
        step_callback: Any = None,
        task_callback: Any = None,
        guardrails: dict[str, Any] | None = None,
    ):
        self.llm = llm
        self.search = search or KnowledgeSearchTool()
        self.extra_tools = list(extra_tools or [])
        self.process = process or process_from_yaml()
        self.step_callback = step_callback
        self.task_callback = task_callback
        self.guardrails = dict(guardrails or {})

    def _task(self, name: str, output: type[BaseModel]) -> Task:
        extra: dict[str, Any] = {}
        if name in self.guardrails:
            extra = {"guardrail": self.guardrails[name], "guardrail_max_retries": 1}
        return Task(config=self.tasks_config[name], output_pydantic=output, **extra)

    def _agent(self, name: str, tools: list) -> Agent:
        return Agent(config=self.agents_config[name], llm=self.llm, tools=tools, verbose=False)

    @agent
    def planner(self) -> Agent:
        return self._agent("planner", [])

    @agent
    def researcher(self) -> Agent:
        return self._agent("researcher", [self.search, *self.extra_tools])

    @agent
    def writer(self) -> Agent:
        return self._agent("writer", [])

    @agent
    def critic(self) -> Agent:
        return self._agent("critic", [])

    @task
    def plan_task(self) -> Task:
        return self._task("plan_task", Plan)

    @task
    def research_task(self) -> Task:
        return self._task("research_task", Findings)

    @task
    def write_task(self) -> Task:
        return self._task("write_task", Draft)

    @task
    def review_task(self) -> Task:
        return self._task("review_task", Verdict)

    @crew
    def crew(self) -> Crew:
        kwargs: dict[str, Any] = {}
        if self.process == Process.hierarchical:
            # A manager agent on the same model runs every task. The tasks keep their agents, so
            # CrewAI offers the manager delegation to that task's agent only (a 1.5B manager left
            # to choose asked the planner to do the research), and the agents keep their tools.
            kwargs["manager_llm"] = self.llm
        agents, tasks = self.agents, self.tasks
        return Crew(
            agents=agents,
            tasks=tasks,
            process=self.process,
            verbose=False,
            step_callback=self.step_callback,
            task_callback=self.task_callback,
            **kwargs,
        )
