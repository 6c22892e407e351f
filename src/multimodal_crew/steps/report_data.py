"""Report data without a model: ``report_query`` (daily active users as a table) and ``chart`` (PNG).

Both are plain code: the numbers come from ``knowledge/daily_active_users.csv`` and the chart is
drawn from them. ``steps/report.py`` summarises the table with checked numbers.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from pydantic import Field

from ..datasource import DATA_FILE, ReportData, markdown_table, parse_query, query_report, table_matches
from ..errors import InputError
from .registry import Deps, StepInputs, step
from .results import StepOutput

__all__ = [
    "Chart", "ChartInputs", "ReportCheck", "ReportCheckInputs", "ReportQueryInputs", "ReportTable", "check_png",
    "is_scratch", "label", "render_chart",
]  # fmt: skip


class ReportQueryInputs(StepInputs):
    start_date: str = Field(..., description="first day, YYYY-MM-DD")
    end_date: str = Field(..., description="last day, YYYY-MM-DD (inclusive)")
    city: str = Field("", description="one city, or empty for all cities")


class ReportTable(StepOutput):
    """Daily active users per city for a date range, and the same as a markdown table."""

    data: ReportData
    table: str = Field(..., description="markdown: City, Days, Total, Daily average, Min, Max")

    def result_fields(self) -> dict[str, Any]:
        d = self.data
        scope = f"city {d.city}" if d.city else "all cities"
        text = f"Active users from {d.start} to {d.end}, {scope}:\n\n{self.table}\n\nGrand total: {d.grand_total}"
        return {"text": text}

    def plan_value(self) -> str:
        return str(self.data.grand_total)  # in an expression: the total of the rows queried


@step(
    "report_query",
    "Query the active-user report: daily active users per city between two dates (inclusive). "
    "Returns a markdown table with the columns City, Days, Total, Daily average, Min, Max.",
    ReportQueryInputs,
    "table",
)
def report_query(inputs: ReportQueryInputs, deps: Deps) -> ReportTable:
    deps.step("querying report_query")
    q = parse_query(inputs.start_date, inputs.end_date, inputs.city)  # InputError: bad dates
    data = query_report(q, deps.settings.knowledge_path / DATA_FILE)  # InputError: unknown city, no data
    return ReportTable(data=data, table=markdown_table(data))


# --- an agent's report, checked against the data ---------------------------------------------


class ReportCheckInputs(StepInputs):
    table: ReportTable = Field(..., description="what report_query returns for the flow's inputs")
    answer: str = Field(..., description="the agent's report, e.g. ${outputs.<crew method>.raw}")


class ReportCheck(StepOutput):
    answer: str
    tool_calls: list[dict]  # the arguments of every report_query call an agent made that returned data
    tool_called: bool
    table_matches: bool

    def result_fields(self) -> dict[str, Any]:
        if not self.tool_called:
            why = "the agent never called report_query: its table is not from the data"
        elif not self.table_matches:
            why = "the agent's table differs from what report_query returned"
        else:
            return {"text": self.answer}
        return {"text": self.answer, "status": "incomplete", "reason": why}


@step("report_check", "Check an agent's report against the data", ReportCheckInputs, "report", tool=False)
def report_check(inputs: ReportCheckInputs, deps: Deps) -> ReportCheck:
    calls = [args for name, args in deps.tool_calls if name == "report_query"]
    return ReportCheck(
        answer=inputs.answer,
        tool_calls=calls,
        tool_called=bool(calls),
        table_matches=table_matches(inputs.answer, inputs.table.data),
    )


# --- chart ------------------------------------------------------------------------------------


class ChartInputs(StepInputs):
    table: ReportTable = Field(..., description="the output of report_query")
    path: str = Field("", description="a .png file name under the outputs folder; empty: a new file there")


class Chart(StepOutput):
    path: str
    scratch: bool = Field(False, description="written to the default place: a report takes it over")

    def result_fields(self) -> dict[str, Any]:
        return {"text": f"chart: {self.path}", "files": [self.path]}

    def plan_value(self) -> str:
        return self.path


def render_chart(data: ReportData, path: Path) -> None:
    """A line per city of daily active users, as a PNG (written to a temporary name, then renamed)."""
    import matplotlib

    matplotlib.use("Agg")
    from datetime import date

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=110)
    try:
        for city in [r.city for r in data.rows]:
            series = data.daily[city]
            ax.plot([date.fromisoformat(d) for d, _ in series], [n for _, n in series], label=city, linewidth=1.6)
        ax.set_title(f"Daily active users, {data.start} to {data.end}")
        ax.set_ylabel("active users")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=8, ncol=min(5, len(data.rows)))
        fig.autofmt_xdate()
        fig.tight_layout()
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            fig.savefig(tmp, format="png")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    finally:
        plt.close(fig)


def _charts_folder(deps: Deps) -> Path:
    return deps.settings.outputs_path / "charts"


def is_scratch(chart: Chart, deps: Deps) -> bool:
    """A chart the chart step wrote to its default place (never a file a caller named)."""
    folder = _charts_folder(deps).resolve()
    return chart.scratch and Path(chart.path).resolve().parent == folder


def check_png(path: Path) -> None:
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise InputError(f"chart {path} cannot be read ({e.strerror or e})") from None
    if head != b"\x89PNG\r\n\x1a\n":
        raise InputError(f"chart {path} is not a PNG image")


def label(data: ReportData) -> str:
    return f"{data.start}_{data.end}" + (f"-{data.city.lower()}" if data.city else "")


@step("chart", "Draw a report_query table's daily active users as a line chart (PNG file)", ChartInputs, "image")
def chart(inputs: ChartInputs, deps: Deps) -> Chart:
    deps.step("rendering the chart")
    data = inputs.table.data
    if inputs.path:
        # only under the outputs folder: an agent (or a document that talks to it) may choose this path
        outputs = deps.settings.outputs_path.resolve()
        path, scratch = (outputs / inputs.path).resolve(), False
        if not path.is_relative_to(outputs) or path.suffix.lower() != ".png":
            raise InputError(f"chart path {inputs.path!r}: give a .png file name under the outputs folder ({outputs})")
    else:
        path, scratch = _charts_folder(deps) / f"{label(data)}-{uuid.uuid4().hex[:8]}.png", True
    path.parent.mkdir(parents=True, exist_ok=True)
    render_chart(data, path)
    return Chart(path=str(path), scratch=scratch)
