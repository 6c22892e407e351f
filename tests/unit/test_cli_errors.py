"""Every expected failure is one line on stderr and a non-zero exit, never a traceback.

These run the real ``mmcrew`` console script in a subprocess (the network guard
is active there too) with no embedded model needed.
"""

import json
from pathlib import Path

import pytest

from tests.fakes import FakeOpenAIServer, assert_one_line_error, free_port, mmcrew


def no_outputs(home: Path) -> bool:
    base = home / "outputs"
    return not base.exists() or not any(base.rglob("*.md"))


@pytest.mark.parametrize(
    "args, code, needles",
    [
        (["run", "report", "-i", "start_date=2024-03-01", "-i", "end_date=2024-02-01"], 2, ["is after end_date"]),
        (["run", "report", "-i", "start_date=2024-3-1"], 2, ["YYYY-MM-DD"]),
        (["run", "nosuchflow"], 2, ["unknown flow 'nosuchflow'", "report"]),
        (["run", "report", "-i", "colour=red"], 2, ["has no input 'colour'"]),
        (["run", "report", "-i", "novalue"], 2, ["key=value"]),
        (["run", "report", "--inputs-file", "/nonexistent/inputs.json"], 2, ["does not exist"]),
    ],
)
def test_bad_usage(args, code, needles, state_home):
    proc = mmcrew(*args)
    assert_one_line_error(proc, code, *needles)
    assert no_outputs(state_home)


def test_malformed_inputs_file(tmp_path, state_home):
    bad = tmp_path / "in.json"
    bad.write_text("{not json")
    assert_one_line_error(mmcrew("run", "report", "--inputs-file", str(bad)), 2, "not valid json")


def test_missing_model_file_says_how_to_fetch_it(tmp_path, state_home):
    proc = mmcrew("run", "report", env={"MMCREW_MODELS_DIR": str(tmp_path / "empty")})
    assert_one_line_error(proc, 3, "is missing; run: make model")
    assert no_outputs(state_home)


def test_corrupt_model_file(tmp_path, state_home):
    from multimodal_crew.models.weights import MODELS

    folder = tmp_path / "models"
    folder.mkdir()
    (folder / MODELS["qwen2.5-coder-1.5b"].filename).write_bytes(b"not a gguf")
    proc = mmcrew("run", "report", env={"MMCREW_MODELS_DIR": str(folder)})
    assert_one_line_error(proc, 3, "corrupt or partial", "make model")


def test_unreachable_ollama(state_home):
    port = free_port()  # nothing listens there
    proc = mmcrew("run", "report", env={"MODEL": "ollama/qwen2.5:7b", "OLLAMA_BASE_URL": f"http://127.0.0.1:{port}"})
    assert_one_line_error(proc, 4, "cannot reach Ollama", f"127.0.0.1:{port}", "OLLAMA_BASE_URL")
    assert no_outputs(state_home)


def test_openai_compatible_server_gets_the_json_schema_and_malformed_output_fails_loudly(state_home):
    with FakeOpenAIServer(["this is not json"]) as srv:
        proc = mmcrew(
            "run", "report", env={"MODEL": "openai/fake", "MMCREW_API_BASE": srv.url + "/v1", "MMCREW_MAX_RETRIES": "1"}
        )
    assert_one_line_error(proc, 5, "no valid ReportSummary after 2 attempt(s)")
    assert len(srv.requests) == 2
    fmt = srv.requests[0]["body"]["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "ReportSummary"
    assert set(fmt["json_schema"]["schema"]["required"]) == {"summary", "top_city"}
    assert "rejected" in srv.requests[1]["body"]["messages"][-1]["content"]  # the error was fed back
    assert no_outputs(state_home)


def test_openai_compatible_server_success_path(state_home):
    reply = json.dumps(
        {"summary": "Berlin had the largest total, 127072 active users, in January 2024.", "top_city": "Berlin"}
    )
    with FakeOpenAIServer([reply]) as srv:
        proc = mmcrew("run", "report", "--json", env={"MODEL": "openai/fake", "MMCREW_API_BASE": srv.url + "/v1"})
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["data"]["top_city"] == "Berlin" and Path(result["output_dir"]).is_dir()
    assert Path(result["output_dir"]).parent.parent == state_home / "outputs"  # MMCREW_HOME moved it


def test_unknown_model_on_server(state_home):
    with FakeOpenAIServer(["{}"], models=("other",)) as srv:
        proc = mmcrew("run", "report", env={"MODEL": "openai/fake", "MMCREW_API_BASE": srv.url + "/v1"})
    assert_one_line_error(proc, 3, "has no model 'fake'")


def test_doctor_reports_unreachable_ollama_in_its_table(state_home):
    port = free_port()
    proc = mmcrew("doctor", env={"MODEL": "ollama/llava", "OLLAMA_BASE_URL": f"http://127.0.0.1:{port}"})
    assert proc.returncode == 1
    assert "FAIL" in proc.stdout and "cannot reach Ollama" in proc.stdout.replace("\n", " ").replace("│", " ")
