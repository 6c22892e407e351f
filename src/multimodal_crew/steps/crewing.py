"""What the crew steps (``workorder``, ``research``) share: the CrewAI LLM of ``deps.model`` with its
calls counted, tools from the registry by name, and the passages ``knowledge_search`` showed an agent."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import InputError
from .knowledge import Passage
from .registry import Deps, all_steps

__all__ = ["CREW_STEPS", "crew_llm", "found_passages", "search_tool", "tools_by_name"]

CREW_STEPS = frozenset({"workorder", "research"})  # whole crews: not offered to another crew's agents


def _requests(llm: Any) -> int:
    usage = getattr(llm, "_token_usage", None) or {}
    return int(usage.get("successful_requests", 0))


@contextmanager
def crew_llm(deps: Deps) -> Iterator[Any]:
    """The CrewAI LLM of the configured model (never CrewAI's default), behind a relay that stops the crew
    when the run is cancelled (before the next model call); the requests the crew makes through it are
    added to ``deps.model_calls`` (``structured()`` calls are counted already)."""
    from ..models.configured import RunLLM

    relay = RunLLM.for_run(deps)
    before = _requests(relay.inner)
    try:
        yield relay
    finally:
        deps.add_calls(max(_requests(relay.inner) - before, 0))


def tools_by_name(names: str, deps: Deps, *, have: tuple[str, ...] = ()) -> list:
    """``"report_query, see"`` -> those registered steps as CrewAI tools; an unknown name is an ``InputError``."""
    from .tools import as_tool

    wanted = list(dict.fromkeys(n.strip() for n in names.split(",") if n.strip() and n.strip() not in have))
    offered = sorted(n for n, s in all_steps().items() if s.tool and n not in CREW_STEPS)
    for name in wanted:
        if name not in offered:
            raise InputError(f"unknown tool {name!r}; the tools an agent can use are: {', '.join(offered)}")
    return [as_tool(n, deps) for n in wanted]


def search_tool(deps: Deps, on_output: Any = None) -> Any:
    """The registered ``knowledge_search`` step as the tool a crew's researcher gets: ``query`` and
    ``file`` only (``k`` and ``cross_lingual`` keep their defaults)."""
    from .tools import as_tool

    return as_tool("knowledge_search", deps, on_output=on_output, only=("query", "file"))


def found_passages(tool: Any) -> list[Passage]:
    """Every passage a ``knowledge_search`` tool returned to an agent, in order."""
    return [p for out in tool.outputs for p in getattr(out, "passages", [])]
