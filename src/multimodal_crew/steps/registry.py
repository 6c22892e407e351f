"""The step registry: every capability once, as a small typed function.

A step is ``fn(inputs: InputModel, deps: Deps) -> output``. From its one entry it is
reachable as a ``call: code`` method of a YAML flow (``ref: multimodal_crew.steps:<name>``),
a CrewAI tool for agents (:func:`multimodal_crew.steps.tools.as_tool`), the CLI, and the
planner and HTTP API of later issues. Users add steps with a plug-in file named by
``MMCREW_EXTRA_STEPS``: a Python file that calls :func:`register` (or uses :func:`step`).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import InputError, RunCancelled, UserError

__all__ = [
    "Deps", "Step", "StepInputs", "UnknownStepError", "all_steps", "call_step", "get_step", "register", "step",
    "OUTPUT_KINDS",
]  # fmt: skip

OUTPUT_KINDS = ("text", "passages", "cited_answer", "table", "image", "number", "report", "file", "check")

# modules of this package that are not steps; every other module in it registers built-in steps
_NOT_STEPS = {"registry", "results", "tools", "outputs", "definitions"}


@functools.cache
def _builtin_modules() -> tuple[str, ...]:
    """This package's step modules, then each crew's ``crews/<crew>/steps.py`` and ``flows/steps.py``:
    steps that run a crew or a flow live with it (crews and flows use steps), and are found here by
    name, at run time, the way a plug-in is; no module of this package imports ``crews`` or ``flows``."""
    import pkgutil
    from pathlib import Path

    here = Path(__file__).resolve().parent
    mine = [f"{__package__}.{m.name}" for m in pkgutil.iter_modules([str(here)]) if m.name not in _NOT_STEPS]
    root = __package__.rsplit(".", 1)[0]
    crew_steps = [f"{root}.crews.{p.parent.name}.steps" for p in sorted((here.parent / "crews").glob("*/steps.py"))]
    return (
        *mine,
        *crew_steps,
        f"{root}.flows.steps",
    )  # flows/steps.py: the steps that run flows (route)  # listed once per process: all_steps() runs on every step call


class UnknownStepError(UserError):
    """A flow or a caller named a step that is not registered."""


class StepInputs(BaseModel):
    """Base of every step's input model: unknown names are errors, not ignored."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Step:
    name: str
    description: str  # one line: what it does (agents and the planner read it)
    input_model: type[BaseModel]
    output: str  # one of OUTPUT_KINDS
    fn: Callable[[Any, Deps], Any]
    tool: bool = True  # offered to agents and the planner (False: flow wiring such as `prepare`)


class Deps:
    """What steps depend on, passed in: settings, the text model, the retriever, progress.

    Each is resolved on first use from the settings given (or the process settings), so a
    step that needs no model never loads one. Also counts model calls and times each step.
    """

    def __init__(
        self,
        settings: Any = None,
        model: Any = None,
        retriever: Any = None,
        progress: Any = None,
        cancelled: threading.Event | None = None,
    ):
        self._settings = settings
        self._model = None if model is None else _Counted(model, self)
        self._retriever = retriever
        self.progress = progress
        self.fail_incomplete = False  # `finish` raises on an incomplete result (under `crewai run`)
        self.timings: dict[str, float] = {}
        self.model_calls = 0
        self.outputs: dict[str, Any] = {}  # typed output of each step that ran, by step name (the last run)
        # set on Ctrl-C or by a server's cancel: steps not yet started do not start, and the next progress
        # report or model call raises RunCancelled (a model generation already under way finishes first)
        self.cancelled = cancelled if cancelled is not None else threading.Event()
        self.tool_calls: list[tuple[str, dict]] = []  # (step, arguments) of each tool call by an agent that succeeded
        self._lock = threading.Lock()  # steps may run in threads (CrewAI runs sync methods in one)

    @property
    def settings(self) -> Any:
        if self._settings is None:
            from ..settings import get_settings

            self._settings = get_settings()
        return self._settings

    def _once(self, attr: str, make: Callable[[Any], Any]) -> Any:
        """``self.<attr>``, made from the settings on first use (under the lock)."""
        with self._lock:
            if getattr(self, attr) is None:
                setattr(self, attr, make(self.settings))
            return getattr(self, attr)

    @property
    def model(self) -> Any:
        """The text model (anything with ``complete_json``), wrapped to count calls."""
        from ..models.runtime import get_runtime

        return self._once("_model", lambda settings: _Counted(get_runtime(settings), self))

    @property
    def base_model(self) -> Any:
        """The model without this run's call counting: for a nested run that counts its own calls."""
        return self.model._inner

    @property
    def retriever(self) -> Any:
        from ..knowledge.retrieval import get_retriever

        return self._once("_retriever", get_retriever)

    def add_calls(self, n: int = 1) -> None:
        with self._lock:
            self.model_calls += n

    def record(self, name: str, seconds: float, output: Any = None) -> None:
        """Add a step's time (and keep its output) under ``name``."""
        with self._lock:
            self.timings[name] = round(self.timings.get(name, 0.0) + seconds, 3)
            if output is not None:
                self.outputs[name] = output

    def record_tool_call(self, name: str, arguments: dict) -> None:
        with self._lock:
            self.tool_calls.append((name, dict(arguments)))

    def check_cancelled(self) -> None:
        if self.cancelled.is_set():
            raise RunCancelled("cancelled")

    def step(self, message: str) -> None:
        """Report progress (the CLI shows it in a spinner; ``crewai run`` prints it to stderr).
        A cancelled run stops here (RunCancelled)."""
        self.check_cancelled()
        if self.progress:
            self.progress(message)


class _Counted:
    """A model wrapper that counts ``complete_json`` calls into ``deps.model_calls``."""

    def __init__(self, inner: Any, deps: Deps):
        self._inner = inner
        self._deps = deps

    def complete_json(self, *args: Any, **kwargs: Any) -> str:
        self._deps.check_cancelled()
        self._deps.add_calls()
        return self._inner.complete_json(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


_REGISTRY: dict[str, Step] = {}
_LOCK = threading.RLock()
_LOADED: set[str] = set()
_PLUGIN_LOCK = threading.Lock()
# names `multimodal_crew.steps` itself defines: a step of that name could not be reached by its ref
_RESERVED = frozenset(
    {
        "Citation",
        "Deps",
        "RunResult",
        "Step",
        "StepInputs",
        "StepOutput",
        "UnknownStepError",
        "all_steps",
        "attach_deps",
        "call_step",
        "cite",
        "deps_of",
        "get_step",
        "locate",
        "register",
        "step",
    }
)


def register(entry: Step) -> Step:
    """Add a step; a second step of the same name is an error (one entry per capability)."""
    if not entry.name.isidentifier() or entry.name.startswith("_"):
        raise ValueError(f"step name {entry.name!r} must be a Python identifier not starting with _")
    if entry.name in _RESERVED or importlib.util.find_spec(f"{__package__}.{entry.name}") is not None:
        # `ref: multimodal_crew.steps:<name>` would find that module or helper, not the step
        raise ValueError(f"step {entry.name!r} has the name of a module or helper of {__package__}; rename the step")
    if entry.output not in OUTPUT_KINDS:
        raise ValueError(f"step {entry.name!r}: output kind {entry.output!r} is not one of {OUTPUT_KINDS}")
    with _LOCK:
        old = _REGISTRY.get(entry.name)
        if old is not None and old.fn is not entry.fn:
            raise ValueError(f"step {entry.name!r} is registered twice ({old.fn.__module__}, {entry.fn.__module__})")
        _REGISTRY[entry.name] = entry
    return entry


def step(name: str, description: str, input_model: type[BaseModel], output: str, *, tool: bool = True):
    """Decorator form of :func:`register`: ``@step("calculate", "...", CalcInputs, "number")``."""

    def wrap(fn: Callable[[Any, Deps], Any]) -> Callable[[Any, Deps], Any]:
        register(Step(name, description, input_model, output, fn, tool))
        return fn

    return wrap


PLUGIN_MODULE = "mmcrew_extra_steps"  # the plug-in's module name: a YAML state ref may name its models


def _load_plugin(path: str) -> None:
    import sys

    spec = importlib.util.spec_from_file_location(PLUGIN_MODULE, path)
    if spec is None or spec.loader is None or not os.path.isfile(path):
        raise UnknownStepError(f"MMCREW_EXTRA_STEPS={path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[PLUGIN_MODULE] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(PLUGIN_MODULE, None)
        raise


def all_steps() -> dict[str, Step]:
    """Every registered step by name: the built-in ones, plus those of ``MMCREW_EXTRA_STEPS``.
    Modules are imported outside the registry's lock (a module registering its steps while another
    thread holds the lock and waits for that import would deadlock)."""
    from ..settings import get_settings

    for name in _builtin_modules():
        if name not in _LOADED:
            importlib.import_module(name)
            _LOADED.add(name)
    extra = get_settings().extra_steps.strip()
    with _PLUGIN_LOCK:  # a plug-in file is executed once
        if extra and extra not in _LOADED:
            _load_plugin(extra)
            _LOADED.add(extra)
    with _LOCK:
        return dict(_REGISTRY)


def get_step(name: str) -> Step:
    steps = all_steps()
    if name not in steps:
        raise UnknownStepError(f"unknown step {name!r}; registered: {', '.join(sorted(steps))}")
    return steps[name]


def validate_model(model: type[BaseModel], what: str, inputs: Any) -> BaseModel:
    """``model`` validated from ``inputs``, or ``InputError`` with one line naming the input of ``what``
    ("flow 'ask'", "step 'summarize'"). An unknown name is reported before a missing one: a
    misspelt input is also why the real one is missing."""
    if isinstance(inputs, model):
        return inputs
    try:
        return model.model_validate(inputs or {})
    except ValidationError as e:
        errors = e.errors()
        err = next((x for x in errors if x.get("type") == "extra_forbidden"), errors[0])
        where = ".".join(str(x) for x in err.get("loc", ()))
        known = ", ".join(f for f in model.model_fields if f != "id")  # a flow's state has an id
        if err.get("type") == "extra_forbidden":
            raise InputError(f"{what} has no input {where!r}; its inputs are: {known}") from None
        if err.get("type") == "missing":
            raise InputError(f"{what} needs the input {where!r}; its inputs are: {known}") from None
        msg = str(err.get("msg", "")).removeprefix("Value error, ")
        raise InputError(f"input {where!r} of {what}: {msg}" if where else f"{what}: {msg}") from None


def call_step(name: str, inputs: Any, deps: Deps, *, label: str | None = None) -> Any:
    """Validate ``inputs`` against the step's model, run it with ``deps``, time it, return its output."""
    entry = get_step(name)
    clean = validate_model(entry.input_model, f"step {entry.name!r}", inputs)
    t0 = time.perf_counter()
    out = None
    try:
        out = entry.fn(clean, deps)
    finally:
        deps.record(label or name, time.perf_counter() - t0, out)
    if out is None:
        raise TypeError(f"step {name!r} returned None; a step returns its typed output or raises")
    return out
