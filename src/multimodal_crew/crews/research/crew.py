"""The research crew (``config/research/``): planner, researcher, writer and critic.

The caller gives the researcher its tools (``knowledge_search`` first, then any extra ones, all
from the step registry) and the folder of the YAML files (``settings.config_path / "research"``).
Every task's output is typed (``Plan``, ``Findings``, ``Draft``, ``Verdict``); on the embedded
model each becomes a llama.cpp grammar (for the researcher, the final answer after its tool
calls). ``guardrails`` (task name -> CrewAI guardrail) let the caller check an output in code
before the next task sees it. ``crew.yaml`` chooses the process; ``hierarchical`` adds a manager
agent on the same model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from crewai import Agent, Crew, Process, Task
from crewai.project import CrewBase, agent, crew, task
from pydantic import BaseModel

from ...errors import ConfigError
from .. import use_config
from .models import Draft, Finding, Findings, Paragraph, Plan, Problem, Verdict

__all__ = [
    "ResearchCrew", "Plan", "Finding", "Findings", "Paragraph", "Draft", "Problem", "Verdict", "process_from_yaml",
]  # fmt: skip


def process_from_yaml(path: Path) -> Process:
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
    def __init__(
        self,
        config_dir: Path,
        llm: Any,
        tools: list,
        *,
        process: Process | None = None,
        task_callback: Any = None,
        guardrails: dict[str, Any] | None = None,
    ):
        use_config(self, config_dir)
        self.llm = llm
        self.tools = list(tools)
        self.process = process or process_from_yaml(Path(config_dir) / "crew.yaml")
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
        return self._agent("researcher", self.tools)

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
        return Crew(
            agents=self.agents,
            tasks=self.tasks,
            process=self.process,
            verbose=False,
            task_callback=self.task_callback,
            **kwargs,
        )
