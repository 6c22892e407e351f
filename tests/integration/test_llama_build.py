"""The installed llama.cpp build cannot execute AMX code, and it survives a long batched decode here.

A build with llama.cpp's AMX path dies with SIGILL on Xeons that report AMX as soon as a prompt is
long enough for a batched matmul; a one-line prompt passes. These tests would have caught it: the
build's own feature list, its machine code, and a 1,100-token decode in a child process.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from multimodal_crew.models import selftest
from multimodal_crew.models.weights import model_file
from multimodal_crew.settings import get_settings

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
CRASHING = ROOT / "tests" / "fixtures" / "crashing_llama_cpp"


def test_build_reports_no_amx_and_fits_this_cpu():
    info = selftest.system_info()
    assert "AMX" not in info, info
    assert selftest.build_problems(info) == []


def test_no_amx_tile_instructions_in_the_native_libraries():
    libs = selftest.library_files()
    assert any(p.name.startswith("libggml-cpu") for p in libs), libs
    counts = {p.name: selftest.tile_instruction_count(p) for p in libs}
    if any(c is None for c in counts.values()):
        pytest.skip("objdump is not available")
    assert all(c == 0 for c in counts.values()), counts


def test_long_prompt_decodes_in_a_child_process():
    s = get_settings()
    result = selftest.run_selftest(model_file(s.embedded_model, s.models_path), s.threads)
    assert result.ok and result.prompt_tokens >= 1000 and result.gen_tokens > 0
    assert result.prompt_tps > 0 and result.gen_tps > 0


def _crewai_run(env_extra: dict) -> subprocess.CompletedProcess:
    env = dict(os.environ, **env_extra)
    return subprocess.run(
        [sys.executable, "-m", "multimodal_crew.crewai_run"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=900,
    )  # fmt: skip


def test_make_run_produces_the_report_and_exits_0(state_home):
    p = _crewai_run({})
    assert p.returncode == 0, p.stderr[-2000:]
    (folder,) = (state_home / "outputs" / "report").iterdir()
    assert (folder / "report.md").is_file() and json.loads((folder / "result.json").read_text())
    assert "crewai run: finished" in p.stdout


def test_make_run_fails_with_one_line_when_the_model_crashes(state_home):
    pythonpath = f"{CRASHING}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    p = _crewai_run({"PYTHONPATH": pythonpath})
    assert p.returncode != 0
    last = p.stderr.strip().splitlines()[-1]
    assert "SIGILL" in last and "mmcrew doctor" in last, p.stderr[-2000:]
    assert not list((state_home / "outputs").glob("report/*/report.md"))  # nothing published


def test_make_run_fails_with_one_line_when_the_model_file_is_missing(state_home, tmp_path):
    p = _crewai_run({"MMCREW_MODELS_DIR": str(tmp_path / "no-models")})
    assert p.returncode != 0, p.stderr[-2000:]  # CrewAI's declarative runner exits 1 for any flow error
    last = p.stderr.strip().splitlines()[-1]
    assert "failed" in last and "make model" in last, p.stderr[-2000:]
