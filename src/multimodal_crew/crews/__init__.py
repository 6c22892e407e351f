"""The crews: CrewBase classes whose agents and tasks are YAML (``config/<crew>/``), and, in each
crew's ``steps.py``, the registered steps that run them. Crews use steps (tools, the model)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["use_config", "sequential"]


def use_config(crew: Any, folder: Path) -> None:
    """Point a ``@CrewBase`` instance (in its ``__init__``) at ``folder``'s agents.yaml and tasks.yaml."""
    for name in ("agents", "tasks"):
        path = Path(folder) / f"{name}.yaml"
        if not path.is_file():
            raise ConfigError(f"{path} is missing: the crew's {name} are defined there")
        setattr(crew, f"original_{name}_config_path", str(path))  # read by CrewBase after __init__


def sequential(crew: Any) -> Any:
    """The ``@crew`` of a CrewBase whose tasks run in YAML order, quietly."""
    from crewai import Crew, Process

    return Crew(agents=crew.agents, tasks=crew.tasks, process=Process.sequential, verbose=False)
