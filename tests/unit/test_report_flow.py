"""The report flow's wiring, validators and all-or-nothing outputs, on named fake models."""

import csv
import json
from pathlib import Path

import pytest

from multimodal_crew.datasource import parse_query, query_report, table_matches
from multimodal_crew.errors import InputError, StructuredOutputError
from multimodal_crew.flows import run_flow
from multimodal_crew.flows.report import ReportFlow, ReportSummary, summary_validators
from multimodal_crew.models.structured import ValidationFailed
from tests.fakes import ScriptedModel

ROOT = Path(__file__).resolve().parents[2]
CSV = ROOT / "knowledge" / "daily_active_users.csv"
JAN = {"start_date": "2024-01-01", "end_date": "2024-01-31"}


def expected_totals(start: str, end: str, city: str | None = None) -> dict[str, int]:
    """Computed from the CSV without the project's code."""
    out: dict[str, int] = {}
    with open(CSV, newline="") as f:
        for rec in csv.DictReader(f):
            if start <= rec["date"] <= end and (city is None or rec["city"] == city):
                out[rec["city"]] = out.get(rec["city"], 0) + int(rec["active_users"])
    return out


def good_summary() -> dict:
    t = expected_totals("2024-01-01", "2024-01-31")
    top = max(t, key=t.get)
    return {
        "summary": f"{top} had the most active users from 2024-01-01 to 2024-01-31, {t[top]:,} in total.",
        "top_city": top,
    }


def outputs(home: Path) -> list[Path]:
    base = home / "outputs" / "report"
    return sorted(base.iterdir()) if base.exists() else []


def test_report_end_to_end_on_a_fake_model(state_home):
    model = ScriptedModel(good_summary())
    steps: list[str] = []
    result = ReportFlow(model=model, progress=steps.append).kickoff(inputs=JAN)
    # steps ran in order
    assert [s.split()[0] for s in steps] == ["querying", "rendering", "asking"]
    # the table equals the data
    totals = expected_totals("2024-01-01", "2024-01-31")
    for city, total in totals.items():
        assert f"| {city} | 31 | {total} |" in result.table_markdown
    # the model was shown that table and asked for the schema
    messages, schema, name = model.requests[0]
    assert name == "ReportSummary" and result.table_markdown in messages[-1]["content"]
    # one published folder, nothing staged
    folders = outputs(state_home)
    assert len(folders) == 1 and folders[0] == Path(result.output_dir)
    assert sorted(p.name for p in folders[0].iterdir()) == ["chart.png", "report.md", "result.json", "table.md"]
    assert (folders[0] / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((folders[0] / "result.json").read_text())
    assert {r["city"]: r["total"] for r in saved["rows"]} == totals


def test_city_filter(state_home):
    t = expected_totals("2024-02-01", "2024-02-29", "Osaka")
    model = ScriptedModel({"summary": f"Osaka had {t['Osaka']} active users in February 2024.", "top_city": "Osaka"})
    result = ReportFlow(model=model).kickoff(
        inputs={"start_date": "2024-02-01", "end_date": "2024-02-29", "city": "osaka"}
    )
    assert f"| Osaka | 29 | {t['Osaka']} |" in result.table_markdown
    assert result.table_markdown.count("\n") == 2  # header, separator, one row


def test_invented_number_is_rejected_then_corrected(state_home):
    bad = {"summary": "Berlin led with 150,000 active users in January 2024.", "top_city": "Berlin"}
    model = ScriptedModel(bad, good_summary())
    result = ReportFlow(model=model).kickoff(inputs=JAN)
    assert result.attempts == 2
    feedback = model.requests[1][0][-1]["content"]
    assert "150,000" in feedback and "does not contain" in feedback


def test_model_that_keeps_inventing_fails_loudly_and_publishes_nothing(state_home, monkeypatch):
    monkeypatch.setenv("MMCREW_MAX_RETRIES", "2")
    from multimodal_crew.settings import get_settings

    get_settings(refresh=True)
    model = ScriptedModel({"summary": "Berlin led with 150,000 active users overall.", "top_city": "Berlin"})
    with pytest.raises(StructuredOutputError) as info:
        ReportFlow(model=model).kickoff(inputs=JAN)
    assert len(info.value.attempts) == 3
    assert outputs(state_home) == []  # no staging folder, no half report


def test_malformed_output_every_time(state_home):
    model = ScriptedModel("{'summary': oops")
    with pytest.raises(StructuredOutputError):
        ReportFlow(model=model).kickoff(inputs=JAN)
    assert outputs(state_home) == []


@pytest.mark.parametrize(
    "inputs, message",
    [
        ({"start_date": "2024-02-10", "end_date": "2024-02-01"}, "is after end_date"),
        ({"start_date": "2024-13-01", "end_date": "2024-12-31"}, "not a real date"),
        ({"start_date": "01/02/2024", "end_date": "2024-02-01"}, "YYYY-MM-DD"),
        ({"start_date": "2024-01-01", "end_date": "2024-01-31", "city": "Paris"}, "unknown city 'Paris'"),
        ({"start_date": "2030-01-01", "end_date": "2030-01-31"}, "no data between"),
        ({"start_date": "2024-01-01", "end_date": "2024-01-31", "town": "x"}, "has no input 'town'"),
        ({"start_date": "2024-01-01"}, "needs the input 'end_date'"),
    ],
)
def test_bad_inputs_are_input_errors_before_any_model_call(state_home, inputs, message):
    model = ScriptedModel(good_summary())
    with pytest.raises(InputError, match=message):
        run_flow("report", inputs, model=model)
    assert model.requests == [] and outputs(state_home) == []


def test_summary_validators_accept_derived_and_reject_invented():
    data = query_report(parse_query("2024-01-01", "2024-01-31"), CSV)
    top, second = data.rows[0], data.rows[1]
    ok = ReportSummary(
        summary=(
            f"{top.city} led with {top.total:,} users, {top.total - second.total:,} more than {second.city}; "
            f"{100 * top.total / data.grand_total:.1f}% of all {data.grand_total:,} users in January 2024."
        ),
        top_city=top.city,
    )
    for check in summary_validators(data):
        check(ok)
    wrong_top = ok.model_copy(update={"top_city": second.city})
    with pytest.raises(ValidationFailed, match="does not have the largest Total"):
        summary_validators(data)[0](wrong_top)
    invented = ok.model_copy(update={"summary": f"{top.city} grew 17% to {top.total + 1} users."})
    with pytest.raises(ValidationFailed, match="17"):
        summary_validators(data)[1](invented)


def test_table_matches_detects_a_changed_cell():
    data = query_report(parse_query("2024-01-01", "2024-01-31"), CSV)
    from multimodal_crew.datasource import markdown_table

    table = markdown_table(data)
    assert table_matches("Here it is:\n\n" + table, data)
    r = data.rows[0]
    assert not table_matches(table.replace(str(r.total), str(r.total + 1)), data)
    assert not table_matches("| City | Total |\n|---|---|\n| Chicago | 1 |", data)


def test_fresh_state_per_run(state_home):
    model = ScriptedModel(good_summary())
    a = ReportFlow(model=model).kickoff(inputs=JAN)
    b = ReportFlow(model=model).kickoff(inputs=JAN)
    assert a.output_dir != b.output_dir and a.table_markdown == b.table_markdown
