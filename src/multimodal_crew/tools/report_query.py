"""``report_query``: daily active users by city for a date range, as a markdown table."""

from __future__ import annotations

from pathlib import Path

from crewai.tools import BaseTool
from pydantic import BaseModel, Field, PrivateAttr

from ..datasource import DATA_FILE, ReportData, markdown_table, parse_query, query_report
from ..errors import MMCrewError
from ..settings import get_settings

__all__ = ["ReportQueryTool", "ReportQueryArgs"]


class ReportQueryArgs(BaseModel):
    start_date: str = Field(..., description="first day, YYYY-MM-DD")
    end_date: str = Field(..., description="last day, YYYY-MM-DD")
    city: str = Field("", description="one city, or empty for all cities")


class ReportQueryTool(BaseTool):
    name: str = "report_query"
    description: str = (
        "Query the active-user report: daily active users per city between two dates (inclusive). "
        "Returns a markdown table with the columns City, Days, Total, Daily average, Min, Max."
    )
    args_schema: type[BaseModel] = ReportQueryArgs
    data_path: str | None = None

    _calls: list[dict] = PrivateAttr(default_factory=list)

    def path(self) -> Path:
        return Path(self.data_path) if self.data_path else get_settings().knowledge_path / DATA_FILE

    def query(self, start_date: str, end_date: str, city: str = "") -> ReportData:
        """The typed result, for flows that call the tool in code."""
        return query_report(parse_query(start_date, end_date, city), self.path())

    def _run(self, start_date: str, end_date: str, city: str = "") -> str:
        self._calls.append({"start_date": start_date, "end_date": end_date, "city": city})
        try:
            data = self.query(start_date, end_date, city)
        except MMCrewError as e:  # the model's mistake: tell it, so it can correct the call
            return f"Error: {e}"
        scope = f"city {data.city}" if data.city else "all cities"
        return (
            f"Active users from {data.start} to {data.end}, {scope}:\n\n{markdown_table(data)}\n\n"
            f"Grand total: {data.grand_total}"
        )

    @property
    def calls(self) -> list[dict]:
        """Arguments of every call an agent made, in order."""
        return list(self._calls)
