"""Named fake models that record what they were sent."""

from __future__ import annotations

import json
from typing import Any

from crewai import BaseLLM
from pydantic import PrivateAttr


class ScriptedModel:
    """Answers ``complete_json`` with scripted raw outputs, in order (the last one repeats).

    ``requests`` holds (messages, schema, name) for every call.
    """

    def __init__(self, *responses: str | dict):
        self.responses = [r if isinstance(r, str) else json.dumps(r) for r in responses]
        self.requests: list[tuple[list[dict], dict, str]] = []

    def complete_json(self, messages: list[dict], schema: dict, name: str, output_model: Any = None) -> str:
        self.requests.append(([dict(m) for m in messages], schema, name))
        i = min(len(self.requests) - 1, len(self.responses) - 1)
        return self.responses[i]

    @property
    def last_messages(self) -> list[dict]:
        return self.requests[-1][0]


class ScriptedToolLLM(BaseLLM):
    """A CrewAI LLM that plays a script of steps: a dict ``{"tool": name, "arguments": {...}}``
    becomes a native tool call, a string is a final answer. Records messages and tools per call."""

    script: list[Any] = []
    _seen: list[dict] = PrivateAttr(default_factory=list)

    def call(self, messages, tools=None, callbacks=None, available_functions=None, from_task=None,
             from_agent=None, response_model=None):
        self._seen.append({"messages": messages, "tools": tools})
        step = self.script[min(len(self._seen) - 1, len(self.script) - 1)]
        if isinstance(step, dict):
            return [{"id": f"call_{len(self._seen)}", "type": "function",
                     "function": {"name": step["tool"], "arguments": json.dumps(step["arguments"])}}]
        return step

    def supports_function_calling(self) -> bool:
        return True

    @property
    def seen(self) -> list[dict]:
        return list(self._seen)
