"""The report, end to end on the real embedded model (llama.cpp, pinned GGUF)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from multimodal_crew.datasource import parse_query, query_report
from multimodal_crew.flows import run_flow
from multimodal_crew.models.runtime import get_runtime
from multimodal_crew.models.structured import ValidationFailed, structured
from multimodal_crew.numbers import unsupported_numbers
from multimodal_crew.steps.report import ReportResult, allowed_numbers
from multimodal_crew.steps.report_data import ReportCheck
from tests.fakes import expected_totals

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
FEB = {"start_date": "2024-02-01", "end_date": "2024-02-29"}


def test_report_flow_table_equals_data_and_every_summary_number_is_in_it(state_home):
    r = run_flow("report", FEB)
    assert r.status == "ok" and r.model_calls >= 1
    result = ReportResult.model_validate(r.data)
    totals = expected_totals("2024-02-01", "2024-02-29")
    for city, total in totals.items():
        assert f"| {city} | 29 | {total} |" in result.table_markdown
    data = query_report(parse_query(FEB["start_date"], FEB["end_date"]), ROOT / "knowledge/daily_active_users.csv")
    assert unsupported_numbers(result.summary, allowed_numbers(data)) == []
    assert result.top_city == max(totals, key=totals.get)
    assert (Path(result.output_dir) / "chart.png").stat().st_size > 10_000


def test_yaml_crew_agent_calls_the_tool_and_reports_the_data(state_home):
    r = run_flow("report_crew", {**FEB, "city": ""})
    result = ReportCheck.model_validate(r.data)
    assert result.tool_called, result.answer
    assert result.tool_calls[0]["start_date"] == "2024-02-01"
    assert result.table_matches, result.answer
    assert r.status == "ok"


def test_structured_feeds_the_error_back_to_the_real_model(state_home):
    class Pick(BaseModel):
        city: str

    def must_be_osaka(p: Pick):
        if p.city != "Osaka":
            raise ValidationFailed(f"{p.city!r} is wrong; the answer is the city Osaka")

    seen: list = []
    got = structured(
        get_runtime(),
        "Name one city from this list: Berlin, Lisbon, Osaka.",
        Pick,
        validators=[must_be_osaka],
        max_retries=2,
        on_attempt=lambda n, raw, err: seen.append(err),
    )
    assert got.city == "Osaka"
    assert seen[-1] is None


def test_crewai_run_and_mmcrew_run_give_the_same_report(state_home):
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    inputs = {"start_date": "2024-02-01", "end_date": "2024-02-29", "city": "Osaka"}
    a = subprocess.run(
        [str(BIN / "crewai"), "run", "--definition", "config/flows/report.yaml", "--inputs", json.dumps(inputs)],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert a.returncode == 0, a.stderr[-2000:]
    pairs = [x for k, v in inputs.items() for x in ("-i", f"{k}={v}")]
    b = subprocess.run(
        [str(BIN / "mmcrew"), "run", "report", *pairs, "--json"],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert b.returncode == 0, b.stderr[-2000:]
    folders = sorted((state_home / "outputs" / "report").iterdir())
    assert len(folders) == 2
    first, second = (json.loads((f / "result.json").read_text()) for f in folders)
    assert first["inputs"] == second["inputs"] == inputs
    assert first["table_markdown"] == second["table_markdown"]
    assert first["summary"] == second["summary"]  # temperature 0, fixed seed
