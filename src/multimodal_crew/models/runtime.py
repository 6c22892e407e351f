"""Which model serves the app: one runtime object per ``MODEL`` setting.

A runtime has ``.llm`` (what agents and crews use) and ``complete_json(messages,
schema, name)`` (a schema-constrained completion, what ``structured()`` uses).
Model quirks live here and nowhere else:

=====================  ==============================  ================================
MODEL                  agents use                      schema enforced by
=====================  ==============================  ================================
``embedded``           EmbeddedLLM (llama.cpp)         llama.cpp grammar from the schema
``ollama/<name>``      crewai.LLM -> Ollama /v1        ``response_format`` json_schema
``openai/<name>``      crewai.LLM (MMCREW_API_BASE)    ``response_format`` json_schema
anything else          crewai.LLM (LiteLLM/native)     ``call(response_model=...)``
=====================  ==============================  ================================
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import BackendUnavailableError, ConfigError, ModelBehaviorError
from ..settings import Settings, get_settings

__all__ = ["Runtime", "JSONCompleter", "get_runtime", "reset_runtime"]


class JSONCompleter(Protocol):
    def complete_json(
        self, messages: list[dict], schema: dict, name: str, output_model: Any = None, temperature: float | None = None
    ) -> str: ...


@dataclass
class Runtime:
    kind: str  # embedded | ollama | openai-compatible | crewai
    model: str
    llm: Any
    base_url: str | None = None
    settings: Settings = field(default_factory=get_settings)

    # -- schema-constrained completion -------------------------------------------------
    def complete_json(
        self, messages: list[dict], schema: dict, name: str, output_model: Any = None, temperature: float | None = None
    ) -> str:
        if self.kind == "embedded":
            return self.llm.generate(messages, schema=schema, temperature=temperature).text
        if self.kind in ("ollama", "openai-compatible"):
            return self._openai_json(messages, schema, name, temperature)
        return self._crewai_json(messages, output_model)

    def _client(self):
        from openai import OpenAI

        return OpenAI(
            base_url=self._v1(),
            api_key=getattr(self.llm, "api_key", None) or "not-needed",
            timeout=self.settings.request_timeout,
            max_retries=0,
        )

    def _v1(self) -> str:
        base = (self.base_url or "").rstrip("/")
        return base if base.endswith("/v1") else base + "/v1"

    def _served_name(self) -> str:
        return self.model.split("/", 1)[1] if "/" in self.model else self.model

    def _openai_json(self, messages: list[dict], schema: dict, name: str, temperature: float | None = None) -> str:
        import openai

        try:
            resp = self._client().chat.completions.create(
                model=self._served_name(),
                messages=messages,
                temperature=self.settings.temperature if temperature is None else temperature,
                max_tokens=self.settings.max_tokens,
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": name, "schema": schema, "strict": True},
                },
            )
        except openai.APIConnectionError:
            raise BackendUnavailableError(self._unreachable()) from None
        except openai.NotFoundError:
            raise ConfigError(self._not_found()) from None
        except openai.APIStatusError as e:
            raise ModelBehaviorError(
                f"{self.kind} server at {self.base_url} answered HTTP {e.status_code}: {e.message}"
            ) from None
        return resp.choices[0].message.content or ""

    def _crewai_json(self, messages: list[dict], output_model: Any) -> str:
        from pydantic import BaseModel

        out = self.llm.call(messages, response_model=output_model)
        if isinstance(out, BaseModel):
            return out.model_dump_json()
        return out if isinstance(out, str) else json.dumps(out)

    # -- health ---------------------------------------------------------------------------
    def _unreachable(self) -> str:
        if self.kind == "ollama":
            return f"cannot reach Ollama at {self.base_url}; start it (ollama serve) or set OLLAMA_BASE_URL"
        return f"cannot reach the model server at {self.base_url}; start it or set MMCREW_API_BASE"

    def _not_found(self) -> str:
        if self.kind == "ollama":
            return f"Ollama at {self.base_url} has no model {self._served_name()!r}; run: ollama pull {self._served_name()}"
        return f"the server at {self.base_url} has no model {self._served_name()!r}"

    def check(self) -> str:
        """Raise a typed error if the model cannot serve; return a one-line description."""
        if self.kind == "embedded":
            self.llm.generate([{"role": "user", "content": "Say OK."}], max_tokens=2)
            return f"{self.model}: loaded and answered"
        if self.kind in ("ollama", "openai-compatible"):
            import openai

            try:
                names = [m.id for m in self._client().models.list()]
            except openai.APIConnectionError:
                raise BackendUnavailableError(self._unreachable()) from None
            if self._served_name() not in names and f"{self._served_name()}:latest" not in names:
                raise ConfigError(self._not_found())
            return f"{self.model} at {self.base_url}: reachable, model present"
        return f"{self.model}: configured (not checked: provider without a model listing)"


_CACHE: dict[tuple, Runtime] = {}
_LOCK = threading.Lock()


def reset_runtime() -> None:
    with _LOCK:
        _CACHE.clear()


def get_runtime(settings: Settings | None = None, *, verify_model: bool = True) -> Runtime:
    """The runtime for ``settings.model``; one per configuration and process, however many threads
    ask for it at once."""
    s = settings or get_settings()
    key = (s.model, s.embedded_model, str(s.models_path), s.ollama_base_url, s.api_base, s.temperature, s.max_tokens)
    found = _CACHE.get(key)
    if found is None:
        with _LOCK:
            found = _CACHE.get(key)
            if found is None:
                found = _CACHE[key] = _make_runtime(s, verify_model)
    return found


def _make_runtime(s: Settings, verify_model: bool) -> Runtime:
    model = s.model.strip()
    if model.lower() == "embedded":
        from .embedded import EmbeddedLLM
        from .weights import verify

        path = verify(s.embedded_model, s.models_path, full=verify_model)
        llm = EmbeddedLLM(
            model=f"embedded/{s.embedded_model}",
            model_path=str(path),
            n_ctx=s.n_ctx,
            n_threads=s.threads,
            seed=s.seed,
            temperature=s.temperature,
            max_tokens=s.max_tokens,
            tools_before_answer=s.tools_before_answer,
        )
        return Runtime("embedded", f"embedded/{s.embedded_model}", llm, settings=s)
    else:
        from crewai import LLM

        prefix = model.split("/", 1)[0].lower() if "/" in model else ""
        if prefix in ("ollama", "ollama_chat"):
            base = s.ollama_base_url.rstrip("/")
            if not base.startswith(("http://", "https://")):
                base = "http://" + base
            llm = LLM(
                model=model,
                base_url=base + "/v1",
                temperature=s.temperature,
                max_tokens=s.max_tokens,
                timeout=s.request_timeout,
            )
            return Runtime("ollama", model, llm, base_url=base, settings=s)
        elif prefix == "openai" and s.api_base:
            llm = LLM(
                model=model,
                base_url=s.api_base,
                temperature=s.temperature,
                max_tokens=s.max_tokens,
                timeout=s.request_timeout,
                api_key="not-needed",
            )
            return Runtime("openai-compatible", model, llm, base_url=s.api_base, settings=s)
        else:
            llm = LLM(model=model, temperature=s.temperature, max_tokens=s.max_tokens, timeout=s.request_timeout)
            return Runtime("crewai", model, llm, settings=s)
