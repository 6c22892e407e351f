"""The configured model, for YAML agents and crews.

Named in YAML as ``settings: {llm: {python: config.llms.CONFIGURED}}`` (config/llms.py re-exports
it). A ``call: agent`` or ``call: crew`` in a ``crewai.flow/v1`` definition without an ``llm`` gets
CrewAI's default, an OpenAI model, which is neither offline nor ours. This object stands for
"the model the settings select" (the embedded llama.cpp model by default, or ``MODEL=ollama/...``
or an OpenAI-compatible server) and is resolved on each call, so settings are read when the
flow runs, never at import. ``steps/definitions.py`` refuses an agent without it.

``RunLLM.for_run(deps)`` is the same for the crews a step builds itself (``steps/crewing.py``). Both
stop a cancelled run before each model call.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from crewai.flow.flow_context import current_flow_id
from crewai.llms.base_llm import BaseLLM, call_stop_override
from pydantic import PrivateAttr

from ..errors import ConfigError

__all__ = ["LLM", "ConfiguredLLM", "RunLLM", "CURRENT_DEPS", "bind_flow", "current_deps"]


# the running flow's dependencies (``run_flow`` sets them around a kickoff; CrewAI's threads and tasks
# inherit them): a YAML agent then runs on the model given to the run, and its calls are counted
CURRENT_DEPS: ContextVar[Any] = ContextVar("mmcrew_current_deps", default=None)
# deps by CrewAI flow id: a flow started by `crewai run` has no CURRENT_DEPS, but CrewAI sets
# `current_flow_id` around its kickoff, so its agents and tools find the flow's deps through it
_BY_FLOW: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()
_BY_FLOW_LOCK = threading.Lock()


def bind_flow(flow: Any, deps: Any) -> None:
    """Make ``deps`` what ``current_deps()`` returns while ``flow`` runs (kept as long as ``deps`` lives)."""
    flow_id = getattr(flow, "flow_id", None)
    if flow_id:
        with _BY_FLOW_LOCK:
            _BY_FLOW[str(flow_id)] = deps


def current_deps() -> Any:
    """The running flow's deps: those ``run_flow`` set, else those bound to CrewAI's current flow; or None."""
    deps = CURRENT_DEPS.get()
    if deps is None and (flow_id := current_flow_id.get()):
        with _BY_FLOW_LOCK:
            deps = _BY_FLOW.get(str(flow_id))
    return deps


def _llm_of(model: Any) -> BaseLLM:
    llm = getattr(model, "llm", None)
    if llm is None:
        raise ConfigError("the configured model has no CrewAI LLM for agents (`.llm`); set MODEL to a chat model")
    return llm


class _Relay(BaseLLM):
    """A CrewAI LLM that passes each call on to another (``_target()``): first it stops a cancelled run
    (``deps.check_cancelled()``: an agent's next model call is where a cancel reaches a crew, since CrewAI
    turns an exception in a tool into text for the agent and carries on), then it forwards the stop words
    CrewAI set for this call, which CrewAI keys by LLM object."""

    def _deps(self) -> Any:
        """The run whose cancel applies (None outside a run)."""
        return current_deps()

    def _target(self) -> BaseLLM:
        raise NotImplementedError

    def _count(self, deps: Any) -> None:
        """Count one call into ``deps.model_calls`` (``RunLLM`` leaves that to ``crew_llm``)."""
        deps.add_calls()

    def _begin(self) -> BaseLLM:
        deps = self._deps()
        if deps is not None:
            deps.check_cancelled()
            self._count(deps)
        return self._target()

    @contextmanager
    def _stops(self, target: BaseLLM) -> Iterator[None]:
        """CrewAI sets an agent's stop words for one call on the LLM it holds (this relay): the model gets them."""
        stops = self.stop_sequences
        if not stops or set(stops) <= set(target.stop):
            yield
            return
        with call_stop_override(target, list(dict.fromkeys([*target.stop, *stops]))):
            yield

    def call(self, messages, tools=None, callbacks=None, available_functions=None, from_task=None,
             from_agent=None, response_model=None) -> Any:  # fmt: skip
        target = self._begin()
        with self._stops(target):
            return target.call(
                messages, tools=tools, callbacks=callbacks, available_functions=available_functions,
                from_task=from_task, from_agent=from_agent, response_model=response_model,
            )  # fmt: skip

    async def acall(self, messages, tools=None, callbacks=None, available_functions=None, from_task=None,
                    from_agent=None, response_model=None) -> Any:  # fmt: skip
        target = self._begin()
        kwargs = dict(tools=tools, callbacks=callbacks, available_functions=available_functions,
                      from_task=from_task, from_agent=from_agent, response_model=response_model)  # fmt: skip
        with self._stops(target):
            if type(target).acall is BaseLLM.acall:  # the model has no async call: its call, in a thread
                return await asyncio.to_thread(target.call, messages, **kwargs)
            return await target.acall(messages, **kwargs)

    def supports_function_calling(self) -> bool:
        return self._target().supports_function_calling()

    def supports_stop_words(self) -> bool:
        return self._target().supports_stop_words()

    def get_context_window_size(self) -> int:
        return self._target().get_context_window_size()

    def get_input_tokens_count(self, messages, tools=None, response_model=None) -> int:
        return self._target().get_input_tokens_count(messages, tools=tools, response_model=response_model)


class ConfiguredLLM(_Relay):
    """A stand-in for the run's model: ``deps.model.llm`` inside ``run_flow``, else ``get_runtime().llm``.
    Each call is counted into the run's ``model_calls``, and a cancelled run makes no more calls."""

    llm_type: str = "configured"
    provider: str = "mmcrew"

    def _target(self) -> BaseLLM:
        deps = current_deps()
        if deps is None:
            from .runtime import get_runtime

            model = get_runtime()
        else:
            model = deps.model
        return _llm_of(model)


class RunLLM(_Relay):
    """The CrewAI LLM of one run's model (``deps.model.llm``) for the crews a step builds itself: it stops
    the crew when that run is cancelled. It counts nothing (``steps.crewing.crew_llm`` counts the requests
    the model made); it shows CrewAI the model's name, provider and server, as the model itself would."""

    llm_type: str = "run"
    _run: Any = PrivateAttr(default=None)
    _inner: Any = PrivateAttr(default=None)

    @classmethod
    def for_run(cls, deps: Any) -> RunLLM:
        inner = _llm_of(deps.model)
        shown = {k: getattr(inner, k, None) for k in ("provider", "base_url", "api_key", "temperature", "max_tokens")}
        relay = cls(model=inner.model, **{k: v for k, v in shown.items() if v is not None})
        relay._run, relay._inner = deps, inner
        return relay

    @property
    def inner(self) -> BaseLLM:
        """The model's own CrewAI LLM."""
        return self._inner

    def _deps(self) -> Any:
        return self._run

    def _target(self) -> BaseLLM:
        return self._inner

    def _count(self, deps: Any) -> None:
        pass


LLM = ConfiguredLLM(model="mmcrew/configured")
