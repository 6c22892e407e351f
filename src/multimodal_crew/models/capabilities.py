"""What a model can do, and how a JSON schema is enforced on it: the one place model quirks live.

>>> capabilities("ollama/qwen2.5:7b").summary()                         # doctest: +SKIP
'qwen2.5 family: context 32768 tokens; JSON schema via response_format json_schema; vision no; tools yes'

For a model string (``embedded``, ``ollama/<name>``, ``openai/<name>``, any other string CrewAI
accepts) the table gives:

* ``context``: the context window in tokens (the embedded model: ``MMCREW_N_CTX``);
* ``json_schema``: how a schema-constrained call (``Runtime.complete_json``) enforces the schema:

  ============== ================================================================================
  ``grammar``     the embedded llama.cpp model: a grammar built from the schema, in process
  ``json_schema`` ``response_format={"type": "json_schema", "json_schema": {name, schema, strict}}``
                  (OpenAI, Ollama's /v1, vLLM)
  ``json_object`` ``response_format={"type": "json_object", "schema": ...}``: llama-cpp-python's
                  ``llama_cpp.server``, whose request model allows only ``text`` and ``json_object``
                  (``llama_types.ChatCompletionRequestResponseFormat``) and turns the schema into a
                  grammar (``llama_chat_format._grammar_for_response_format``); it refuses
                  ``json_schema`` (HTTP 500 with FastAPI 0.165, 422 with others: "Input should be
                  'text' or 'json_object'")
  ``prompt``      no ``response_format``: the schema is written into the request, and ``structured()``
                  validates and retries as always (for servers that enforce nothing)
  ``crewai``      a model without an OpenAI-compatible server of ours: CrewAI's
                  ``call(response_model=...)`` (the provider's own structured output)
  ============== ================================================================================

* ``vision``: the model reads images; ``tools``: it makes native tool calls.

Known families are matched by name (:data:`FAMILIES`, most specific first); an unknown model gets
:data:`UNKNOWN`. A served name ending in ``.gguf`` (llama_cpp.server names a model by its file
unless given ``--model_alias``) is taken to be llama_cpp.server: ``json_object``, and its default
``--n_ctx`` of 2048. When the guess is wrong, ``MMCREW_MODEL_CAPABILITIES`` overrides any of the
four, for every remote model (``{"json_schema": "json_object"}``) or per model string
(``{"openai/qwen": {"json_schema": "json_object", "context": 8192}}``). And a server that refuses
``json_schema`` the way llama_cpp.server does is answered once more with ``json_object``
(:func:`after_refusal`), so an aliased llama_cpp.server works without the override.

The embedded model's GGUF behind llama_cpp.server answers exactly as in process (``bench/remote_model.py``)
when the request and the server both match it. The request is ours: the schema with the keys in the order
the embedded grammar has them (:meth:`Capabilities.response_format`; llama.cpp writes properties in schema
order), greedy with no repeat penalty and the run's seed (:meth:`Capabilities.sampling`); the sampler fields
left out (top_k 40, top_p 0.95, min_p 0.05) default to the embedded model's values. The server is the
user's: start it as ``tests/servers.py`` ``LlamaServer`` does, ``--n_ctx`` = ``MMCREW_N_CTX``, no
``--chat_format`` (the GGUF's own template, as in process), ``--n_batch 512 --n_ubatch 512`` (the
defaults; batch sizes decide how the prompt's float sums are split, which can flip a near-tie greedy
token, though 128 changed none of the bench's answers), and ``--logits_all false`` (the default ``true``
changes no answer but computes and copies every prompt token's logits, seconds per request). The KV
cache of the previous request is reused whatever the flags (the longest common token prefix), so what a
server decoded before (other clients) decides where its prompt evaluation starts; the bench's requests in
reverse order changed none of their answers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

from ..errors import ConfigError
from ..settings import Settings, get_settings

__all__ = ["Capabilities", "capabilities", "after_refusal", "FAMILIES", "UNKNOWN", "MODES", "backend_of"]

MODES = ("grammar", "json_schema", "json_object", "prompt", "crewai")
KEYS = ("context", "json_schema", "vision", "tools")
LLAMA_CPP_SERVER_CTX = 2048  # llama_cpp.server's default --n_ctx (llama_cpp/server/settings.py)


@dataclass(frozen=True)
class Family:
    name: str
    pattern: str  # searched in the lower-cased served name
    context: int
    vision: bool
    tools: bool


# most specific first: the first pattern found in the name wins
FAMILIES: tuple[Family, ...] = (
    Family("qwen2.5-vl", r"qwen2\.5-?vl", 32768, vision=True, tools=False),
    Family("qwen2.5", r"qwen2\.5", 32768, vision=False, tools=True),
    Family("qwen3", r"qwen3", 40960, vision=False, tools=True),
    Family("llama3.2-vision", r"llama-?3\.2-?vision", 131072, vision=True, tools=False),
    Family("llama3.x", r"llama-?3\.[123]", 131072, vision=False, tools=True),
    Family("llama3", r"llama-?3", 8192, vision=False, tools=False),
    Family("llava", r"llava", 4096, vision=True, tools=False),
    Family("gemma3", r"gemma-?3", 131072, vision=True, tools=False),
    Family("mistral", r"mistral", 32768, vision=False, tools=True),
    Family("gpt-4o", r"gpt-4o", 128000, vision=True, tools=True),
    Family("gpt-4.1", r"gpt-4\.1", 1047576, vision=True, tools=True),
    Family("claude", r"claude", 200000, vision=True, tools=True),
)
UNKNOWN = Family("unknown", "", 4096, vision=False, tools=False)

_JSON_WORDS = {
    "grammar": "llama.cpp grammar from the schema (in process)",
    "json_schema": "response_format json_schema",
    "json_object": "response_format json_object + schema (llama_cpp.server)",
    "prompt": "the schema in the prompt only, validated and retried",
    "crewai": "CrewAI's response_model (the provider's structured output)",
}


@dataclass(frozen=True)
class Capabilities:
    model: str
    backend: str  # embedded | ollama | openai-compatible | crewai (as models.runtime names them)
    family: str
    context: int
    json_schema: str  # one of MODES
    vision: bool
    tools: bool
    source: str = "table"  # where the values come from: table, defaults, embedded, a guess, the override, the server

    def response_format(self, name: str, schema: dict) -> dict | None:
        """The ``response_format`` of a chat request that enforces ``schema`` (None: send none)."""
        if self.json_schema == "json_schema":
            return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}
        if self.json_schema == "json_object":
            # llama_cpp.server turns the schema into a llama.cpp grammar: the very schema text the embedded
            # model's grammar is built from (long length bounds left to Pydantic, keys sorted: the key order
            # is the order the grammar makes the model write the properties in), so the two decode alike
            from .embedded import grammar_json

            return {"type": "json_object", "schema": json.loads(grammar_json(schema))}
        return None

    def sampling(self, temperature: float, seed: int) -> dict:
        """Extra request fields for the server's sampler. llama_cpp.server (``json_object``) penalises
        repeats by 1.1 unless told otherwise; the embedded model samples with none, and 1.15 on a retry
        (a temperature above 0): sent as they are, the same GGUF on the server answers as in process."""
        if self.json_schema != "json_object":
            return {}
        return {"repeat_penalty": 1.15 if temperature else 1.0, "seed": seed}

    def messages(self, messages: list[dict], schema: dict) -> list[dict]:
        """The messages to send: as they are, or with the schema written in (``prompt``)."""
        if self.json_schema != "prompt":
            return messages
        note = "Reply with one JSON value only, no prose, matching this JSON schema:\n" + json.dumps(schema)
        return [*messages, {"role": "system", "content": note}]

    def summary(self) -> str:
        yes = {True: "yes", False: "no"}
        return (
            f"{self.family} ({self.source}): context {self.context} tokens; JSON schema via "
            f"{_JSON_WORDS[self.json_schema]}; vision {yes[self.vision]}; tools {yes[self.tools]}"
        )


def backend_of(model: str, settings: Settings) -> str:
    """The runtime kind ``models.runtime`` makes for ``model`` (without making it)."""
    low = model.strip().lower()
    if low == "embedded":
        return "embedded"
    prefix = low.split("/", 1)[0] if "/" in low else ""
    if prefix in ("ollama", "ollama_chat"):
        return "ollama"
    if prefix == "openai" and settings.api_base:
        return "openai-compatible"
    return "crewai"


def _served(model: str) -> str:
    name = model.strip().split("/", 1)[1] if "/" in model.strip() else model.strip()
    return name.lower()


def _family(name: str) -> Family:
    base = name.rsplit("/", 1)[-1]  # a served path (llama_cpp.server: the GGUF file) by its file name
    for fam in FAMILIES:
        if re.search(fam.pattern, base):
            return fam
    return UNKNOWN


def capabilities(
    model: str | None = None, settings: Settings | None = None, backend: str | None = None
) -> Capabilities:
    """The capabilities of ``model`` (default: ``MODEL``) on ``backend`` (default: the runtime kind the
    settings make for it), overrides from ``MMCREW_MODEL_CAPABILITIES`` applied."""
    s = settings or get_settings()
    model = (model or s.model).strip()
    backend = backend or backend_of(model, s)
    if backend == "embedded":
        # the pinned Qwen2.5-Coder GGUFs: trained on 32768 tokens, run with MMCREW_N_CTX; tool calls
        # are grammar-constrained JSON (models.embedded), so tools work though the model cannot see
        return Capabilities(
            f"embedded/{s.embedded_model}", backend, "qwen2.5-coder", s.n_ctx, "grammar",
            vision=False, tools=True, source="embedded, MMCREW_N_CTX",
        )  # fmt: skip
    name = _served(model)
    fam = _family(name)
    mode = {"ollama": "json_schema", "openai-compatible": "json_schema"}.get(backend, "crewai")
    context, source = fam.context, "table" if fam is not UNKNOWN else "defaults"
    if backend == "openai-compatible" and name.endswith(".gguf"):
        mode, context, source = "json_object", LLAMA_CPP_SERVER_CTX, "guess: llama_cpp.server"
    caps = Capabilities(model, backend, fam.name, context, mode, fam.vision, fam.tools, source)
    override = _override_for(model, s.model_capabilities)
    if override:
        caps = replace(caps, **override, source=f"{caps.source} + MMCREW_MODEL_CAPABILITIES")
    return caps


def after_refusal(caps: Capabilities, status: int | None, message: str) -> Capabilities | None:
    """The capabilities to try once more with when the server refused the request's ``response_format``
    the way llama_cpp.server refuses ``json_schema``; None when this refusal is something else."""
    low = message.lower()
    if caps.json_schema != "json_schema" or status not in (400, 422, 500):
        return None
    if "json_object" in low and ("response_format" in low or "json_schema" in low):
        return replace(caps, json_schema="json_object", source="server: it refused json_schema")
    return None


def _override_for(model: str, text: str) -> dict[str, Any]:
    """The overrides that apply to ``model``, checked (ConfigError naming the setting)."""
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as e:
        raise ConfigError(
            f'MMCREW_MODEL_CAPABILITIES is not JSON ({e.msg}); e.g. {{"json_schema": "json_object"}}'
        ) from None
    if not isinstance(data, dict):
        raise ConfigError('MMCREW_MODEL_CAPABILITIES must be a JSON object, e.g. {"json_schema": "json_object"}')
    if data and all(isinstance(v, dict) for v in data.values()) and not set(data) & set(KEYS):
        per_model = {k.strip().lower(): v for k, v in data.items()}
        data = per_model.get(model.strip().lower(), {})
    return _checked(data)


def _checked(data: dict) -> dict[str, Any]:
    where = "MMCREW_MODEL_CAPABILITIES"
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r}; use {', '.join(KEYS)} (or model strings mapping to them)"
        )
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "context":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{where}: context must be a whole number of tokens, 1 or more (got {value!r})")
        elif key == "json_schema":
            if value not in MODES or value == "grammar":
                allowed = ", ".join(m for m in MODES if m != "grammar")
                raise ConfigError(f"{where}: json_schema must be one of {allowed} (got {value!r})")
        elif not isinstance(value, bool):
            raise ConfigError(f"{where}: {key} must be true or false (got {value!r})")
        out[key] = value
    return out
