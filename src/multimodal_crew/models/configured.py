"""The configured model, for YAML agents and crews.

Named in YAML as ``settings: {llm: {python: config.llms.CONFIGURED}}`` (config/llms.py re-exports
it). A ``call: agent`` or ``call: crew`` in a ``crewai.flow/v1`` definition without an ``llm`` gets
CrewAI's default, an OpenAI model, which is neither offline nor ours. This object stands for
"the model the settings select" (the embedded llama.cpp model by default, or ``MODEL=ollama/...``
or an OpenAI-compatible server) and is resolved on each call, so settings are read when the
flow runs, never at import. ``steps/definitions.py`` refuses an agent without it.
"""

from __future__ import annotations

import threading
import weakref
from contextvars import ContextVar
from typing import Any

from crewai.flow.flow_context import current_flow_id
from crewai.llms.base_llm import BaseLLM

from ..errors import ConfigError

__all__ = ["LLM", "ConfiguredLLM", "CURRENT_DEPS", "bind_flow", "current_deps"]


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


class ConfiguredLLM(BaseLLM):
    """A stand-in for the run's model: ``deps.model.llm`` inside ``run_flow``, else ``get_runtime().llm``."""

    llm_type: str = "configured"
    provider: str = "mmcrew"

    def _target(self) -> BaseLLM:
        deps = current_deps()
        if deps is None:
            from .runtime import get_runtime

            model = get_runtime()
        else:
            model = deps.model
        llm = getattr(model, "llm", None)
        if llm is None:
            raise ConfigError("the configured model has no CrewAI LLM for agents (`.llm`); set MODEL to a chat model")
        return llm

    def call(self, messages, tools=None, callbacks=None, available_functions=None, from_task=None,
             from_agent=None, response_model=None) -> Any:  # fmt: skip
        deps = current_deps()
        if deps is not None:
            deps.add_calls()
        return self._target().call(
            messages, tools=tools, callbacks=callbacks, available_functions=available_functions,
            from_task=from_task, from_agent=from_agent, response_model=response_model,
        )  # fmt: skip

    def supports_function_calling(self) -> bool:
        return self._target().supports_function_calling()

    def supports_stop_words(self) -> bool:
        return self._target().supports_stop_words()

    def get_context_window_size(self) -> int:
        return self._target().get_context_window_size()

    def get_input_tokens_count(self, messages, tools=None, response_model=None) -> int:
        return self._target().get_input_tokens_count(messages, tools=tools, response_model=response_model)


LLM = ConfiguredLLM(model="mmcrew/configured")
