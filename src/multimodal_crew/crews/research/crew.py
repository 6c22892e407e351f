"""The research crew (``config/research/``): planner, researcher, writer and critic.

The researcher gets ``knowledge_search`` always, and ``report_query`` / ``vision_ask`` when the
caller asks for them. The planner's and critic's outputs are typed (``Plan``, ``Verdict``);
on the embedded model CrewAI's ``response_model`` becomes a llama.cpp grammar.
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

__all__ = ["ResearchCrew", "Plan", "Verdict", "process_from_yaml"]

_CONFIG = get_settings().config_path / "research"


class Plan(BaseModel):
    questions: list[str] = Field(..., min_length=1, max_length=4)


class Verdict(BaseModel):
    approved: bool
    problems: list[str] = Field(default_factory=list, max_length=8)


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
    ):
        self.llm = llm
        self.search = search or KnowledgeSearchTool()
        self.extra_tools = list(extra_tools or [])
        self.process = process or process_from_yaml()
        self.step_callback = step_callback
        self.task_callback = task_callback

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
        return Task(config=self.tasks_config["plan_task"], output_pydantic=Plan)

    @task
    def research_task(self) -> Task:
        return Task(config=self.tasks_config["research_task"])

    @task
    def write_task(self) -> Task:
        return Task(config=self.tasks_config["write_task"])

    @task
    def review_task(self) -> Task:
        return Task(config=self.tasks_config["review_task"], output_pydantic=Verdict)

    @crew
    def crew(self) -> Crew:
        kwargs: dict[str, Any] = {}
        if self.process == Process.hierarchical:
            kwargs["manager_llm"] = self.llm
            agents = self.agents  # the manager delegates; agents keep their tools
            tasks = [Task(description=t.description, expected_output=t.expected_output,
                          output_pydantic=t.output_pydantic) for t in self.tasks]  # fmt: skip
        else:
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
