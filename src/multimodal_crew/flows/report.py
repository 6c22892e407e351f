"""The ``report`` flow: query active users, tabulate, chart, and summarise with checked numbers.

The CrewAI tutorial's "query the report and make a table", done so it cannot go
silently wrong: the flow calls ``report_query`` itself (the data dependency is
known, so the model never has to decide to), renders the table and chart in
code, and asks the model only for a summary, through ``structured()``, whose
validators reject any number that is not in the rows or exactly derivable from them.

>>> ReportFlow().kickoff(inputs={"start_date": "2024-01-01", "end_date": "2024-01-31"})  # doctest: +SKIP
ReportResult(output_dir='.mmcrew/outputs/report/20261124-101500-2024-01-01_2024-01-31-1a2b3c4d', ...)
"""

from __future__ import annotations

import json
from pathlib import Path

from crewai.flow.flow import listen, start
from pydantic import BaseModel, Field, model_validator

from ..datasource import ReportData, markdown_table, parse_query
from ..models.structured import ValidationFailed, structured
from ..numbers import derived_values, unsupported_numbers
from ..tools.report_query import ReportQueryTool
from .base import FlowInputs, MMFlow, OutputFlowState

__all__ = ["ReportFlow", "ReportInputs", "ReportSummary", "ReportResult", "summary_validators", "allowed_numbers"]


class ReportInputs(FlowInputs):
    start_date: str = Field(..., description="first day, YYYY-MM-DD")
    end_date: str = Field(..., description="last day, YYYY-MM-DD")
    city: str = Field("", description="one city, or empty for all")

    @model_validator(mode="after")
    def _dates(self) -> ReportInputs:
        parse_query(self.start_date, self.end_date, self.city)  # raises InputError
        return self


class ReportSummary(BaseModel):
    summary: str = Field(..., min_length=20, max_length=700, description="2-3 sentences on the table")
    top_city: str = Field(..., description="the city with the largest Total")


class ReportResult(BaseModel):
    output_dir: str
    table_markdown: str
    summary: str
    top_city: str
    attempts: int
    files: list[str]


class ReportState(OutputFlowState):
    start_date: str = ""
    end_date: str = ""
    city: str = ""
    data: ReportData | None = None
    table_markdown: str = ""
    summary: ReportSummary | None = None
    attempts: int = 0


def allowed_numbers(data: ReportData) -> set[float]:
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


class ReportFlow(MMFlow[ReportState]):
    """Active-user report: table + chart + checked summary, saved to an output folder."""

    flow_name = "report"
    inputs_model = ReportInputs
    description = "Daily active users by city for a date range: table, chart and a number-checked summary"

    @start()
    def query(self) -> None:
        self.step("querying report_query")
        q = parse_query(self.state.start_date, self.state.end_date, self.state.city)
        tool = ReportQueryTool(data_path=str(self.settings.knowledge_path / "daily_active_users.csv"))
        self.state.data = tool.query(q.start.isoformat(), q.end.isoformat(), q.city or "")
        self.state.table_markdown = markdown_table(self.state.data)

    @listen(query)
    def render(self) -> None:
        self.step("rendering table and chart")
        out = self.stage()
        (out / "table.md").write_text(self.state.table_markdown + "\n", encoding="utf-8")
        _chart(self.state.data, out / "chart.png")

    @listen(render)
    def summarise(self) -> None:
        self.step("asking the model for a checked summary")
        data = self.state.data
        scope = f"the city {data.city}" if data.city else "all cities"
        prompt = (
            f"Daily active users from {data.start} to {data.end} for {scope}:\n\n{self.state.table_markdown}\n\n"
            "Write a summary of 2-3 sentences: name the city with the largest Total and give its Total, "
            "and mention one other notable figure from the table. Also give top_city."
        )
        counter = {"n": 0}

        def count(n: int, raw: str, err: str | None) -> None:
            counter["n"] = n
            if err:
                self.step(f"summary attempt {n} rejected ({err[:80]}); retrying")

        self.state.summary = structured(
            self.model,
            [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}],
            ReportSummary,
            validators=summary_validators(data),
            max_retries=self.settings.max_retries,
            on_attempt=count,
        )
        self.state.attempts = counter["n"]

    @listen(summarise)
    def finish(self) -> ReportResult:
        data, summary = self.state.data, self.state.summary
        out = Path(self.state.staging_dir)
        scope = data.city or "all cities"
        report = (
            f"# Active users, {data.start} to {data.end} ({scope})\n\n"
            f"{self.state.table_markdown}\n\n![Daily active users](chart.png)\n\n"
            f"## Summary\n\n{summary.summary}\n\n"
            f"_Every number in the summary was checked against the table "
            f"({self.state.attempts} model attempt(s))._\n"
        )
        (out / "report.md").write_text(report, encoding="utf-8")
        files = ["report.md", "table.md", "chart.png", "result.json"]
        label = f"{data.start}_{data.end}" + (f"-{data.city.lower()}" if data.city else "")
        result = ReportResult(
            output_dir="",
            table_markdown=self.state.table_markdown,
            summary=summary.summary,
            top_city=summary.top_city,
            attempts=self.state.attempts,
            files=files,
        )
        (out / "result.json").write_text(
            json.dumps(
                {
                    **result.model_dump(exclude={"output_dir"}),
                    "rows": [r.model_dump() for r in data.rows],
                    "inputs": {"start_date": str(data.start), "end_date": str(data.end), "city": data.city},
                },
                indent=2,
                ensure_ascii=False,
            ),
            encoding="utf-8",
        )
        final = self.publish(label)
        return result.model_copy(update={"output_dir": str(final)})


def _chart(data: ReportData, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from datetime import date

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=110)
    for city in [r.city for r in data.rows]:
        series = data.daily[city]
        ax.plot([date.fromisoformat(d) for d, _ in series], [n for _, n in series], label=city, linewidth=1.6)
    ax.set_title(f"Daily active users, {data.start} to {data.end}")
    ax.set_ylabel("active users")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8, ncol=min(5, len(data.rows)))
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
