"""The llama.cpp build check and self-test, on recorded system-info strings and simulated crashes."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from multimodal_crew.crewai_run import verdict
from multimodal_crew.models import selftest
from multimodal_crew.models.selftest import SelfTestError, build_features, build_problems, run_selftest

ROOT = Path(__file__).resolve().parents[2]
CRASHING = ROOT / "tests" / "fixtures" / "crashing_llama_cpp"

# what llama_print_system_info() printed for the builds compared in bench/llama_builds.py
OURS = "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | AVX512 = 1 | AVX512_VBMI = 1 | AVX512_VNNI = 1 | AVX512_BF16 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 |"
NATIVE_ON_AMX_XEON = OURS.replace("REPACK = 1 |", "REPACK = 1 | AMX_INT8 = 1 |")
AVX2_CPU = {"pni", "ssse3", "sse4_2", "avx", "avx2", "f16c", "fma", "bmi2"}
AVX512_CPU = AVX2_CPU | {
    "avx512f",
    "avx512cd",
    "avx512vl",
    "avx512dq",
    "avx512bw",
    "avx512vbmi",
    "avx512_vnni",
    "avx512_bf16",
}


def test_features_are_parsed_from_system_info():
    f = build_features(OURS)
    assert f["AVX2"] and f["AVX512_BF16"] and f["REPACK"]
    assert "AMX_INT8" not in f and "CPU" not in f


def test_our_build_fits_an_avx512_cpu():
    assert build_problems(OURS, AVX512_CPU) == []
    assert build_problems(OURS, AVX512_CPU | {"amx_tile", "amx_int8", "amx_bf16"}) == []


def test_a_build_with_amx_is_refused_even_on_a_cpu_with_amx():
    (problem,) = build_problems(NATIVE_ON_AMX_XEON, AVX512_CPU | {"amx_tile", "amx_int8"})
    assert "AMX" in problem and "SIGILL" in problem and "make llama-rebuild" in problem


def test_a_build_from_another_machine_names_the_missing_features():
    (problem,) = build_problems(OURS, AVX2_CPU)
    assert "AVX512, AVX512_BF16, AVX512_VBMI, AVX512_VNNI" in problem and "make llama-rebuild" in problem


def test_check_build_raises_before_a_model_loads(monkeypatch):
    monkeypatch.setattr(selftest, "system_info", lambda: NATIVE_ON_AMX_XEON)
    with pytest.raises(SelfTestError, match="AMX"):
        selftest.check_build()


@pytest.mark.parametrize(("code", "words"), [(-4, "SIGILL"), (132, "SIGILL"), (-11, "SIGSEGV"), (139, "SIGSEGV")])
def test_a_dying_child_is_named(code, words):
    msg = selftest._describe_death(code)
    assert words in msg and "make llama-rebuild" in msg


def test_a_child_killed_by_sigill_fails_the_selftest_with_the_fix(tmp_path, monkeypatch):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.setenv("PYTHONPATH", f"{CRASHING}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    with pytest.raises(SelfTestError) as info:
        run_selftest(model, timeout=120)
    assert "SIGILL" in str(info.value) and "make llama-rebuild" in str(info.value)
    assert "\n" not in str(info.value)


def test_a_missing_model_file_fails_the_selftest_with_the_fix(tmp_path):
    with pytest.raises(SelfTestError, match="make model"):
        run_selftest(tmp_path / "absent.gguf")


def test_tile_instructions_are_counted(tmp_path):
    """The counter the integration test relies on does find AMX code when there is some."""
    src = tmp_path / "amx.c"
    src.write_text('void f(void) { __asm__ volatile("tilezero %%tmm0\\n\\ttilerelease" ::: "memory"); }\n')
    obj = tmp_path / "amx.o"
    r = subprocess.run(["gcc", "-c", "-mamx-tile", str(src), "-o", str(obj)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"gcc cannot assemble AMX here: {r.stderr[:200]}")
    assert selftest.tile_instruction_count(obj) == 2


@pytest.mark.parametrize(
    ("exit_code", "error", "code", "words"),
    [
        (0, "", 0, "finished"),
        (1, "ModelFileError: no model; run make model", 1, "run make model"),
        (132, "", 132, "SIGILL"),
        (-4, "", 1, "SIGILL"),
    ],
)
def test_crewai_run_verdicts(exit_code, error, code, words):
    got, message = verdict(exit_code, error)
    assert got == code and words in message and "\n" not in message


def test_a_library_that_dies_at_import_is_named_by_the_probe(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", f"{CRASHING}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    with pytest.raises(SelfTestError, match="SIGILL.*make llama-rebuild"):
        selftest.probe_system_info()


def test_the_probe_reads_the_installed_build():
    info = selftest.probe_system_info()
    assert info.startswith("CPU :") and "AVX2" in info


def test_kickoff_reports_a_bad_setting_in_one_line(monkeypatch, capsys):
    from multimodal_crew import main
    from multimodal_crew.settings import _cached

    monkeypatch.setenv("MMCREW_TOP_K", "abc")
    monkeypatch.setattr(sys, "argv", ["kickoff"])
    _cached.cache_clear()
    try:
        with pytest.raises(SystemExit) as info:
            main.kickoff()
    finally:
        monkeypatch.delenv("MMCREW_TOP_K")
        _cached.cache_clear()
    assert info.value.code == 3
    assert "MMCREW_TOP_K" in capsys.readouterr().err
