"""The embedded model: llama.cpp in-process, as a CrewAI ``BaseLLM``.

Agents, crews and flows all use it like any other CrewAI LLM. Two things differ
from a plain chat model, both because small local models do not follow CrewAI's
agent protocol on their own (see ARCHITECTURE.md):

* ``generate(messages, schema=...)`` constrains decoding with a llama.cpp grammar
  built from a JSON schema; ``structured()`` uses it.
* When CrewAI offers tools, every step is constrained to either one call of an
  offered tool with schema-valid arguments, or a final answer. With
  ``tools_before_answer`` (the default) the final answer is only offered once a
  tool result is in the conversation.
"""

from __future__ import annotations

import atexit
import json
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crewai import BaseLLM
from pydantic import BaseModel, PrivateAttr

from ..errors import ConfigError, ModelBehaviorError

__all__ = ["EmbeddedLLM", "Completion", "tool_step_schema", "render_messages", "tool_call", "grammar_json"]

_LOAD_LOCK = threading.Lock()
_LOADED: dict[tuple, Any] = {}  # (path, n_ctx, threads, seed) -> Llama
_GRAMMAR_LOCK = threading.Lock()
_GRAMMARS: dict[str, Any] = {}  # JSON schema -> LlamaGrammar


@dataclass
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float

    @property
    def tokens_per_second(self) -> float:
        return self.completion_tokens / self.seconds if self.seconds > 0 else 0.0


def _load_llama(path: str, n_ctx: int, n_threads: int, seed: int):
    key = (path, n_ctx, n_threads, seed)
    with _LOAD_LOCK:
        if key not in _LOADED:
            try:
                from ._fastgrammar import FastLlama
            except ImportError as e:  # pragma: no cover - depends on the install
                raise ConfigError(f"llama-cpp-python is not installed ({e}); run: make setup") from None
            from .selftest import check_build

            check_build()  # AMX code or a CPU feature this machine lacks: a clear error, not SIGILL later
            try:
                _LOADED[key] = FastLlama(model_path=path, n_ctx=n_ctx, n_threads=n_threads, seed=seed, verbose=False)
            except (ValueError, RuntimeError) as e:
                raise ConfigError(f"llama.cpp could not load {path}: {e}; delete it and run: make model") from None
        return _LOADED[key]


@atexit.register
def _close_all() -> None:
    """Free the models before interpreter shutdown (llama-cpp-python's __del__ fails late in shutdown)."""
    with _LOAD_LOCK:
        for llama in _LOADED.values():
            try:
                llama.close()
            except Exception:
                pass
        _LOADED.clear()


_MAX_GRAMMAR_REPEAT = 64


def grammar_schema(schema):
    """The schema as llama.cpp's grammar should see it.

    llama.cpp spells ``maxLength: 1200`` out as 1,200 nested optional rules and refuses
    grammars past a limit ("exceeds sane defaults"). Long length bounds (and long
    ``maxItems``) are dropped from the grammar; Pydantic still enforces them after
    generation, and ``structured()`` feeds a violation back to the model.
    """
    if isinstance(schema, list):
        return [grammar_schema(x) for x in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for k, v in schema.items():
        if k in ("maxLength", "minLength", "maxItems", "minItems") and isinstance(v, int) and v > _MAX_GRAMMAR_REPEAT:
            continue
        out[k] = grammar_schema(v)
    return out


def grammar_json(schema: dict) -> str:
    """The JSON text llama.cpp builds the grammar from: :func:`grammar_schema`, keys sorted.

    The order is part of the grammar: llama.cpp's converter (``llama_grammar.json_schema_to_gbnf``)
    writes an object's properties in the order the schema lists them, so with sorted keys the model
    writes them alphabetically (``abstained``, ``answer``, ``citations``), whatever the Pydantic order.
    That order is measured, not an accident: the cited answer written in its declared order (quotes
    first) cited the gold page for 4 of the 30 SEC dev questions against 11 of 30 sorted, and abstained
    falsely on 25 against 16 (``mmcrew eval rag``, sec_dev.jsonl, one run each, 2026-12-07).
    llama_cpp.server gets this same text as its ``response_format`` schema
    (``Capabilities.response_format``), so both build one grammar and decode alike."""
    return json.dumps(grammar_schema(schema), sort_keys=True)


def _grammar(schema: dict):
    from llama_cpp import LlamaGrammar

    key = grammar_json(schema)
    found = _GRAMMARS.get(key)
    if found is None:
        with _GRAMMAR_LOCK:
            found = _GRAMMARS.get(key)
            if found is None:
                found = _GRAMMARS[key] = LlamaGrammar.from_json_schema(key, verbose=False)
    return found


def tool_step_schema(tools: list[dict], allow_final: bool, final_schema: dict | None = None) -> dict:
    """JSON schema of one agent step: a call of one offered tool, or (if allowed) a final answer.

    ``tools`` are OpenAI-style ``{"type": "function", "function": {name, parameters}}``.
    ``final_schema`` (the task's ``output_pydantic``) makes the final answer that object
    instead of free text; its ``$defs`` move to the root so its ``$ref``s still resolve.
    """
    defs: dict = {}
    final: dict = {"type": "string"}
    if final_schema is not None:
        final = dict(final_schema)
        defs = final.pop("$defs", {}) or {}
    options = []
    for t in tools:
        fn = t.get("function", t)
        params = fn.get("parameters") or {"type": "object", "properties": {}}
        options.append(
            {
                "type": "object",
                "properties": {"tool": {"const": fn["name"]}, "arguments": params},
                "required": ["tool", "arguments"],
            }
        )
    if allow_final:
        options.append({"type": "object", "properties": {"final_answer": final}, "required": ["final_answer"]})
    out = options[0] if len(options) == 1 else {"anyOf": options}
    return {**out, "$defs": defs} if defs else out


def _tool_instructions(tools: list[dict], allow_final: bool, structured_final: bool = False) -> str:
    lines = ["You can use these tools:"]
    for t in tools:
        fn = t.get("function", t)
        params = fn.get("parameters") or {}
        required = set(params.get("required", []))
        args = "; ".join(
            f"{name} ({spec.get('type', 'any')}, {'required' if name in required else 'optional'}): "
            f"{spec.get('description', '').strip()}"
            for name, spec in (params.get("properties") or {}).items()
        )  # described in prose: small models copy a JSON description into the value
        lines.append(f"- {fn['name']}: {fn.get('description', '').strip()} Arguments: {args or 'none'}")
    lines.append('To call a tool, reply with JSON: {"tool": "<name>", "arguments": {...}}.')
    if allow_final:
        answer = "{...the object the task asks for...}" if structured_final else '"<your answer>"'
        lines.append(
            f'When the tool results contain what the task needs, reply with JSON: {{"final_answer": {answer}}}; '
            "build the answer only from the tool results."
        )
    else:
        lines.append("You have no tool results yet: call a tool first. Never invent data.")
    return "\n".join(lines)


def copied_descriptions(step: dict, tools: list[dict]) -> list[str]:
    """Arguments of a tool call whose value is the argument's own description (a small model's slip)."""
    if "tool" not in step:
        return []
    for t in tools:
        fn = t.get("function", t)
        if fn["name"] != step["tool"]:
            continue
        props = (fn.get("parameters") or {}).get("properties") or {}
        args = step.get("arguments") or {}

        def same(a: object, b: str) -> bool:
            return isinstance(a, str) and bool(b) and a.strip(" .").lower() == b.strip(" .").lower()

        return [k for k, spec in props.items() if same(args.get(k), str(spec.get("description", "")))]
    return []


def render_messages(messages: list[dict]) -> list[dict]:
    """Turn CrewAI's OpenAI-style history (tool_calls, role=tool) into plain chat turns."""
    out: list[dict] = []
    for m in messages:
        role = m.get("role", "user")
        content = m.get("content")
        if isinstance(content, list):  # multimodal parts: keep the text
            content = "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
        content = content or ""
        if role == "assistant" and m.get("tool_calls"):
            calls = []
            for c in m["tool_calls"]:
                fn = c.get("function", c)
                args = fn.get("arguments", "{}")
                try:
                    args = json.loads(args) if isinstance(args, str) else args
                except json.JSONDecodeError:
                    pass
                calls.append(json.dumps({"tool": fn.get("name"), "arguments": args}, ensure_ascii=False))
            out.append({"role": "assistant", "content": "\n".join(calls)})
        elif role == "tool":
            name = m.get("name") or "tool"
            out.append({"role": "user", "content": f"Result of {name}:\n{content}"})
        elif role in ("system", "user", "assistant"):
            out.append({"role": role, "content": content})
        else:
            out.append({"role": "user", "content": content})
    # llama.cpp chat templates want alternating turns after the system prompt: merge neighbours
    merged: list[dict] = []
    for m in out:
        if merged and merged[-1]["role"] == m["role"] and m["role"] != "system":
            merged[-1] = {"role": m["role"], "content": merged[-1]["content"] + "\n\n" + m["content"]}
        else:
            merged.append(dict(m))
    return merged


def tool_call(name: str, arguments: dict, call_id: str | None = None) -> dict:
    """One OpenAI-style tool call, the shape CrewAI's native tool loop accepts from ``call()``."""
    return {
        "id": call_id or f"call_{uuid.uuid4().hex[:12]}",
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments, ensure_ascii=False)},
    }


def _has_tool_result(messages: list[dict]) -> bool:
    return any(m.get("role") == "tool" for m in messages)


class EmbeddedLLM(BaseLLM):
    """llama.cpp in-process behind CrewAI's LLM interface."""

    llm_type: str = "embedded"
    provider: str = "embedded"
    model_path: str
    n_ctx: int = 8192
    n_threads: int = 2
    tools_before_answer: bool = True

    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def _llama(self):
        if not Path(self.model_path).is_file():
            raise ConfigError(f"model file {self.model_path} is missing; run: make model")
        return _load_llama(self.model_path, self.n_ctx, self.n_threads, self.seed or 0)

    # --- the primitive everything uses -------------------------------------------------
    def generate(
        self,
        messages: list[dict],
        *,
        schema: dict | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: list[str] | None = None,
    ) -> Completion:
        llama = self._llama()
        kwargs: dict[str, Any] = dict(
            messages=render_messages(messages),
            max_tokens=int(max_tokens or self.max_tokens or 512),
            temperature=self.temperature if temperature is None else temperature,
            seed=self.seed or 0,
        )
        if schema is not None:
            kwargs["grammar"] = _grammar(schema)
        if temperature:  # a retry: also discourage the repetition loops small models fall into
            kwargs["repeat_penalty"] = 1.15
        if stop:
            kwargs["stop"] = stop
        t0 = time.perf_counter()
        with llama.busy:  # shared by every EmbeddedLLM of this model (see _fastgrammar.FastLlama)
            try:
                out = llama.create_chat_completion(**kwargs)
            except ValueError as e:  # e.g. prompt longer than the context
                raise ModelBehaviorError(f"the embedded model refused the request: {e}") from None
        seconds = time.perf_counter() - t0
        usage = out.get("usage") or {}
        comp = Completion(
            text=out["choices"][0]["message"].get("content") or "",
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            seconds=seconds,
        )
        with self._lock:
            self._track(comp)
        return comp

    def _track(self, comp: Completion) -> None:
        u = self._token_usage
        u["prompt_tokens"] += comp.prompt_tokens
        u["completion_tokens"] += comp.completion_tokens
        u["total_tokens"] += comp.prompt_tokens + comp.completion_tokens
        u["successful_requests"] += 1

    # --- CrewAI's interface ------------------------------------------------------------
    def call(
        self,
        messages,
        tools: list[dict] | None = None,
        callbacks: list[Any] | None = None,
        available_functions: dict[str, Any] | None = None,
        from_task: Any | None = None,
        from_agent: Any | None = None,
        response_model: type[BaseModel] | None = None,
    ) -> str | list[dict]:
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        messages = list(messages)
        if tools:
            output_model = response_model or getattr(from_task, "output_pydantic", None)
            return self._tool_step(messages, tools, available_functions, output_model)
        if response_model is not None:
            schema = response_model.model_json_schema()
            return self.generate(messages, schema=schema).text
        text = self.generate(messages, stop=list(self.stop_sequences) or None).text
        return self._apply_stop_words(text) if self.stop_sequences else text

    def _tool_step(
        self, messages: list[dict], tools: list[dict], available_functions, output_model=None
    ) -> str | list[dict]:
        allow_final = (not self.tools_before_answer) or _has_tool_result(messages)
        final_schema = output_model.model_json_schema() if output_model is not None else None
        schema = tool_step_schema(tools, allow_final, final_schema)
        guide = {"role": "system", "content": _tool_instructions(tools, allow_final, final_schema is not None)}
        convo = (
            [messages[0], guide, *messages[1:]]
            if messages and messages[0].get("role") == "system"
            else [guide, *messages]
        )
        budget = max(self.max_tokens or 512, 1024)
        step, error = None, ""
        for attempt in range(2):  # a step cut off at the token budget (a repetition loop) is sampled once more
            comp = self.generate(convo, schema=schema, max_tokens=budget, temperature=0.3 if attempt else None)
            try:
                step = json.loads(comp.text, strict=False)
            except json.JSONDecodeError as e:
                error = str(e)
                convo = [*convo, {"role": "user", "content": "Your last reply was cut off. Reply again, shorter, "
                                  "without repeating yourself."}]  # fmt: skip
                continue
            copied = copied_descriptions(step, tools)
            if not copied or attempt:
                break
            convo = [*convo, {"role": "assistant", "content": comp.text}, {"role": "user", "content":
                     f"You wrote the description of {', '.join(copied)} as its value. Call the tool again with the "
                     "actual value, taken from the task (for example, the question itself)."}]  # fmt: skip
        if step is None:
            raise ModelBehaviorError(f"the embedded model broke its tool-step grammar twice (cut off?): {error}")
        if "final_answer" in step:
            final = step["final_answer"]
            return json.dumps(final, ensure_ascii=False) if not isinstance(final, str) else final
        name, args = step["tool"], step.get("arguments") or {}
        if available_functions and name in available_functions:  # caller wants us to run it
            return str(available_functions[name](**args))
        return [tool_call(name, args)]

    async def acall(
        self,
        messages,
        tools=None,
        callbacks=None,
        available_functions=None,
        from_task=None,
        from_agent=None,
        response_model=None,
    ):
        import asyncio

        return await asyncio.to_thread(
            self.call, messages, tools, callbacks, available_functions, from_task, from_agent, response_model
        )

    def supports_function_calling(self) -> bool:
        return True

    def supports_stop_words(self) -> bool:
        return True

    def get_context_window_size(self) -> int:
        return int(self.n_ctx * 0.85)

    def get_input_tokens_count(self, messages, tools=None, response_model=None) -> int:
        text = messages if isinstance(messages, str) else "\n".join(str(m.get("content") or "") for m in messages)
        try:
            return len(self._llama().tokenize(text.encode("utf-8"), add_bos=False))
        except Exception:
            return (len(text) + 3) // 4
