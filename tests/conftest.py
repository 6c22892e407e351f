"""Suite-wide rules: no non-loopback network, all state in a temporary folder.

* Every connection or name lookup to a non-loopback host is refused and
  recorded (``netguard/sitecustomize.py``), in this process and in every
  subprocess the tests start; a test during which one was recorded fails.
* ``MMCREW_HOME`` points at a fresh temporary folder for each test; the
  embedded model files are shared read-only through ``MMCREW_MODELS_DIR``.
* Tests marked ``integration`` run the real embedded model; they are skipped
  with a reason when its file is absent (``make model`` fetches it).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUARD_DIR = Path(__file__).resolve().parent / "netguard"

_LOG = Path(tempfile.mkdtemp(prefix="mmcrew-netguard-")) / "violations.log"
_LOG.touch()
os.environ["MMCREW_NETGUARD_LOG"] = str(_LOG)
os.environ["PYTHONPATH"] = os.pathsep.join([str(GUARD_DIR), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
sys.path.insert(0, str(GUARD_DIR))
import sitecustomize as _guard  # noqa: E402  (tests/netguard/sitecustomize.py)

_guard.install()

import multimodal_crew  # noqa: E402,F401  (applies the offline environment)
from multimodal_crew.settings import get_settings  # noqa: E402

# unreachable-server tests wait milliseconds between their retries, not the default 1 s doubling
# (tests/unit/test_remote_models.py checks the doubling with a value of its own)
os.environ.setdefault("MMCREW_RETRY_BACKOFF", "0.05")

# the real model folder, resolved before any test moves MMCREW_HOME
os.environ.setdefault("MMCREW_MODELS_DIR", str(get_settings(refresh=True).models_path))
MODELS_DIR = Path(os.environ["MMCREW_MODELS_DIR"])


@pytest.fixture(autouse=True)
def _no_network():
    before = _LOG.stat().st_size
    yield
    if _LOG.stat().st_size > before:
        with open(_LOG, encoding="utf-8") as f:
            f.seek(before)
            pytest.fail("a non-loopback connection was attempted:\n" + f.read()[:4000])


@pytest.fixture(autouse=True)
def state_home(tmp_path, monkeypatch):
    """Each test gets its own MMCREW_HOME, and its own MMCREW_NAMESPACE on shared servers (when
    MMCREW_DATABASE_URL / MMCREW_CHROMA_URL point at test servers); returns its path."""
    import uuid

    home = tmp_path / "state"
    monkeypatch.setenv("MMCREW_HOME", str(home))
    monkeypatch.setenv("MMCREW_NAMESPACE", "t" + uuid.uuid4().hex[:12])
    monkeypatch.setenv("MMCREW_MODELS_DIR", str(MODELS_DIR))
    monkeypatch.delenv("MMCREW_INPUTS", raising=False)
    monkeypatch.delenv("MODEL", raising=False)
    from multimodal_crew.models.runtime import reset_runtime

    get_settings(refresh=True)
    reset_runtime()
    yield home
    get_settings(refresh=True)
    reset_runtime()


@pytest.fixture
def sched_config(monkeypatch, tmp_path):
    """A config folder for scheduler tests: the project's ``ping`` flow, the test flows ``boom`` and
    ``freeze`` (tests/sched_flows/, their steps in tests/sched_steps.py). Returns
    the folder (write ``schedules.yaml`` there)."""
    import shutil

    folder = tmp_path / "config"
    (folder / "flows").mkdir(parents=True)
    shutil.copy(ROOT / "config" / "flows" / "ping.yaml", folder / "flows" / "ping.yaml")
    monkeypatch.setenv("MMCREW_CONFIG_DIR", str(folder))
    monkeypatch.setenv("MMCREW_EXTRA_FLOWS", str(ROOT / "tests" / "sched_flows"))
    monkeypatch.setenv("MMCREW_EXTRA_STEPS", str(ROOT / "tests" / "sched_steps.py"))
    get_settings(refresh=True)
    yield folder


def _model_present() -> bool:
    from multimodal_crew.models.weights import MODELS, model_file

    name = get_settings(refresh=True).embedded_model
    p = model_file(name, MODELS_DIR)
    return p.is_file() and p.stat().st_size == MODELS[name].size


def pytest_collection_modifyitems(config, items):
    if _model_present():
        return
    skip = pytest.mark.skip(reason=f"embedded model not in {MODELS_DIR}; run: make model")
    for item in items:
        if "integration" in item.keywords:
            item.add_marker(skip)


def netguard_log() -> Path:
    return _LOG


@pytest.fixture
def retriever(tmp_path):
    """A Retriever over the good fixture documents, indexed with the HashEmbedder."""
    from tests.fakes import indexed_retriever

    return indexed_retriever(tmp_path / "docs")
