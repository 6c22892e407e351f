"""The CrewAI ``Flow`` class every declarative flow of this project is built from.

CrewAI gives every ``Flow`` instance a ``Memory`` of its own unless the class says otherwise
(``_skip_auto_memory``, as CrewAI's own agent executor and memory flows do). Our flows keep no
agent memory: their state is their inputs and their steps' results. Creating that Memory costs
the first flow of each process ~2 s (it imports LanceDB), and LanceDB imported in the scheduler's
fork server warns, at every fork, of a possible deadlock in the forked run.
"""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["flow_class"]


@functools.cache
def flow_class() -> type:
    from crewai.flow.flow import Flow

    class MMCrewFlow(Flow[Any]):
        """A declarative flow without CrewAI's auto-created Memory."""

        _skip_auto_memory: bool = True

    return MMCrewFlow
