"""Which model serves the app: one runtime object per ``MODEL`` setting.

A runtime has ``.llm`` (what agents and crews use) and ``complete_json(messages,
schema, name)`` (a schema-constrained completion, what ``structured()`` uses):

=====================  ==============================  ==========================================
MODEL                  agents use                      schema enforced by (``.caps.json_schema``)
=====================  ==============================  ==========================================
``embedded``           EmbeddedLLM (llama.cpp)         llama.cpp grammar from the schema
``ollama/<name>``      crewai.LLM -> Ollama /v1        ``response_format`` json_schema
``openai/<name>``      crewai.LLM (MMCREW_API_BASE,    ``response_format`` json_schema, or
                       MMCREW_API_KEY)                 json_object for llama_cpp.server
anything else          crewai.LLM (LiteLLM/native)     ``call(response_model=...)``
=====================  ==============================  ==========================================

How each model's requests are shaped (its quirks) comes from ``models.capabilities``, the one
place they live. Requests to Ollama and OpenAI-compatible servers time out after
``MMCREW_REQUEST_TIMEOUT`` and are retried on 429, 5xx, timeouts and lost connections
(``remote.with_retries``: ``MMCREW_REQUEST_RETRIES``, ``MMCREW_RETRY_BACKOFF``).
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import BackendUnavailableError, ConfigError, ModelBehaviorError
from ..remote import server_message, with_retries
from ..settings import Settings, get_settings
from .capabilities import Capabilities, after_refusal, capabilities

log = logging.getLogger(__name__)

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
    caps: Capabilities | None = None  # from models.capabilities; a server's refusal may teach it better

    def __post_init__(self):
        if self.caps is None:
            self.caps = capabilities(self.model if self.kind != "embedded" else "embedded", self.settings, self.kind)

    # -- schema-constrained completion -------------------------------------------------
    def complete_json(
        self, messages: list[dict], schema: dict, name: str, output_model: Any = None, temperature: float | None = None
    ) -> str:
        if self.kind == "embedded":
            return self.llm.generate(messages, schema=schema, temperature=temperature).text
        if self.kind in ("ollama", "openai-compatible") and self.caps.json_schema != "crewai":
            return self._openai_json(messages, schema, name, temperature)
        return self._crewai_json(messages, output_model)

    def api_key(self) -> str:
        """The key sent to the server: MMCREW_API_KEY (or OPENAI_API_KEY) for an OpenAI-compatible server,
        a placeholder when none is set (local servers need none, the SDK wants one); none to Ollama."""
        if self.kind == "ollama":
            return "ollama"
        return self.settings.api_key.get_secret_value() or "not-needed"

    def _client(self):
        from openai import OpenAI

        return OpenAI(
            base_url=self._v1(),
            api_key=self.api_key(),
            timeout=self.settings.request_timeout,
            max_retries=0,  # remote.with_retries retries, with the attempt count in its error
        )

    def _v1(self) -> str:
        base = (self.base_url or "").rstrip("/")
        return base if base.endswith("/v1") else base + "/v1"

    def _served_name(self) -> str:
        return self.model.split("/", 1)[1] if "/" in self.model else self.model

    def _where(self) -> str:
        return f"Ollama at {self.base_url}" if self.kind == "ollama" else f"the model server at {self.base_url}"

    def _openai_json(self, messages: list[dict], schema: dict, name: str, temperature: float | None = None) -> str:
        import openai

        client = self._client()

        def ask(caps: Capabilities):
            fmt = caps.response_format(name, schema)
            temp = self.settings.temperature if temperature is None else temperature
            extra = caps.sampling(temp, self.settings.seed)
            return client.chat.completions.create(
                model=self._served_name(),
                messages=caps.messages(messages, schema),
                temperature=temp,
                max_tokens=self.settings.max_tokens,
                **({"response_format": fmt} if fmt is not None else {}),
                **({"extra_body": extra} if extra else {}),
            )

        def once():
            caps = self.caps
            try:
                return ask(caps)
            except openai.APIStatusError as e:
                learned = after_refusal(caps, e.status_code, _body(e))
                if learned is None:
                    raise
                log.info("%s refused response_format json_schema; using json_object from now on", self._where())
                self.caps = learned
                return ask(learned)

        try:
            resp = with_retries(
                once,
                where=self._where(),
                retries=self.settings.request_retries,
                backoff=self.settings.retry_backoff,
                unreachable_hint=self._unreachable_hint(),
                timeout=self.settings.request_timeout,
                redact=self._redact,
            )
        except openai.NotFoundError:
            raise ConfigError(self._not_found()) from None
        except (openai.AuthenticationError, openai.PermissionDeniedError) as e:
            raise ConfigError(self._refused_key(e.status_code)) from None
        except openai.APIStatusError as e:
            raise ModelBehaviorError(
                self._redact(f"{self.kind} server at {self.base_url} answered HTTP {e.status_code}: {_body(e)}")
            ) from None
        return resp.choices[0].message.content or ""

    def _refused_key(self, status: int) -> str:
        # the server's own words are left out: some repeat the key they were sent
        if self.kind == "ollama":
            return f"{self._where()} refused the request (HTTP {status}); no key is sent to Ollama"
        key = "set" if self.settings.api_key.get_secret_value() else "not set"
        return f"{self._where()} refused the request (HTTP {status}); check MMCREW_API_KEY (it is {key})"

    def _redact(self, text: str) -> str:
        key = self.settings.api_key.get_secret_value()
        return text.replace(key, "[MMCREW_API_KEY]") if key else text

    def _crewai_json(self, messages: list[dict], output_model: Any) -> str:
        from pydantic import BaseModel

        out = self.llm.call(messages, response_model=output_model)
        if isinstance(out, BaseModel):
            return out.model_dump_json()
        return out if isinstance(out, str) else json.dumps(out)

    # -- health ---------------------------------------------------------------------------
    def _unreachable_hint(self) -> str:
        if self.kind == "ollama":
            return "start it (ollama serve) or set OLLAMA_BASE_URL"
        return "start it or set MMCREW_API_BASE"

    def _unreachable(self) -> str:
        return f"cannot reach {self._where()}; {self._unreachable_hint()}"

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

            try:  # one attempt: a health check says at once what is wrong
                names = [m.id for m in self._client().models.list()]
            except openai.APIConnectionError:
                raise BackendUnavailableError(self._unreachable()) from None
            except (openai.AuthenticationError, openai.PermissionDeniedError) as e:
                raise ConfigError(self._refused_key(e.status_code)) from None
            except openai.APIStatusError as e:
                raise BackendUnavailableError(
                    self._redact(f"{self._where()} answered HTTP {e.status_code}: {_body(e)}")
                ) from None
            if self._served_name() not in names and f"{self._served_name()}:latest" not in names:
                raise ConfigError(self._not_found())
            return f"{self.model} at {self.base_url}: reachable, model present"
        return f"{self.model}: configured (not checked: provider without a model listing)"


def _body(e: Any) -> str:
    """An ``openai.APIStatusError``'s server message, one line."""
    return server_message(e.body if e.body is not None else e.response.text)


_CACHE: dict[tuple, Runtime] = {}
_LOCK = threading.Lock()


def reset_runtime() -> None:
    with _LOCK:
        _CACHE.clear()


def get_runtime(settings: Settings | None = None, *, verify_model: bool = True) -> Runtime:
    """The runtime for ``settings.model``; one per configuration and process, however many threads
    ask for it at once."""
    s = settings or get_settings()
    key = (
        s.model, s.embedded_model, str(s.models_path), s.ollama_base_url, s.api_base, s.temperature, s.max_tokens,
        s.api_key.get_secret_value(), s.request_timeout, s.request_retries, s.retry_backoff, s.model_capabilities,
    )  # fmt: skip
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
                api_key=s.api_key.get_secret_value() or "not-needed",  # local servers need none; the SDK wants one
            )
            return Runtime("openai-compatible", model, llm, base_url=s.api_base, settings=s)
        else:
            # OpenAI itself takes MMCREW_API_KEY; other providers read their usual variable (ANTHROPIC_API_KEY, ...)
            key = s.api_key.get_secret_value() if prefix == "openai" else ""
            llm = LLM(
                model=model, temperature=s.temperature, max_tokens=s.max_tokens, timeout=s.request_timeout,
                **({"api_key": key} if key else {}),
            )  # fmt: skip
            return Runtime("crewai", model, llm, settings=s)
