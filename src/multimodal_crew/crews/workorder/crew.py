"""The work-order crew (``config/workorder/``): a researcher with ``knowledge_search`` and a
professional writer who drafts an email asking a contractor or provider to act."""

from __future__ import annotations

from typing import Any

from crewai import Agent, Crew, Process, Task
from crewai.project import CrewBase, agent, crew, task

from ...settings import get_settings
from ...tools.knowledge_search import KnowledgeSearchTool

__all__ = ["WorkOrderCrew"]

_CONFIG = get_settings().config_path / "workorder"


@CrewBase
class WorkOrderCrew:
    agents_config = str(_CONFIG / "agents.yaml")
    tasks_config = str(_CONFIG / "tasks.yaml")

    def __init__(self, llm: Any = None, tool: KnowledgeSearchTool | None = None):
        self.llm = llm
        self.tool = tool or KnowledgeSearchTool()

    @agent
    def researcher(self) -> Agent:
        return Agent(config=self.agents_config["researcher"], llm=self.llm, tools=[self.tool], verbose=False)

    @agent
    def writer(self) -> Agent:
        return Agent(config=self.agents_config["writer"], llm=self.llm, tools=[], verbose=False)

    @task
    def research_task(self) -> Task:
        return Task(config=self.tasks_config["research_task"])

    @task
    def email_task(self) -> Task:
        return Task(config=self.tasks_config["email_task"])

    @crew
    def crew(self) -> Crew:
        return Crew(agents=self.agents, tasks=self.tasks, process=Process.sequential, verbose=False)
