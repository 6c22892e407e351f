"""Flows are YAML: every ``config/flows/<name>.yaml`` is a CrewAI ``crewai.flow/v1`` definition.

``get_flow("ask")`` finds one by name, ``run_flow("ask", inputs)`` runs it on a fresh
flow instance and returns a :class:`~multimodal_crew.steps.RunResult`. The same files
run under ``crewai run --definition config/flows/ask.yaml --inputs '{...}'``. Users
add flows by adding YAML files there, or in the folder (or file) ``MMCREW_EXTRA_FLOWS``.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .. import procs
from ..errors import FlowDefinitionError, UnknownFlowError
from ..models.configured import CURRENT_DEPS
from ..steps import Deps, RunResult, attach_deps
from .inputs import FlowInputs, validate_inputs

__all__ = [
    "FlowEntry", "FlowInputs", "all_flows", "broken_flows", "get_flow", "load_definition", "run_flow", "validate_inputs",
]  # fmt: skip


@dataclass(frozen=True)
class FlowEntry:
    name: str
    description: str
    path: Path
    inputs_model: type[FlowInputs]
    defaults: dict[str, Any]  # the definition's `state.default`: what `crewai run` and `mmcrew run` start from
    definition: Any = field(default=None, compare=False, repr=False)  # the loaded crewai FlowDefinition

    def build(self, **kwargs: Any) -> Any:
        """A fresh runnable CrewAI Flow of this definition (state never carries over between runs)."""
        from ..flow_class import flow_class

        return flow_class().from_declaration(path=self.path, **kwargs)


_LOCK = threading.Lock()


@functools.lru_cache(maxsize=64)
def _load(path: str, mtime: float) -> FlowEntry:
    from crewai.flow.flow_definition import FlowDefinition
    from crewai.utilities.declarative_refs import resolve_ref

    from ..steps.definitions import check_definition

    try:
        definition = FlowDefinition.from_declaration(path=path)
    except (ValueError, ValidationError, OSError) as e:
        first = str(e).strip().splitlines()
        raise FlowDefinitionError(f"{path}: not a valid crewai.flow/v1 definition: {' '.join(first[:3])}") from None
    check_definition(definition, path)
    state = definition.state
    model = None
    if state is not None and getattr(state, "type", "") == "pydantic" and state.ref:
        model = resolve_ref(state.ref, field="state.ref")
    if not (isinstance(model, type) and issubclass(model, FlowInputs)):
        raise FlowDefinitionError(
            f"{path}: `state` must be `type: pydantic` with `ref:` naming the flow's inputs model (a FlowInputs)"
        )
    defaults = dict(getattr(state, "default", None) or {})
    return FlowEntry(definition.name, definition.description or "", Path(path), model, defaults, definition)


def load_definition(path: Path | str) -> FlowEntry:
    """Load and check one YAML flow (cached until the file changes)."""
    p = Path(path).resolve()
    try:
        mtime = p.stat().st_mtime
    except OSError as e:
        raise FlowDefinitionError(f"{path}: cannot read the flow definition ({e.strerror or e})") from None
    with _LOCK:
        return _load(str(p), mtime)


def _files(folder: Path) -> list[Path]:
    if folder.is_file():
        return [folder]
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]) if folder.is_dir() else []


def _entries(settings: Any) -> tuple[dict[str, FlowEntry], dict[Path, FlowDefinitionError]]:
    """(flows by name, broken definition files and their errors): one broken file does not stop the others."""
    paths = _files(settings.config_path / "flows")
    extra = settings.extra_flows.strip()
    if extra:
        paths += _files(Path(extra))
    entries: dict[str, FlowEntry] = {}
    broken: dict[Path, FlowDefinitionError] = {}
    for p in paths:
        try:
            e = load_definition(p)
        except FlowDefinitionError as err:
            broken[p] = err
            continue
        if e.name in entries and entries[e.name].path != e.path:
            broken[p] = FlowDefinitionError(f"{p}: the flow name {e.name!r} is already used by {entries[e.name].path}")
            continue
        entries[e.name] = e
    return entries, broken


def _settings(settings: Any) -> Any:
    if settings is None:
        from ..settings import get_settings

        settings = get_settings()
    return settings


def all_flows(settings: Any = None) -> dict[str, FlowEntry]:
    """Every flow by name: ``config/flows/*.yaml``, plus ``MMCREW_EXTRA_FLOWS`` (a folder or a file).
    A definition that fails its checks is left out (``broken_flows`` says why; ``mmcrew doctor`` shows it)."""
    return _entries(_settings(settings))[0]


def broken_flows(settings: Any = None) -> dict[Path, FlowDefinitionError]:
    return _entries(_settings(settings))[1]


def get_flow(name: str, settings: Any = None) -> FlowEntry:
    entries, broken = _entries(_settings(settings))
    if name in entries:
        return entries[name]
    for path, err in broken.items():
        if path.stem == name:
            raise err  # the file that would be this flow: its own problem, one line
    raise UnknownFlowError(f"unknown flow {name!r}; available: {', '.join(entries)}")


@contextmanager
def _interruptible() -> Iterator[None]:
    """Ctrl-C during a run: mark the work that must know (``procs.on_interrupt``) at once, in the main
    thread, while CrewAI's worker thread may still be inside a step; then interrupt as before. Under
    the ``mmcrew`` CLI, with a plan running, exit 130 now rather than wait for that step to end."""
    previous = signal.getsignal(signal.SIGINT) if threading.current_thread() is threading.main_thread() else None
    if previous in (None, signal.SIG_IGN):  # not the main thread, or Ctrl-C is ignored here: leave it so
        yield
        return

    def on_sigint(signum: int, frame: Any) -> None:
        marked = procs.run_interrupt_hooks()
        if marked and procs.EXIT_ON_INTERRUPT.is_set():
            sys.stderr.write("interrupted: the finished tasks are kept in the run folder\n")
            sys.stderr.flush()
            os._exit(130)
        if callable(previous):
            previous(signum, frame)
        else:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_flow(
    name: str | FlowEntry,
    inputs: dict[str, Any] | None = None,
    *,
    model: Any = None,
    progress: Any = None,
    settings: Any = None,
    retriever: Any = None,
    cancelled: threading.Event | None = None,
) -> RunResult:
    """Run one flow by name on a fresh instance; return its typed result. ``inputs`` go over the
    definition's defaults (``state.default``), as under ``crewai run --inputs``. Setting ``cancelled``
    stops the run at its next step or model call (``RunCancelled``)."""
    settings = _settings(settings)  # a bad setting is its one-line ConfigError here, not inside CrewAI's validation
    entry = name if isinstance(name, FlowEntry) else get_flow(name, settings)
    clean = validate_inputs(entry.inputs_model, entry.name, {**entry.defaults, **(inputs or {})})
    flow = entry.build(suppress_flow_events=True, tracing=False)
    deps = Deps(settings=settings, model=model, retriever=retriever, progress=progress, cancelled=cancelled)
    attach_deps(flow, deps)
    token = CURRENT_DEPS.set(deps)  # YAML agents' `config.llms.CONFIGURED` resolves to this run's model
    try:
        with _interruptible():
            result = flow.kickoff(inputs=clean.model_dump(exclude={"id"}))
    finally:
        CURRENT_DEPS.reset(token)
    if not isinstance(result, RunResult):
        raise FlowDefinitionError(
            f"{entry.path}: the flow ended with a {type(result).__name__}, not a RunResult; "
            "its last method should be the `finish` step"
        )
    return result
