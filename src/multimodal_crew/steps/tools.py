"""Registered steps as CrewAI tools: agents get their tools from the registry, by name.

>>> tools = [as_tool("knowledge_search", deps), as_tool("report_query", deps)]  # doctest: +SKIP

A tool returns its step's output as text for the agent, records every output (``.outputs``,
so a flow can check afterwards what an agent was actually shown) and every successful call
(``deps.tool_calls``), and tells the agent of an error (``Error: ...``) so it can correct the
call instead of the crew dying. In a cancelled run a tool raises ``RunCancelled`` instead of running.

In a YAML flow, an agent of a ``call: crew`` or ``call: agent`` method names its tools by ref;
the step runs with the flow's deps (``models.configured.current_deps``)::

    tools: ["multimodal_crew.steps.tools:report_query"]
"""

from __future__ import annotations

import functools
from typing import Any

from crewai.tools import BaseTool
from pydantic import BaseModel, ConfigDict, PrivateAttr, create_model

from ..errors import MMCrewError, RunCancelled
from .registry import Deps, call_step, get_step
from .results import StepOutput

__all__ = ["StepTool", "as_tool"]


class StepTool(BaseTool):
    """A CrewAI tool that runs one registered step."""

    _step: str = PrivateAttr(default="")
    _deps: Any = PrivateAttr(default=None)
    _outputs: list = PrivateAttr(default_factory=list)
    _on_output: Any = PrivateAttr(default=None)

    def _run(self, **kwargs: Any) -> str:
        deps = self._deps_now()
        # a cancelled run runs no more tools. CrewAI hands a tool's exception to the agent as text and
        # carries on, so what stops the crew is the agent's next model call (models.configured._Relay)
        deps.check_cancelled()
        try:
            out = call_step(self._step, kwargs, deps)
        except RunCancelled:
            raise
        except MMCrewError as e:  # tell the agent, so it can correct the call
            return f"Error: {e}"
        self._outputs.append(out)
        deps.record_tool_call(self._step, kwargs)
        if self._on_output is not None:
            self._on_output(kwargs, out)
        if isinstance(out, StepOutput):
            return str(out.result_fields().get("text", ""))
        return out.model_dump_json() if isinstance(out, BaseModel) else str(out)

    def _deps_now(self) -> Deps:
        if self._deps is not None:
            return self._deps
        from ..models.configured import current_deps

        return current_deps() or Deps()  # outside any flow: the process settings

    @property
    def outputs(self) -> list:
        """Every output this tool returned to an agent so far, in order."""
        return list(self._outputs)


def as_tool(
    name: str, deps: Deps, *, on_output: Any = None, description: str | None = None, only: tuple[str, ...] = ()
) -> StepTool:
    """The registered step ``name`` as a CrewAI tool running with ``deps``.
    ``on_output(arguments, output)`` is told of every call (a flow's progress log); ``only`` shows the
    agent just those inputs (the others keep their defaults)."""
    entry = get_step(name)
    if not entry.tool:
        raise ValueError(f"step {name!r} is flow wiring, not a tool")
    schema = entry.input_model
    if only:
        fields = {f: (schema.model_fields[f].annotation, schema.model_fields[f]) for f in only}
        schema = create_model(f"{schema.__name__}ForAgents", __config__=ConfigDict(extra="forbid"), **fields)
    tool = StepTool(name=entry.name, description=description or entry.description, args_schema=schema)
    tool._step, tool._deps, tool._on_output = entry.name, deps, on_output
    return tool


@functools.cache
def _tool_class(name: str) -> type[StepTool]:
    entry = get_step(name)

    def __init__(self: StepTool, **data: Any) -> None:
        StepTool.__init__(self, name=entry.name, description=entry.description, args_schema=entry.input_model, **data)
        self._step = entry.name  # deps: the running flow's, looked up on each call

    return type(name, (StepTool,), {"__init__": __init__, "__module__": __name__})


def __getattr__(name: str) -> Any:
    """``multimodal_crew.steps.tools:<step>`` (a YAML agent's tool ref): a tool class CrewAI makes
    without arguments, running the registered step with the running flow's deps."""
    from .registry import all_steps

    entry = all_steps().get(name) if not name.startswith("_") else None
    if entry is None or not entry.tool:
        raise AttributeError(f"no registered tool step {name!r}")
    return _tool_class(name)
