"""Requests to model servers: bounded retries with exponential backoff, and one-line errors.

>>> with_retries(lambda: client.post(...), where="the model server at http://gpu:8000/v1",
...              retries=3, backoff=1.0)                                   # doctest: +SKIP

A request is tried again on HTTP 429, on HTTP 5xx, on a timeout and on a connection that
could not be made or was dropped: ``retries`` more times (``MMCREW_REQUEST_RETRIES``), waiting
``backoff`` seconds before the first retry and twice as long before each next one, at most
:data:`MAX_WAIT` (a 429's ``Retry-After`` is honoured up to that). Anything else, a 4xx other
than 429 first of all, is raised at once, as it came, for the caller to explain. After the last
attempt the error is a :class:`BackendUnavailableError` whose one line says how many attempts
were made and what the last one got::

    the model server at http://gpu:8000/v1 failed after 4 attempts: HTTP 503 Service Unavailable: overloaded

Used for the schema-constrained calls of ``models.runtime`` (the OpenAI SDK's exceptions) and
the remote embedders of ``knowledge.embedder`` (httpx's and ollama's).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import TypeVar

from .errors import BackendUnavailableError

__all__ = ["Failure", "describe", "with_retries", "server_message", "MAX_WAIT"]

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_WAIT = 30.0  # seconds: the longest wait between two attempts


@dataclass(frozen=True)
class Failure:
    """What one failed attempt means: whether to try again, and one line saying what happened."""

    retry: bool
    text: str
    status: int | None = None  # the HTTP status, when the server answered
    kind: str = "answered"  # answered | unreachable (refused, dropped, no such host) | timeout
    retry_after: float | None = None  # seconds, from a Retry-After header


def _one_line(text: object, limit: int = 240) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def server_message(body: object) -> str:
    """The human part of an error body: OpenAI's ``{"error": {"message": ...}}``, FastAPI's
    ``{"detail": ...}``, Ollama's ``{"error": "..."}``, or the text as it is; one line."""
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body)
        except ValueError:
            return _one_line(body.decode("utf-8", "replace") if isinstance(body, bytes) else body)
    if isinstance(body, dict):
        err = body.get("error", body.get("detail", body))
        if isinstance(err, dict):
            err = err.get("message", err)
        return _one_line(err if isinstance(err, str) else json.dumps(err, ensure_ascii=False))
    return _one_line(body)


def _status_text(status: int) -> str:
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def _retry_after(headers) -> float | None:
    try:
        value = float(headers.get("retry-after"))
    except (AttributeError, TypeError, ValueError):  # no header, or an HTTP date: the backoff decides
        return None
    return value if value >= 0 else None


def _answered(status: int, message: str, headers=None) -> Failure:
    text = _status_text(status) + (f": {message}" if message else "")
    return Failure(status == 429 or status >= 500, text, status, retry_after=_retry_after(headers))


def describe(e: BaseException) -> Failure | None:
    """What ``e`` says about the server, or None for an exception that is not about it.

    Knows the OpenAI SDK's, httpx's and the ollama client's exceptions (and anything with an
    integer ``status_code``), and the built-in ``TimeoutError`` and ``ConnectionError``.
    """
    try:
        import openai
    except ImportError:  # pragma: no cover - installed with crewai
        openai = None
    import httpx

    if openai is not None:
        if isinstance(e, openai.APITimeoutError):
            return Failure(True, "no reply in time", kind="timeout")
        if isinstance(e, openai.APIConnectionError):
            cause = e.__cause__ or e.__context__
            return _connection(cause) if cause else Failure(True, "connection failed", kind="unreachable")
        if isinstance(e, openai.APIStatusError):
            body = e.body if e.body is not None else e.response.text
            return _answered(e.status_code, server_message(body), e.response.headers)
    if isinstance(e, httpx.HTTPStatusError):
        r = e.response
        return _answered(r.status_code, server_message(r.content), r.headers)
    if isinstance(e, httpx.TimeoutException | TimeoutError):
        return Failure(True, "no reply in time", kind="timeout")
    if isinstance(e, httpx.TransportError | ConnectionError):
        return _connection(e)
    status = getattr(e, "status_code", None)
    if isinstance(status, int) and 100 <= status < 600:  # ollama.ResponseError and the like
        return _answered(status, server_message(getattr(e, "error", "") or str(e)))
    return None


def _connection(e: BaseException) -> Failure:
    import httpx

    if isinstance(e, httpx.TimeoutException | TimeoutError):
        return Failure(True, "no reply in time", kind="timeout")
    text = str(e).lower()
    if isinstance(e, ConnectionRefusedError) or "refused" in text:
        why = "connection refused"
    elif "name or service" in text or "nodename" in text or "getaddrinfo" in text:
        why = "host name not found"
    else:
        why = _one_line(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__, 120)
    return Failure(True, why, kind="unreachable")


def with_retries(
    fn: Callable[[], T],
    *,
    where: str,
    retries: int,
    backoff: float,
    unreachable_hint: str = "",
    timeout: float | None = None,
    redact: Callable[[str], str] = str,
) -> T:
    """``fn()``, tried again as the module says; after the last attempt a ``BackendUnavailableError``.

    ``where`` names the server in the message (``"Ollama at http://..."``); ``unreachable_hint`` is
    added when the server could not be reached (``"start it (ollama serve) or set OLLAMA_BASE_URL"``);
    ``timeout`` (seconds) is named when the last attempt timed out; ``redact`` cleans what is logged
    and raised of secrets a server may have repeated (the API key).
    """
    from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

    def retryable(e: BaseException) -> bool:
        f = describe(e)
        return bool(f and f.retry)

    def wait(state: RetryCallState) -> float:
        seconds = min(backoff * 2 ** (state.attempt_number - 1), MAX_WAIT)
        f = describe(state.outcome.exception()) if state.outcome else None
        if f and f.retry_after is not None:
            seconds = max(seconds, min(f.retry_after, MAX_WAIT))
        return seconds

    def tell(state: RetryCallState) -> None:
        f = describe(state.outcome.exception())
        log.info(  # INFO: the CLI's contract is one line on stderr, the final error
            "%s: attempt %d of %d failed (%s); trying again in %.2f s",
            where, state.attempt_number, retries + 1, redact(f.text) if f else "?", state.next_action.sleep,
        )  # fmt: skip

    attempts = 0

    def once() -> T:
        nonlocal attempts
        attempts += 1
        return fn()

    try:
        return Retrying(
            stop=stop_after_attempt(retries + 1),
            wait=wait,
            retry=retry_if_exception(retryable),
            before_sleep=tell,
            reraise=True,
        )(once)
    except Exception as e:
        f = describe(e)
        if f is None or not f.retry:
            raise  # not the server's passing trouble: the caller explains it
        n = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        if f.kind == "unreachable":
            hint = f"; {unreachable_hint}" if unreachable_hint else ""
            raise BackendUnavailableError(f"cannot reach {where} after {n} ({f.text}){hint}") from None
        if f.kind == "timeout":
            within = f"within {timeout:g} s " if timeout else ""
            raise BackendUnavailableError(
                f"{where} gave no reply {within}after {n}; raise MMCREW_REQUEST_TIMEOUT or check the server"
            ) from None
        raise BackendUnavailableError(redact(f"{where} failed after {n}: {f.text}")) from None
