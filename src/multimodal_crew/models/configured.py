"""The configured model, for YAML agents and crews.

Named in YAML as ``settings: {llm: {python: config.llms.CONFIGURED}}`` (config/llms.py re-exports
it). A ``call: agent`` or ``call: crew`` in a ``crewai.flow/v1`` definition without an ``llm`` gets
CrewAI's default, an OpenAI model, which is neither offline nor ours. This object stands for
"the model the settings select" (the embedded llama.cpp model by default, or ``MODEL=ollama/...``
or an OpenAI-compatible server) and is resolved on each call, so settings are read when the
flow runs, never at import. ``steps/definitions.py`` refuses an agent without it.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from crewai.llms.base_llm import BaseLLM

__all__ = ["LLM", "ConfiguredLLM"]


# the running flow's dependencies (``run_flow`` sets them around a kickoff; CrewAI's threads and tasks
# inherit them): a YAML agent then runs on the model given to the run, and its calls are counted
CURRENT_DEPS: ContextVar[Any] = ContextVar("mmcrew_current_deps", default=None)


class ConfiguredLLM(BaseLLM):
    """A stand-in for the run's model: ``deps.model.llm`` inside ``run_flow``, else ``get_runtime().llm``."""

    llm_type: str = "configured"
    provider: str = "mmcrew"

    def _target(self) -> BaseLLM:
        deps = CURRENT_DEPS.get()
        if deps is not None:
            return deps.model.llm
        from .runtime import get_runtime

        return get_runtime().llm

    def call(self, messages, tools=None, callbacks=None, available_functions=None, from_task=None,
             from_agent=None, response_model=None) -> Any:  # fmt: skip
        deps = CURRENT_DEPS.get()
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


LLM = ConfiguredLLM(model="mmcrew/configured")
