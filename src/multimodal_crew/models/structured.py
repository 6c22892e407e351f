"""``structured()``: a schema-constrained call, validated, retried, and never ``None``.

>>> class Answer(BaseModel):
...     city: str
>>> def known_city(a: Answer):
...     if a.city not in {"Berlin", "Osaka"}:
...         raise ValueError(f"{a.city!r} is not one of Berlin, Osaka")
>>> structured(model, [{"role": "user", "content": "Which city?"}], Answer,
...            validators=[known_city])                        # doctest: +SKIP
Answer(city='Berlin')

Each attempt: generate with the JSON schema enforced by the backend, parse
(tolerating raw control characters llama.cpp lets into strings), validate with
Pydantic, then run the semantic validators. A refused attempt is answered with
the error text and the model tries again, ``max_retries`` times, sampling at a
slightly higher temperature each time (greedy retries tend to repeat themselves). After the last
it raises ``StructuredOutputError`` carrying every attempt and the last raw output.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..errors import Attempt, StructuredOutputError

__all__ = ["structured", "Validator", "ValidationFailed"]

T = TypeVar("T", bound=BaseModel)
Validator = Callable[[Any], None]
log = logging.getLogger(__name__)


RETRY_TEMPERATURE_STEP = 0.3


class ValidationFailed(ValueError):
    """Raise from a semantic validator; the message goes back to the model verbatim."""


def _parse(raw: str, output_model: type[T]) -> T:
    data = json.loads(raw, strict=False)
    return output_model.model_validate(data)


def _describe(err: Exception) -> str:
    if isinstance(err, ValidationError):
        parts = []
        for e in err.errors()[:5]:
            loc = ".".join(str(x) for x in e.get("loc", ())) or "(root)"
            parts.append(f"{loc}: {e.get('msg')}")
        return "; ".join(parts)
    if isinstance(err, json.JSONDecodeError):
        if err.msg.startswith("Unterminated string") or err.pos >= len(err.doc.rstrip()):
            return "the reply was cut off before the JSON ended (too long); reply again, much shorter"
        return f"not valid JSON ({err.msg} at position {err.pos})"
    return str(err)


def _complete(
    model: Any, messages: list[dict], schema: dict, name: str, output_model: type[BaseModel], temperature: float | None
) -> str:
    if hasattr(model, "complete_json"):
        if temperature is None:
            return model.complete_json(messages, schema, name, output_model)
        return model.complete_json(messages, schema, name, output_model, temperature=temperature)
    if hasattr(model, "generate"):  # an EmbeddedLLM on its own
        return model.generate(messages, schema=schema, temperature=temperature).text
    raise TypeError(f"{type(model).__name__} can neither complete_json() nor generate()")


class Attempts:
    """An ``on_attempt`` callback that counts attempts (``.n``) and reports each refusal via ``say``."""

    def __init__(self, what: str = "", say: Callable[[str], None] | None = None):
        self.n, self.what, self.say = 0, what, say

    def __call__(self, number: int, raw: str, error: str | None) -> None:
        self.n = number
        if error and self.say:
            self.say(f"{self.what} attempt {number} refused ({error[:80]}); retrying")


def structured(
    model: Any,
    messages: Sequence[dict] | str,
    output_model: type[T],
    *,
    validators: Iterable[Validator] = (),
    max_retries: int | None = None,
    on_attempt: Callable[[int, str, str | None], None] | None = None,
) -> T:
    """Return a validated ``output_model`` instance or raise ``StructuredOutputError``.

    ``model`` is a runtime (``get_runtime()``), an ``EmbeddedLLM``, or any object with
    ``complete_json(messages, schema, name, output_model) -> str`` (fakes in tests).
    ``on_attempt(number, raw, error_or_None)`` is called after every attempt.
    """
    if max_retries is None:
        from ..settings import get_settings

        max_retries = get_settings().max_retries
    if max_retries < 0:
        raise ValueError("max_retries must be >= 0")
    convo: list[dict] = [{"role": "user", "content": messages}] if isinstance(messages, str) else list(messages)
    schema = output_model.model_json_schema()
    name = output_model.__name__
    validators = list(validators)
    attempts: list[Attempt] = []
    for number in range(1, max_retries + 2):
        # Greedy decoding repeats itself: a retry after a refusal samples a little (0.3, 0.6, ...)
        # so the error feedback is not answered with the same output (e.g. a repetition loop).
        temperature = None if number == 1 else min(RETRY_TEMPERATURE_STEP * (number - 1), 0.9)
        raw = _complete(model, convo, schema, name, output_model, temperature)
        try:
            obj = _parse(raw, output_model)
            for check in validators:
                check(obj)
        except (ValidationError, ValueError) as err:  # JSONDecodeError and ValidationFailed are ValueErrors
            reason = _describe(err)
            attempts.append(Attempt(raw=raw, error=reason))
            log.info("structured %s attempt %d refused: %s", name, number, reason)
            if on_attempt:
                on_attempt(number, raw, reason)
            convo = [
                *convo,
                {"role": "assistant", "content": raw},
                {
                    "role": "user",
                    "content": f"That reply was rejected: {reason}\nReply again with the corrected JSON only.",
                },
            ]
            continue
        if on_attempt:
            on_attempt(number, raw, None)
        return obj
    raise StructuredOutputError(name, attempts)
