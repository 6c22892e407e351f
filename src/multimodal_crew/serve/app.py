"""The HTTP API over every flow: ``create_app(settings)`` is the FastAPI app ``mmcrew serve`` runs.

One process keeps the model and the retriever warm; runs go through one :class:`RunManager` queue
(one generation at a time on the embedded model) and are kept in SQLite under ``MMCREW_HOME``::

    GET  /flows                      every flow with its input JSON schema
    POST /runs {flow, inputs}        -> {id, status}: queued at once (202)
    GET  /runs, /runs/{id}           status and the typed result (RunResult)
    GET  /runs/{id}/events           progress as server-sent events, ending with the final status
    POST /runs/{id}/cancel           a queued run never starts; a running one stops at its next step

Other routers (documents, images, schedules, the web page) are added in ``create_app``. Every error
leaves through one handler: ``{"error": "<one line>"}`` with the status its class maps to.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import (
    BackendUnavailableError,
    ConfigError,
    ConflictError,
    InputError,
    MMCrewError,
    NotFoundError,
    RunCancelled,
    UnknownFlowError,
    _one_line,
)
from ..steps.results import RunResult
from .retention import prune
from .runs import RunManager, RunManagerClosedError, RunRecord, RunStore, default_path

log = logging.getLogger(__name__)

__all__ = ["Server", "create_app", "flow_schema"]


@dataclass
class Server:
    """What every request handler reaches through ``request.app.state.server``."""

    settings: Any
    store: RunStore
    manager: RunManager
    token: str | None = None
    model: Any = None  # the warm text model (None: resolved per run from the settings)
    retriever: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)  # for routers that need one (uploads)


def server_of(request: Request) -> Server:
    return request.app.state.server


def flow_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A flow's inputs as JSON schema, without CrewAI's internal state ``id``."""
    schema = model.model_json_schema()
    schema.get("properties", {}).pop("id", None)
    if "required" in schema:
        schema["required"] = [r for r in schema["required"] if r != "id"]
    return schema


def _validator(settings: Any) -> Callable[[str, dict], dict]:
    def validate(flow: str, inputs: dict) -> dict:
        from ..flows import get_flow
        from ..flows.inputs import validate_inputs

        entry = get_flow(flow, settings)
        clean = validate_inputs(entry.inputs_model, entry.name, {**entry.defaults, **(inputs or {})})
        checked = clean.model_dump(mode="json", exclude={"id"})
        _uploaded_only(settings, checked)
        return checked

    return validate


# inputs that name image files: over HTTP they may only name images uploaded to this server (POST /images
# and POST /see keep them under outputs/uploads/), never another path on it
_IMAGE_INPUTS = ("image", "images")


def _uploaded_only(settings: Any, inputs: dict) -> None:
    root = (settings.outputs_path / "uploads").resolve()
    for key in _IMAGE_INPUTS:
        value = inputs.get(key)
        items = value if isinstance(value, list) else str(value or "").split(",")
        for item in (str(i).strip() for i in items):
            path = Path(item)
            if item and not (path if path.is_absolute() else settings.outputs_path / path).resolve().is_relative_to(
                root
            ):
                raise InputError(
                    f"{key}: over HTTP an image must be one uploaded to this server (POST /images); {item[:80]!r} is not"
                )


def _runner(server: Server) -> Callable[..., RunResult]:
    def run(flow: str, inputs: dict, progress: Callable[[str], None], cancelled: threading.Event) -> RunResult:
        from ..flows import run_flow

        return run_flow(
            flow, inputs, model=server.model, retriever=server.retriever, progress=progress,
            settings=server.settings, cancelled=cancelled,
        )  # fmt: skip

    return run


# ------------------------------------------------------------------ errors: one handler at the edge

_STATUS: list[tuple[type[BaseException], int]] = [
    (NotFoundError, 404),
    (UnknownFlowError, 404),
    (ConflictError, 409),
    (InputError, 400),
    (RunManagerClosedError, 503),
    (BackendUnavailableError, 503),
    (RunCancelled, 409),
    (ConfigError, 500),
    (MMCrewError, 422),
]


def status_of(error: BaseException) -> int:
    return next((code for kind, code in _STATUS if isinstance(error, kind)), 500)


async def _mmcrew_error(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"error": _one_line(str(exc))}, status_code=status_of(exc))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own errors (an unknown route, a wrong method) in the same one-line shape."""
    code = getattr(exc, "status_code", 500)
    return JSONResponse({"error": _one_line(str(getattr(exc, "detail", exc)))}, status_code=code,
                        headers=getattr(exc, "headers", None))  # fmt: skip


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    """A bug, not a request's fault: logged with its traceback, answered as one line."""
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return JSONResponse({"error": f"internal error: {type(exc).__name__}: {_one_line(str(exc), 200)}"},
                        status_code=500)  # fmt: skip


async def _body_error(request: Request, exc: Exception) -> JSONResponse:
    """A request body or parameter that does not fit its schema: the first problem, named, as one line."""
    errors = exc.errors() if hasattr(exc, "errors") else []
    first = errors[0] if errors else {}
    where = ".".join(str(x) for x in first.get("loc", ()) if x != "body") or "request"
    return JSONResponse({"error": _one_line(f"{where}: {first.get('msg', exc)}")}, status_code=422)


# ------------------------------------------------------------------ the runs API


class RunRequest(BaseModel):
    flow: str = Field(..., examples=["ask"])
    inputs: dict[str, Any] = Field(default_factory=dict, examples=[{"question": "Who replaces the door sensors?"}])


class RunCreated(BaseModel):
    id: str
    status: str
    events: str = Field(..., description="where its progress streams (server-sent events)")


class FlowInfo(BaseModel):
    name: str
    description: str
    inputs: dict[str, Any] = Field(..., description="JSON schema of the flow's inputs")


router = APIRouter()


@router.get("/flows", response_model=list[FlowInfo], tags=["runs"])
def list_flows(request: Request) -> list[FlowInfo]:
    from ..flows import all_flows

    flows = all_flows(server_of(request).settings)
    return [FlowInfo(name=n, description=e.description, inputs=flow_schema(e.inputs_model)) for n, e in flows.items()]


@router.post("/runs", response_model=RunCreated, status_code=202, tags=["runs"])
def create_run(body: RunRequest, request: Request) -> RunCreated:
    run_id = server_of(request).manager.submit(body.flow, body.inputs)
    return RunCreated(id=run_id, status="queued", events=f"/runs/{run_id}/events")


@router.get("/runs", response_model=list[RunRecord], tags=["runs"])
def list_runs(request: Request, limit: int = 50, offset: int = 0, flow: str | None = None) -> list[RunRecord]:
    if not 1 <= limit <= 500 or not 0 <= offset < 1 << 31:
        raise InputError("limit must be 1 to 500 and offset 0 or more")
    return server_of(request).store.list(limit=limit, offset=offset, flow=flow)


@router.get("/runs/{run_id}", response_model=RunRecord, tags=["runs"])
def get_run(run_id: str, request: Request) -> RunRecord:
    return server_of(request).manager.get(run_id)


@router.post("/runs/{run_id}/cancel", response_model=RunRecord, tags=["runs"])
def cancel_run(run_id: str, request: Request) -> RunRecord:
    return server_of(request).manager.cancel(run_id)


async def _sse(request: Request, store: RunStore, run_id: str, after: int) -> AsyncIterator[str]:
    """The run's events after ``after``, polled from the store (no thread waits per client: a hundred
    open streams cost no worker threads), ending after the final ``status`` event. A quiet stream gets a
    comment every 15 s; a client that has gone is noticed and its stream ends (the run goes on)."""
    quiet_since = time.monotonic()
    while True:
        events = await asyncio.to_thread(store.events, run_id, after)
        for event in events:
            after = event.seq
            payload = json.dumps(event.model_dump(mode="json"), ensure_ascii=False)
            yield f"id: {event.seq}\nevent: {event.kind}\ndata: {payload}\n\n"
            if event.final:
                return
        if events:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 15:
            quiet_since = time.monotonic()
            yield ": keep-alive\n\n"
        if await request.is_disconnected():
            return
        await asyncio.sleep(0.1)


_MAX_SEQ = 1 << 40


@router.get("/runs/{run_id}/events", tags=["runs"], response_class=StreamingResponse)
def run_events(run_id: str, request: Request, after: int = 0) -> StreamingResponse:
    """Server-sent events: ``queued``, ``position``, ``progress``, ``result``, ``error``, and last
    the final ``status``. A reconnecting client sends ``Last-Event-ID`` (or ``?after=``)."""
    last = request.headers.get("last-event-id", "")
    after = int(last) if last.isdigit() and len(last) < 12 else after
    if not 0 <= after < _MAX_SEQ:
        raise InputError("after must be 0 or a later event's id")
    server = server_of(request)
    server.manager.get(run_id)  # an unknown run is a 404 now, not an empty stream
    return StreamingResponse(
        _sse(request, server.store, run_id, after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


# ------------------------------------------------------------------ the app


def _same_origin_guard(app: FastAPI) -> None:
    """A browser on another site may send simple POSTs and DELETEs here without a CORS preflight (a form,
    a fetch without custom headers): a request that changes something and carries another ``Origin``
    is refused."""

    @app.middleware("http")
    async def same_origin(request: Request, call_next):  # noqa: ANN202 - Starlette's middleware signature
        origin = request.headers.get("origin")
        if request.method not in ("GET", "HEAD", "OPTIONS") and origin is not None:
            host = request.headers.get("host", "")
            if origin.split("://", 1)[-1] != host:
                return JSONResponse({"error": f"requests from {origin[:80]} are refused (another origin)"},
                                    status_code=403)  # fmt: skip
        return await call_next(request)


def _token_guard(app: FastAPI, token: str) -> None:
    @app.middleware("http")
    async def require_token(request: Request, call_next):  # noqa: ANN202 - Starlette's middleware signature
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if request.url.path == "/":  # the page is opened once as /?token=...; it then sends the header or cookie
            given = given or request.query_params.get("token", "")
        given = given or request.cookies.get("mmcrew_token", "")
        if not hmac.compare_digest(given.encode(), token.encode()):
            return JSONResponse({"error": "a token is required: Authorization: Bearer <token>"}, status_code=401)
        return await call_next(request)


def create_app(
    settings: Any = None,
    *,
    token: str | None = None,
    model: Any = None,
    retriever: Any = None,
    runner: Callable[..., RunResult] | None = None,
    routers: tuple[APIRouter, ...] | None = None,
    hosts: tuple[str, ...] = (),
) -> FastAPI:
    """The app. ``model``/``retriever`` are kept warm across runs (None: each run resolves its own
    from the settings); ``runner`` replaces ``run_flow`` (tests); ``token`` guards every request; with
    ``hosts``, a request whose Host header names another host is refused (``mmcrew serve`` passes its own)."""
    from ..settings import get_settings

    settings = settings or get_settings()
    store = RunStore(default_path(settings))
    server = Server(settings=settings, store=store, manager=None, token=token, model=model, retriever=retriever)  # type: ignore[arg-type]
    server.manager = RunManager(store, runner or _runner(server), validate=_validator(settings))

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        async def daily() -> None:
            while True:
                await run_in_threadpool(prune, server.settings, server.store)
                await asyncio.sleep(86400)

        task = asyncio.create_task(daily()) if settings.serve_keep_days > 0 else None
        yield
        if task:
            task.cancel()
        server.manager.close(cancel_running=True, timeout=10)
        store.close()

    from fastapi_offline import FastAPIOffline  # /docs with its Swagger UI files served here, not from a CDN

    app = FastAPIOffline(
        title="multimodal-crew",
        description="Local-first CrewAI flows over your documents and images: every run, its progress and "
        "its checked result.",
        version=_version(),
        lifespan=lifespan,
    )
    app.state.server = server
    _same_origin_guard(app)
    if hosts:  # a request naming another host is refused: DNS rebinding cannot reach this server from a web page
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(hosts))
    app.add_exception_handler(MMCrewError, _mmcrew_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _body_error)
    app.add_exception_handler(Exception, _unexpected)
    if token:
        _token_guard(app, token)
    app.include_router(router)
    for extra in routers if routers is not None else _extra_routers():
        app.include_router(extra)
    return app


def _extra_routers() -> tuple[APIRouter, ...]:
    """The routers of the other parts (documents, images, schedules, the web page), when present."""
    import importlib

    found = []
    for name in ("documents", "images", "schedules", "web"):
        try:
            module = importlib.import_module(f"{__package__}.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"{__package__}.{name}":
                raise
            continue
        found.append(module.router)
    return tuple(found)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("multimodal_crew")
    except PackageNotFoundError:
        return "0"
