"""Schedules over HTTP: ``GET /schedules`` (config/schedules.yaml, each entry with its next and last
run) and ``GET /schedules/{name}/history`` (as ``mmcrew schedule list`` and ``history``)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from ..errors import InputError, NotFoundError
from .app import server_of

__all__ = ["router"]

router = APIRouter()


class ScheduleRun(BaseModel):
    id: int
    name: str
    flow: str
    trigger: str
    scheduled_for: float | None
    started: float | None
    ended: float | None
    status: str
    error: str
    output_dir: str
    machine: str = Field("", description="the machine that ran it (MMCREW_MACHINE or its host name)")


class ScheduleInfo(BaseModel):
    name: str
    flow: str
    inputs: dict[str, Any]
    when: str = Field(..., description="`cron <expr>` or `every <interval>`")
    timezone: str
    enabled: bool
    misfire: str
    max_runtime: float
    next_run: str | None = Field(None, description="ISO 8601, when enabled")
    last_run: ScheduleRun | None = None


def _history(settings: Any):
    from ..schedule.history import History

    return History.of(settings)  # the shared database's when MMCREW_DATABASE_URL is set


def _every(interval: Any) -> str:
    return interval if isinstance(interval, str) else f"{interval:g}s"


def _run(r: Any) -> ScheduleRun:
    return ScheduleRun(**{k: getattr(r, k) for k in ScheduleRun.model_fields})


@router.get("/schedules", response_model=list[ScheduleInfo], tags=["schedules"])
def list_schedules(request: Request) -> list[ScheduleInfo]:
    """The entries of config/schedules.yaml (as ``mmcrew schedule list``), each with its next and last run."""
    from ..schedule.service import current_entries

    settings = server_of(request).settings
    entries = current_entries(settings)
    now = datetime.now(timezone.utc)
    history = _history(settings)
    try:
        out = []
        for e in entries.values():
            nxt = e.trigger(anchored=settings.shared_database).get_next_fire_time(None, now) if e.enabled else None
            last = history.runs(e.name, limit=1)
            when = f"cron {e.cron}" if e.cron else f"every {_every(e.interval)}"
            out.append(ScheduleInfo(
                name=e.name, flow=e.flow, inputs=e.inputs, when=when, timezone=e.timezone, enabled=e.enabled,
                misfire=e.misfire, max_runtime=e.max_runtime, last_run=_run(last[0]) if last else None,
                next_run=nxt.isoformat(timespec="seconds") if nxt else None,
            ))  # fmt: skip
        return out
    finally:
        history.close()


@router.get("/schedules/{name}/history", response_model=list[ScheduleRun], tags=["schedules"])
def schedule_history(name: str, request: Request, limit: int = 30) -> list[ScheduleRun]:
    """Past runs of one entry, newest first (as ``mmcrew schedule history NAME``). 404 for a name that is
    neither in schedules.yaml nor in the history (an entry removed since keeps its history)."""
    from ..schedule.service import current_entries

    if not 1 <= limit <= 500:
        raise InputError("limit must be 1 to 500")
    settings = server_of(request).settings
    history = _history(settings)
    try:
        runs = history.runs(name, limit=limit)
    finally:
        history.close()
    if not runs and name not in current_entries(settings):
        raise NotFoundError(f"no schedule entry {name!r}; GET /schedules lists them")
    return [_run(r) for r in runs]
