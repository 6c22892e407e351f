"""Flows (and crews) found by name: ``get_flow("report")``, ``run_flow("report", inputs)``.

A new capability registers one entry here; the CLI, ``crewai run`` and the
scheduler all find it by name.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import UnknownFlowError
from .base import FlowInputs, MMFlow, validate_inputs

__all__ = ["FlowEntry", "all_flows", "get_flow", "run_flow", "MMFlow", "FlowInputs"]


@dataclass(frozen=True)
class FlowEntry:
    name: str
    kind: str  # "flow" or "crew"
    description: str
    inputs_model: type[FlowInputs]
    run: Callable[..., Any]  # run(inputs: dict, model=None, progress=None) -> result
    flow_cls: type | None = None  # the Flow class, for kind "flow" (plotting)


def _report_flow(inputs: dict, model: Any = None, progress: Any = None) -> Any:
    from .report import ReportFlow

    return ReportFlow(model=model, progress=progress).kickoff(inputs=inputs)


def _report_crew(inputs: dict, model: Any = None, progress: Any = None) -> Any:
    from ..crews.report.crew import run_report_crew

    if progress:
        progress("the analyst agent is working (it must call report_query)")
    return run_report_crew(inputs, model=model)


def _ping_flow(inputs: dict, model: Any = None, progress: Any = None) -> Any:
    from .ping import PingFlow

    return PingFlow(progress=progress).kickoff(inputs=inputs)


def _see_flow(inputs: dict, model: Any = None, progress: Any = None) -> Any:
    from .see import SeeFlow

    return SeeFlow(model=model, progress=progress).kickoff(inputs=inputs)


def _ask_flow(inputs: dict, model: Any = None, progress: Any = None) -> Any:
    from .ask import AskFlow

    return AskFlow(model=model, progress=progress).kickoff(inputs=inputs)


def _workorder_flow(inputs: dict, model: Any = None, progress: Any = None) -> Any:
    from .workorder import WorkOrderFlow

    return WorkOrderFlow(model=model, progress=progress).kickoff(inputs=inputs)


def _research_flow(inputs: dict, model: Any = None, progress: Any = None) -> Any:
    from .research import ResearchFlow

    return ResearchFlow(model=model, progress=progress).kickoff(inputs=inputs)


@functools.lru_cache(maxsize=4)
def _extra_entries(path: str) -> dict[str, FlowEntry]:
    """Flows from the Python file ``path`` (MMCREW_EXTRA_FLOWS): it defines ``FLOWS = [FlowEntry, ...]``.
    Loaded once per path."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("mmcrew_extra_flows", path)
    if spec is None or spec.loader is None:
        raise UnknownFlowError(f"MMCREW_EXTRA_FLOWS={path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {e.name: e for e in module.FLOWS}


@functools.cache
def _builtin_entries() -> dict[str, FlowEntry]:
    from ..crews.report.crew import ReportCrewInputs
    from .ask import AskFlow, AskInputs
    from .ping import PingFlow, PingInputs
    from .report import ReportFlow, ReportInputs
    from .research import ResearchFlow, ResearchInputs
    from .see import SeeFlow, SeeInputs
    from .workorder import WorkOrderFlow, WorkOrderInputs

    return {
        "ping": FlowEntry("ping", "flow", PingFlow.description, PingInputs, _ping_flow, PingFlow),
        "ask": FlowEntry("ask", "flow", AskFlow.description, AskInputs, _ask_flow, AskFlow),
        "see": FlowEntry("see", "flow", SeeFlow.description, SeeInputs, _see_flow, SeeFlow),
        "report": FlowEntry("report", "flow", ReportFlow.description, ReportInputs, _report_flow, ReportFlow),
        "research": FlowEntry(
            "research", "flow", ResearchFlow.description, ResearchInputs, _research_flow, ResearchFlow
        ),
        "workorder": FlowEntry(
            "workorder", "flow", WorkOrderFlow.description, WorkOrderInputs, _workorder_flow, WorkOrderFlow
        ),
        "report_crew": FlowEntry(
            "report_crew",
            "crew",
            "The same report as a one-agent YAML crew (config/report/) whose agent must call report_query",
            ReportCrewInputs,
            _report_crew,
        ),
    }


def all_flows() -> dict[str, FlowEntry]:
    """Every flow by name: the built-in ones, plus those of MMCREW_EXTRA_FLOWS if set."""
    extra = os.environ.get("MMCREW_EXTRA_FLOWS")
    return {**_builtin_entries(), **(_extra_entries(extra) if extra else {})}


def get_flow(name: str) -> FlowEntry:
    entries = all_flows()
    if name not in entries:
        raise UnknownFlowError(f"unknown flow {name!r}; available: {', '.join(entries)}")
    return entries[name]


def run_flow(name: str, inputs: dict[str, Any] | None = None, *, model: Any = None, progress: Any = None) -> Any:
    """Run one flow or crew by name on a fresh instance; return its result."""
    entry = get_flow(name)
    clean = validate_inputs(entry.inputs_model, name, dict(inputs or {}))
    return entry.run(clean.model_dump(), model=model, progress=progress)
