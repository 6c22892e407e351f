import os
import re
import socket
from pathlib import Path

import pytest

from multimodal_crew.settings import Settings, env_names, get_settings

ROOT = Path(__file__).resolve().parents[2]


def _aliases() -> set[str]:
    names = set()
    for field in Settings.model_fields:
        names.add(env_names(field)[0])
    return names


def test_env_example_lists_every_setting_with_a_default_and_a_comment():
    text = (ROOT / ".env.example").read_text()
    listed = dict(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=(.*)$", text, flags=re.M))
    assert _aliases() <= set(listed), _aliases() - set(listed)
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^#?\s*([A-Z][A-Z0-9_]+)=", line)
        if m and m.group(1) in _aliases():
            assert lines[i - 1].startswith("# "), f"{m.group(1)} has no explanation line above it"


def test_defaults():
    s = Settings(_env_file=None)
    assert s.model == "embedded" and s.embedded_model == "qwen2.5-coder-1.5b"


def test_one_setting_moves_all_state(monkeypatch, tmp_path):
    monkeypatch.setenv("MMCREW_HOME", str(tmp_path / "elsewhere"))
    monkeypatch.delenv("MMCREW_MODELS_DIR")
    s = get_settings(refresh=True)
    for p in (s.models_path, s.outputs_path, s.cache_path):
        assert tmp_path / "elsewhere" in p.parents


def test_crewai_telemetry_tracing_and_version_check_are_off():
    for key, value in {
        "CREWAI_DISABLE_TELEMETRY": "true",
        "CREWAI_TRACING_ENABLED": "false",
        "CREWAI_DISABLE_VERSION_CHECK": "true",
        "OTEL_SDK_DISABLED": "true",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }.items():
        assert os.environ.get(key) == value


def test_network_guard_refuses_non_loopback(monkeypatch, tmp_path):
    log = tmp_path / "guard.log"
    monkeypatch.setenv("MMCREW_NETGUARD_LOG", str(log))  # record to a private log, not the suite's
    with pytest.raises(OSError, match="network guard"):
        socket.create_connection(("192.0.2.1", 443), timeout=1)  # TEST-NET-1, documentation range
    with pytest.raises(OSError):
        socket.getaddrinfo("api.openai.com", 443)
    assert "192.0.2.1" in log.read_text() and "api.openai.com" in log.read_text()


def test_loopback_is_allowed():
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        with socket.create_connection(srv.getsockname(), timeout=1):
            pass


def test_ci_runs_the_readme_test_command():
    import subprocess

    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- test-command", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0].strip()
    ci = (ROOT / ".ci" / "run").read_text()
    assert f'TEST_COMMAND="{block}"' in ci and "\nmake test\n" in ci and block == "make test"
    # and the script refuses a README that says something else
    tmp = ROOT / ".pytest_cache" / "ci-drift"
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / ".ci").mkdir(exist_ok=True)
    (tmp / ".ci" / "run").write_text(ci)
    (tmp / "README.md").write_text(readme.replace("```bash\nmake test\n```", "```bash\nmake check\n```"))
    proc = subprocess.run(["bash", str(tmp / ".ci" / "run")], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1 and "make them agree" in proc.stderr
