"""The active-user report's model step: ``report_summary``, a summary whose every number is checked.

The CrewAI tutorial's "query the report and make a table", done so it cannot go silently
wrong: the flow (``config/flows/report.yaml``) calls ``report_query`` itself (the data
dependency is known, so the model never has to decide to), draws the ``chart`` in code
(both in ``steps/report_data.py``), and asks the model only for a summary, through
``structured()``, whose validators reject any number that is not in the rows or exactly
derivable from them. ``report_crew`` is the other CrewAI shape: one YAML agent that must call
``report_query`` itself (``config/flows/report_crew.yaml``, checked by ``report_check``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ..datasource import ReportData
from ..models.structured import Attempts, ValidationFailed, structured
from ..numbers import derived_values, unsupported_numbers
from .outputs import staged
from .registry import Deps, StepInputs, step
from .report_data import Chart, ReportTable, check_png, is_scratch, label, render_chart
from .results import StepOutput

__all__ = ["SYSTEM", "ReportResult", "ReportSummary", "allowed_numbers", "summary_validators"]


# --- the checked summary and the report folder ---------------------------------------------------


class ReportSummary(BaseModel):
    summary: str = Field(..., min_length=20, max_length=700, description="2-3 sentences on the table")
    top_city: str = Field(..., description="the city with the largest Total")


def allowed_numbers(data: ReportData) -> set[float]:
    """Every number a summary may state: cells, dates, and what is exactly derivable from them."""
    cells: dict[str, float] = {}
    for r in data.rows:
        for col in ("days", "total", "average", "minimum", "maximum"):
            cells[f"{r.city}.{col}"] = float(getattr(r, col))
    allowed = derived_values(cells, [r.total for r in data.rows])
    allowed |= derived_values({}, [r.average for r in data.rows])
    for d in (data.start, data.end):
        allowed |= {d.year, d.month, d.day}
    allowed.add((data.end - data.start).days + 1)
    allowed.add(sum(r.days for r in data.rows))
    return allowed


def summary_validators(data: ReportData):
    allowed = allowed_numbers(data)
    top = data.rows[0].city
    cities = {r.city for r in data.rows}

    def top_city_is_largest(s: ReportSummary) -> None:
        if s.top_city.strip().lower() != top.lower():
            where = "is not in the table" if s.top_city not in cities else "does not have the largest Total"
            raise ValidationFailed(f"top_city {s.top_city!r} {where}; compare the Total column")

    def numbers_from_data(s: ReportSummary) -> None:
        bad = unsupported_numbers(s.summary, allowed)
        if bad:
            raise ValidationFailed(
                f"the summary states {', '.join(bad)}, which the table does not contain; "
                "use only numbers copied from the table"
            )

    return [top_city_is_largest, numbers_from_data]


SYSTEM = (
    "You are a data analyst. You summarise tables of daily active users. "
    "Use only numbers that appear in the table, copied exactly. Answer in JSON."
)


class ReportResult(StepOutput):
    output_dir: str
    table_markdown: str
    summary: str
    top_city: str
    attempts: int
    files: list[str]  # names in output_dir

    def result_fields(self) -> dict[str, Any]:
        return {
            "text": f"{self.table_markdown}\n\n{self.summary}",
            "output_dir": self.output_dir,
            "files": [str(Path(self.output_dir) / f) for f in self.files],
        }


class ReportSummaryInputs(StepInputs):
    table: ReportTable = Field(..., description="the output of report_query")
    chart: Chart | None = Field(None, description="the output of chart; none: the chart is drawn here")


def _summarise(table: ReportTable, deps: Deps) -> tuple[ReportSummary, int]:
    deps.step("asking the model for a checked summary")
    data = table.data
    scope = f"the city {data.city}" if data.city else "all cities"
    prompt = (
        f"Daily active users from {data.start} to {data.end} for {scope}:\n\n{table.table}\n\n"
        "Write a summary of 2-3 sentences: name the city with the largest Total and give its Total, "
        "and mention one other notable figure from the table. Also give top_city."
    )
    attempts = Attempts("summary", deps.step)

    summary = structured(
        deps.model,
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}],
        ReportSummary,
        validators=summary_validators(data),
        max_retries=deps.settings.max_retries,
        on_attempt=attempts,
    )
    return summary, attempts.n


@step(
    "report_summary",
    "Summarise a report_query table with every number checked, and save report.md, table.md, "
    "chart.png and result.json in a new output folder",
    ReportSummaryInputs,
    "report",
)
def report_summary(inputs: ReportSummaryInputs, deps: Deps) -> ReportResult:
    data, table, chart_ = inputs.table.data, inputs.table.table, inputs.chart
    if chart_ is not None:
        check_png(Path(chart_.path))  # before any model call
    try:
        summary, attempts = _summarise(inputs.table, deps)
        deps.step("writing the report")
        files = ["report.md", "table.md", "chart.png", "result.json"]
        with staged(deps.settings, "report") as out:
            (out.path / "table.md").write_text(table + "\n", encoding="utf-8")
            if chart_ is None:
                render_chart(data, out.path / "chart.png")
            else:
                shutil.copyfile(chart_.path, out.path / "chart.png")
            scope = data.city or "all cities"
            (out.path / "report.md").write_text(
                f"# Active users, {data.start} to {data.end} ({scope})\n\n"
                f"{table}\n\n![Daily active users](chart.png)\n\n"
                f"## Summary\n\n{summary.summary}\n\n"
                f"_Every number in the summary was checked against the table ({attempts} model attempt(s))._\n",
                encoding="utf-8",
            )
            saved = {
                "table_markdown": table, "summary": summary.summary, "top_city": summary.top_city,
                "attempts": attempts, "files": files, "rows": [r.model_dump() for r in data.rows],
                "inputs": {"start_date": str(data.start), "end_date": str(data.end), "city": data.city},
            }  # fmt: skip
            (out.path / "result.json").write_text(json.dumps(saved, indent=2, ensure_ascii=False), encoding="utf-8")
            final = out.publish(label(data))
    finally:
        if chart_ is not None and is_scratch(chart_, deps):  # the report has its copy (or failed)
            Path(chart_.path).unlink(missing_ok=True)
    return ReportResult(
        output_dir=str(final), table_markdown=table, summary=summary.summary, top_city=summary.top_city,
        attempts=attempts, files=files,
    )  # fmt: skip
