"""Steps: every capability once. YAML flows call them by name.

In a ``crewai.flow/v1`` definition a method runs a step with::

    do:
      call: code
      ref: multimodal_crew.steps:knowledge_search
      with: {query: "${state.question}", k: "${state.k}"}

CrewAI binds the callable to the running flow; the flow's :class:`Deps` (settings,
model, retriever, progress) are attached by :func:`multimodal_crew.flows.run_flow`, or
made from the settings when the flow runs under ``crewai run --definition``.
"""

from __future__ import annotations

import sys
from typing import Any

from .registry import Deps, Step, StepInputs, UnknownStepError, all_steps, call_step, get_step, register, step
from .results import Citation, RunResult, StepOutput, cite, locate

__all__ = [
    "Citation", "Deps", "RunResult", "Step", "StepInputs", "StepOutput", "UnknownStepError", "all_steps",
    "attach_deps", "call_step", "cite", "deps_of", "get_step", "locate", "register", "step",
]  # fmt: skip

_DEPS_ATTR = "_mmcrew_deps"


def attach_deps(flow: Any, deps: Deps) -> None:
    """``deps`` become the flow's: its code steps get them, and its YAML agents' model and tools too."""
    from ..models.configured import bind_flow

    object.__setattr__(flow, _DEPS_ATTR, deps)
    bind_flow(flow, deps)


def deps_of(flow: Any) -> Deps:
    """The flow's dependencies. A flow started by ``crewai run --definition`` has none attached:
    its first step checks the definition and the command-line inputs (see ``steps/definitions.py``), then
    gets the process settings and progress on stderr."""
    deps = getattr(flow, _DEPS_ATTR, None)
    if deps is None:
        from .definitions import check_cli_inputs, check_definition

        definition = getattr(flow, "_definition", None)
        if definition is not None:
            check_definition(definition, getattr(definition, "source_path", None))
            check_cli_inputs(definition, sys.argv)
        name = getattr(definition, "name", None) or getattr(flow, "name", None) or "flow"
        # in a terminal `crewai run` shows its own TUI with the steps; otherwise progress lines on stderr
        tui = sys.stdin is not None and sys.stdin.isatty()
        deps = Deps(progress=None if tui else lambda msg: print(f"[{name}] {msg} …", file=sys.stderr, flush=True))
        deps.fail_incomplete = True  # CrewAI's runner fails only on an exception: `finish` raises for it
        attach_deps(flow, deps)
    return deps


def _flow_method(name: str):
    def run(flow: Any, /, **kwargs: Any) -> Any:  # positional-only: a step may take an input named `flow`
        return call_step(name, kwargs, deps_of(flow))

    run.__name__ = run.__qualname__ = name
    run.__doc__ = f"Run the registered step {name!r} inside a YAML flow."
    return run


def __getattr__(name: str) -> Any:
    """``multimodal_crew.steps:<step>`` in a YAML flow resolves here, to the step bound to the flow."""
    if name.startswith("_"):
        raise AttributeError(name)
    steps = all_steps()
    if name not in steps:
        raise AttributeError(f"no registered step {name!r} (registered: {', '.join(sorted(steps))})")
    return _flow_method(name)
