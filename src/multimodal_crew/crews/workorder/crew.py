"""The work-order crew (``config/workorder/``): a researcher with ``knowledge_search`` and a
professional writer who drafts an email asking a contractor or provider to act; and the
one-task crew of the ``reviser``, who corrects an email's page references when the guard
refuses them. The caller gives the tools (from the step registry) and the YAML folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crewai import Agent, Crew, Process, Task
from crewai.project import CrewBase, agent, crew, task

from .. import sequential, use_config

__all__ = ["WorkOrderCrew"]


@CrewBase
class WorkOrderCrew:
    def __init__(self, config_dir: Path, llm: Any, tools: list):
        use_config(self, config_dir)
        self.llm = llm
        self.tools = list(tools)

    @agent
    def researcher(self) -> Agent:
        return Agent(config=self.agents_config["researcher"], llm=self.llm, tools=self.tools, verbose=False)

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
        return sequential(self)

    def revision_crew(self) -> Crew:
        """The reviser alone, on ``revise_task`` (inputs: findings, email, problems, pages, signature)."""
        reviser = Agent(config=self.agents_config["reviser"], llm=self.llm, tools=[], verbose=False)
        revise = Task(config=self.tasks_config["revise_task"], agent=reviser)
        return Crew(agents=[reviser], tasks=[revise], process=Process.sequential, verbose=False)
