"""The report flow's data source: daily active users by city, from a CSV in `knowledge/`.

>>> q = parse_query("2024-01-01", "2024-01-31", "Osaka")
>>> q.start.isoformat(), q.city
('2024-01-01', 'Osaka')
"""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pydantic import BaseModel

from .errors import ConfigError, InputError

__all__ = ["DATA_FILE", "CityRow", "ReportData", "ReportQuery", "parse_query", "query_report", "markdown_table"]

DATA_FILE = "daily_active_users.csv"


class CityRow(BaseModel):
    city: str
    days: int
    total: int
    average: float  # rounded to 1 decimal
    minimum: int
    maximum: int


class ReportData(BaseModel):
    start: date
    end: date
    city: str | None
    rows: list[CityRow]  # sorted by total, largest first
    daily: dict[str, list[tuple[str, int]]]  # city -> [(iso date, users)]

    @property
    def grand_total(self) -> int:
        return sum(r.total for r in self.rows)


@dataclass(frozen=True)
class ReportQuery:
    start: date
    end: date
    city: str | None = None


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _parse_date(name: str, value) -> date:
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if not _DATE.match(text):
        raise InputError(f"{name} must be a date as YYYY-MM-DD, got {text!r}")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{name} is not a real date: {text!r}") from None


ALL_CITIES = frozenset({"all", "all cities", "any", "*", "every city", "全部", "所有城市", "全部城市"})


def parse_query(start_date, end_date, city: str | None = None) -> ReportQuery:
    start = _parse_date("start_date", start_date)
    end = _parse_date("end_date", end_date)
    if start > end:
        raise InputError(f"start_date {start} is after end_date {end}")
    city = (city or "").strip() or None
    if city and city.lower() in ALL_CITIES:  # "all", "all cities", "全部": no filter, as the empty city
        city = None
    return ReportQuery(start, end, city)


@functools.lru_cache(maxsize=4)
def _load(path: Path, mtime_ns: int) -> tuple[tuple[date, str, int], ...]:
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"date", "city", "active_users"} - set(reader.fieldnames or [])
        if missing:
            raise ConfigError(f"{path} lacks column(s) {', '.join(sorted(missing))}")
        for i, rec in enumerate(reader, start=2):
            try:
                rows.append((date.fromisoformat(rec["date"]), rec["city"].strip(), int(rec["active_users"])))
            except (ValueError, TypeError, AttributeError):
                raise ConfigError(f"{path} line {i} is malformed: {rec}") from None
    return tuple(rows)


def load_rows(path: Path) -> tuple[tuple[date, str, int], ...]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"report data {path} is missing; run: python scripts/make_sample_data.py")
    return _load(path.resolve(), path.stat().st_mtime_ns)


def query_report(query: ReportQuery, path: Path) -> ReportData:
    """Aggregate the rows of ``path`` within the query's dates (inclusive), one row per city."""
    all_rows = load_rows(path)
    cities = sorted({c for _, c, _ in all_rows})
    city = None
    if query.city:
        match = [c for c in cities if c.lower() == query.city.lower()]
        if not match:
            raise InputError(f"unknown city {query.city!r}; known: {', '.join(cities)}")
        city = match[0]
    picked = [r for r in all_rows if query.start <= r[0] <= query.end and (city is None or r[1] == city)]
    if not picked:
        first, last = min(r[0] for r in all_rows), max(r[0] for r in all_rows)
        raise InputError(f"no data between {query.start} and {query.end}; the data covers {first} to {last}")
    daily: dict[str, list[tuple[str, int]]] = {}
    for d, c, n in sorted(picked):
        daily.setdefault(c, []).append((d.isoformat(), n))
    rows = []
    for c, series in daily.items():
        values = [n for _, n in series]
        rows.append(
            CityRow(
                city=c,
                days=len(values),
                total=sum(values),
                average=round(sum(values) / len(values), 1),
                minimum=min(values),
                maximum=max(values),
            )
        )
    rows.sort(key=lambda r: (-r.total, r.city))
    return ReportData(start=query.start, end=query.end, city=city, rows=rows, daily=daily)


HEADERS = ["City", "Days", "Total", "Daily average", "Min", "Max"]


def markdown_table(data: ReportData) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "|".join(["---"] + ["---:"] * 5) + "|"]
    for r in data.rows:
        lines.append(f"| {r.city} | {r.days} | {r.total} | {r.average:.1f} | {r.minimum} | {r.maximum} |")
    return "\n".join(lines)


def parse_markdown_table(text: str) -> list[list[str]]:
    """Cells of every table row in ``text`` (header and separator rows dropped)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not (line.startswith("|") and line.endswith("|")):
            continue
        cells = [c.strip().strip("*") for c in line.strip("|").split("|")]
        if all(set(c) <= set("-: ") for c in cells):
            continue
        if cells and cells[0].lower() == "city":
            continue
        out.append(cells)
    return out


def table_matches(text: str, data: ReportData) -> bool:
    """True when ``text`` holds a markdown table with exactly the query's rows and values."""
    want = {(r.city, str(r.days), str(r.total), f"{r.average:.1f}", str(r.minimum), str(r.maximum)) for r in data.rows}

    def norm(cell: str) -> str:
        return cell.replace(",", "")

    got = {tuple(norm(c) for c in row) for row in parse_markdown_table(text) if len(row) == 6}
    return got == want
