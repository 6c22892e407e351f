"""``config/schedules.yaml``: what runs when.

::

    schedules:
      - name: morning-report          # unique
        flow: report                  # any name from `mmcrew flows`
        inputs: {start_date: "2024-01-01", end_date: "2024-01-31"}
        cron: "0 7 * * 1-5"           # 5 fields; or `interval: 3600` (seconds) / "15m" / "2h"
        timezone: Europe/Berlin       # default UTC
        enabled: true
        misfire: skip                 # or run_once: after downtime, run once to catch up
        max_runtime: 900              # seconds; a longer run is stopped and recorded as timeout

Every entry is checked before anything runs; all problems are reported at once,
each with the entry's name and the reason.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ConfigError, MMCrewError
from ..hashing import short_hash

__all__ = ["ScheduleEntry", "ScheduleConfigError", "load_schedules", "parse_interval"]


class ScheduleConfigError(ConfigError):
    """One or more entries of schedules.yaml are invalid; ``problems`` lists them."""

    def __init__(self, path: Path, problems: list[str]):
        self.problems = problems
        super().__init__(
            f"{path}: {len(problems)} invalid entr{'y' if len(problems) == 1 else 'ies'}: " + "; ".join(problems)
        )


class ScheduleEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    flow: str
    inputs: dict[str, Any] = Field(default_factory=dict)
    cron: str | None = None
    interval: float | str | None = None
    timezone: str = "UTC"
    enabled: bool = True
    misfire: Literal["skip", "run_once"] = "skip"
    max_runtime: float = Field(3600, gt=0)

    def trigger(self, anchored: bool = False):
        """The APScheduler trigger. An interval counts from when the job is added, unless ``anchored``:
        then its due times are ``GRID_START + k * interval``, the same on every machine (schedulers
        sharing a database agree on which due time is which; a cron entry always does)."""
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        if self.cron:
            return CronTrigger.from_crontab(self.cron, timezone=self.timezone)
        start = {"start_date": GRID_START} if anchored else {}
        return IntervalTrigger(seconds=parse_interval(self.interval), timezone=self.timezone, **start)

    def fingerprint(self) -> str:
        """Changes when anything that affects the job changes (used to keep or replace a stored job)."""
        return short_hash(json.dumps(self.model_dump(), sort_keys=True, default=str))


GRID_START = _dt.datetime(2000, 1, 1, tzinfo=_dt.timezone.utc)  # where anchored intervals count from

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(value) -> float:
    """Seconds from ``3600``, ``"90s"``, ``"15m"``, ``"2h"`` or ``"1d"``.

    >>> parse_interval("15m"), parse_interval(2.5)
    (900.0, 2.5)
    """
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(value))
        if not m:
            raise ValueError(f"interval {value!r} is not a number of seconds or like 15m, 2h, 1d")
        seconds = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    if seconds <= 0:
        raise ValueError("interval must be positive")
    return seconds


def _check(entry: ScheduleEntry) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from ..flows import get_flow, validate_inputs

    if bool(entry.cron) == (entry.interval is not None):
        raise ValueError("give exactly one of cron or interval")
    try:
        ZoneInfo(entry.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {entry.timezone!r}") from None
    if entry.cron:
        if len(entry.cron.split()) != 5:
            raise ValueError(f"cron {entry.cron!r} must have 5 fields (minute hour day month weekday)")
        try:
            entry.trigger()
        except ValueError as e:
            raise ValueError(f"cron {entry.cron!r}: {e}") from None
    else:
        parse_interval(entry.interval)
    flow = get_flow(entry.flow)
    validate_inputs(flow.inputs_model, entry.flow, {**flow.defaults, **entry.inputs})


def load_schedules(path: Path) -> list[ScheduleEntry]:
    """Parse and check every entry; raise ScheduleConfigError listing all problems."""
    path = Path(path)
    if not path.is_file():
        return []
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ScheduleConfigError(path, [f"not valid YAML: {str(e).splitlines()[0]}"]) from None
    raw = doc.get("schedules", []) if isinstance(doc, dict) else None
    if not isinstance(raw, list):
        raise ScheduleConfigError(path, ["expected a top-level `schedules:` list"])
    problems, entries, seen = [], [], set()
    for i, item in enumerate(raw, start=1):
        label = f"entry {i}" + (f" ({item.get('name')!r})" if isinstance(item, dict) and item.get("name") else "")
        try:
            entry = ScheduleEntry.model_validate(item)
            _check(entry)
        except ValidationError as e:
            err = e.errors()[0]
            loc = ".".join(str(x) for x in err.get("loc", ())) or "entry"
            problems.append(f"{label}: {loc}: {err.get('msg')}")
            continue
        except (ValueError, MMCrewError) as e:
            problems.append(f"{label}: {e}")
            continue
        if entry.name in seen:
            problems.append(f"{label}: duplicate name {entry.name!r}")
            continue
        seen.add(entry.name)
        entries.append(entry)
    if problems:
        raise ScheduleConfigError(path, problems)
    return entries
