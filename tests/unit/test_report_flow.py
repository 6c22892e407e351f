"""The report flow (config/flows/report.yaml) and its steps: wiring, validators, all-or-nothing
outputs, on named fake models; and the ping flow under ``crewai run --definition``."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from multimodal_crew.datasource import parse_query, query_report, table_matches
from multimodal_crew.errors import InputError, StructuredOutputError
from multimodal_crew.flows import run_flow
from multimodal_crew.models.structured import ValidationFailed
from multimodal_crew.steps import Deps, call_step
from multimodal_crew.steps.report import ReportResult, ReportSummary, summary_validators
from multimodal_crew.steps.tools import as_tool
from tests.fakes import ScriptedModel, expected_totals

ROOT = Path(__file__).resolve().parents[2]
CSV = ROOT / "knowledge" / "daily_active_users.csv"
CREWAI = ROOT / ".venv" / "bin" / "crewai"
JAN = {"start_date": "2024-01-01", "end_date": "2024-01-31"}


def good_summary() -> dict:
    t = expected_totals("2024-01-01", "2024-01-31")
    top = max(t, key=t.get)
    return {
        "summary": f"{top} had the most active users from 2024-01-01 to 2024-01-31, {t[top]:,} in total.",
        "top_city": top,
    }


def outputs(home: Path, flow: str = "report") -> list[Path]:
    base = home / "outputs" / flow
    return sorted(base.iterdir()) if base.exists() else []


def report(inputs: dict, model, **kw) -> tuple:
    """The flow's RunResult and its final step's typed output."""
    r = run_flow("report", inputs, model=model, **kw)
    return r, ReportResult.model_validate(r.data)


def test_report_end_to_end_on_a_fake_model(state_home):
    model = ScriptedModel(good_summary())
    steps: list[str] = []
    r, result = report(JAN, model, progress=steps.append)
    # steps ran in order
    assert [s.split()[0] for s in steps] == ["querying", "rendering", "asking", "writing"]
    assert list(r.timings) == ["report_query", "chart", "report_summary"] and r.model_calls == 1
    # the table equals the data
    totals = expected_totals("2024-01-01", "2024-01-31")
    for city, total in totals.items():
        assert f"| {city} | 31 | {total} |" in result.table_markdown
    # the model was shown that table and asked for the schema
    messages, schema, name = model.requests[0]
    assert name == "ReportSummary" and result.table_markdown in messages[-1]["content"]
    # one published folder, nothing staged, no chart left behind
    folders = outputs(state_home)
    assert len(folders) == 1 and folders[0] == Path(result.output_dir) == Path(r.output_dir)
    assert sorted(p.name for p in folders[0].iterdir()) == ["chart.png", "report.md", "result.json", "table.md"]
    assert (folders[0] / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list((state_home / "outputs" / "charts").glob("*")) == []
    saved = json.loads((folders[0] / "result.json").read_text())
    assert {r["city"]: r["total"] for r in saved["rows"]} == totals
    # the one result shape: status, text, files
    assert r.flow == "report" and r.status == "ok" and good_summary()["summary"] in r.text
    assert sorted(Path(f).name for f in r.files) == ["chart.png", "report.md", "result.json", "table.md"]
    assert all(Path(f).is_file() for f in r.files)


def test_city_filter(state_home):
    t = expected_totals("2024-02-01", "2024-02-29", "Osaka")
    model = ScriptedModel({"summary": f"Osaka had {t['Osaka']} active users in February 2024.", "top_city": "Osaka"})
    _, result = report({"start_date": "2024-02-01", "end_date": "2024-02-29", "city": "osaka"}, model)
    assert f"| Osaka | 29 | {t['Osaka']} |" in result.table_markdown
    assert result.table_markdown.count("\n") == 2  # header, separator, one row
    assert "2024-02-01_2024-02-29-osaka-" in Path(result.output_dir).name


def test_invented_number_is_rejected_then_corrected(state_home):
    bad = {"summary": "Berlin led with 150,000 active users in January 2024.", "top_city": "Berlin"}
    model = ScriptedModel(bad, good_summary())
    r, result = report(JAN, model)
    assert result.attempts == 2 and r.model_calls == 2
    feedback = model.requests[1][0][-1]["content"]
    assert "150,000" in feedback and "does not contain" in feedback


def test_model_that_keeps_inventing_fails_loudly_and_publishes_nothing(state_home, monkeypatch):
    monkeypatch.setenv("MMCREW_MAX_RETRIES", "2")
    from multimodal_crew.settings import get_settings

    get_settings(refresh=True)
    model = ScriptedModel({"summary": "Berlin led with 150,000 active users overall.", "top_city": "Berlin"})
    with pytest.raises(StructuredOutputError) as info:
        report(JAN, model)
    assert len(info.value.attempts) == 3
    assert outputs(state_home) == []  # no staging folder, no half report
    assert list((state_home / "outputs" / "charts").glob("*")) == []  # nor the chart drawn for it


def test_max_retries_comes_from_the_settings_passed_in(state_home):
    from multimodal_crew.settings import get_settings

    settings = get_settings(refresh=True).model_copy(update={"max_retries": 0})
    model = ScriptedModel({"summary": "Berlin led with 150,000 active users overall.", "top_city": "Berlin"})
    with pytest.raises(StructuredOutputError) as info:
        report(JAN, model, settings=settings)
    assert len(info.value.attempts) == 1


def test_malformed_output_every_time(state_home):
    model = ScriptedModel("{'summary': oops")
    with pytest.raises(StructuredOutputError):
        report(JAN, model)
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
        ({"start_date": "2024-03-01"}, "is after end_date 2024-01-31"),  # over the YAML's default end_date
    ],
)
def test_bad_inputs_are_input_errors_before_any_model_call(state_home, inputs, message):
    model = ScriptedModel(good_summary())
    with pytest.raises(InputError, match=message):
        run_flow("report", inputs, model=model)
    assert model.requests == [] and outputs(state_home) == []


def test_a_missing_input_without_a_default_is_an_input_error():
    from multimodal_crew.flows import validate_inputs
    from multimodal_crew.flows.inputs import ReportInputs

    with pytest.raises(InputError, match="needs the input 'end_date'"):
        validate_inputs(ReportInputs, "report", {"start_date": "2024-01-01"})


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
    _, a = report(JAN, model)
    _, b = report(JAN, model)
    assert a.output_dir != b.output_dir and a.table_markdown == b.table_markdown


# --- the steps on their own -------------------------------------------------------------------


def test_report_query_as_an_agent_tool_and_its_errors(state_home):
    tool = as_tool("report_query", Deps())
    text = tool.run(start_date="2024-02-01", end_date="2024-02-29", city="Osaka")
    t = expected_totals("2024-02-01", "2024-02-29", "Osaka")
    assert f"| Osaka | 29 | {t['Osaka']} |" in text and f"Grand total: {t['Osaka']}" in text
    assert tool.run(start_date="2024-02-01", end_date="2024-02-29", city="Paris").startswith("Error: unknown city")
    with pytest.raises(InputError, match="has no input 'town'"):
        call_step("report_query", {**JAN, "town": "x"}, Deps())


def test_chart_to_a_named_path_is_kept_by_the_report(state_home, tmp_path):
    deps = Deps(model=ScriptedModel(good_summary()))
    table = call_step("report_query", JAN, deps)
    png = deps.settings.outputs_path.resolve() / "mine.png"
    chart = call_step("chart", {"table": table, "path": "mine.png"}, deps)
    assert chart.path == str(png) and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = call_step("report_summary", {"table": table, "chart": chart}, deps)
    assert png.is_file()  # a caller's file is copied, never taken
    assert (Path(out.output_dir) / "chart.png").read_bytes() == png.read_bytes()
    # without a chart the report draws one itself
    out = call_step("report_summary", {"table": table}, deps)
    assert (Path(out.output_dir) / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_chart_path_outside_the_outputs_folder_is_refused(state_home, tmp_path):
    from multimodal_crew.errors import InputError

    table = call_step("report_query", JAN, Deps())
    for bad in (str(tmp_path / "x.png"), "../../x.png", "chart.txt"):
        with pytest.raises(InputError, match="give a .png file name under the outputs folder"):
            call_step("chart", {"table": table, "path": bad}, Deps())


def test_report_summary_refuses_a_chart_that_is_not_a_png_before_any_model_call(state_home, tmp_path):
    model = ScriptedModel(good_summary())
    deps = Deps(model=model)
    table = call_step("report_query", JAN, deps)
    fake = tmp_path / "x.png"
    fake.write_text("not a picture")
    with pytest.raises(InputError, match="is not a PNG image"):
        call_step("report_summary", {"table": table, "chart": {"path": str(fake), "scratch": True}}, deps)
    with pytest.raises(InputError, match="cannot be read"):
        call_step("report_summary", {"table": table, "chart": {"path": str(tmp_path / "none.png")}}, deps)
    assert fake.is_file() and model.requests == [] and outputs(state_home) == []


# --- the ping flow, and `crewai run --definition` ------------------------------------------------


def test_ping_flow_writes_its_file(state_home):
    r = run_flow("ping", {"message": "hello"})
    assert r.status == "ok" and r.text == "hello" and r.model_calls == 0
    assert json.loads((Path(r.output_dir) / "ping.json").read_text())["message"] == "hello"
    assert r.files == [str(Path(r.output_dir) / "ping.json")]


def crewai_run(definition: str, inputs: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CREWAI), "run", "--definition", definition, "--inputs", inputs],
        cwd=ROOT, env=dict(os.environ), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_crewai_run_definition_runs_the_ping_flow(state_home):
    p = crewai_run("config/flows/ping.yaml", '{"message": "hi"}')
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    [folder] = outputs(state_home, "ping")
    assert json.loads((folder / "ping.json").read_text())["message"] == "hi"
    assert "hi" in p.stdout and str(folder) in p.stdout


def test_crewai_run_refuses_an_unknown_input(state_home):
    p = crewai_run("config/flows/ping.yaml", '{"mesage": "hi"}')
    assert p.returncode != 0
    assert any("mesage" in line and "no input" in line for line in (p.stdout + p.stderr).splitlines())
    assert outputs(state_home, "ping") == []


def test_all_cities_spelled_out_means_no_city_filter():
    """The router's model wrote city="all" for "the report for January, all cities" (make run failed on it)."""
    from multimodal_crew.datasource import parse_query

    for word in ("all", "All cities", "全部", " "):
        assert parse_query("2024-01-01", "2024-01-31", word).city is None
    assert parse_query("2024-01-01", "2024-01-31", "osaka").city == "osaka"
