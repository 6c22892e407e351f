"""``mmcrew doctor``: each check is (name, ok, detail); ok is True, False, or None for information."""

from __future__ import annotations

import os
import tempfile

import yaml

from ._offline import OFFLINE_ENV
from .errors import MMCrewError
from .settings import get_settings

__all__ = ["run_checks"]


def run_checks(load_model: bool = True) -> list[tuple[str, bool | None, str]]:
    s = get_settings()
    rows: list[tuple[str, bool | None, str]] = []
    rows.append(("model", None, s.model + (f" ({s.embedded_model})" if s.is_embedded else "")))
    rows.append(("state folder (MMCREW_HOME)", None, str(s.home_path)))

    off = [
        k
        for k in (
            "CREWAI_DISABLE_TELEMETRY",
            "CREWAI_TRACING_ENABLED",
            "CREWAI_DISABLE_VERSION_CHECK",
            "OTEL_SDK_DISABLED",
            "LITELLM_LOCAL_MODEL_COST_MAP",
        )
        if os.environ.get(k, "").lower() != OFFLINE_ENV[k].lower()
    ]
    rows.append(
        ("offline (telemetry, tracing, version check)", not off, "all off" if not off else "left on: " + ", ".join(off))
    )

    try:
        s.home_path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=s.home_path, prefix=".doctor-"):
            pass
        rows.append(("storage writable", True, str(s.home_path)))
    except OSError as e:
        rows.append(("storage writable", False, f"{s.home_path}: {e.strerror}"))

    data = s.knowledge_path / "daily_active_users.csv"
    rows.append(("report data", data.is_file(), str(data) if data.is_file() else f"{data} missing"))

    try:
        from .knowledge.ingest import open_store

        store = open_store(s)
        docs = store.docs()
        rows.append(
            (
                "knowledge index",
                None,
                f"{len(docs)} documents, {store.n_chunks()} chunks, embedder {s.embedder} ({store.root})"
                if docs
                else f"empty: `mmcrew ingest` indexes {s.knowledge_path} (the first `mmcrew ask` does it for you)",
            )
        )
        store.close()
    except MMCrewError as e:
        rows.append(("knowledge index", False, str(e)))

    for rel in (
        "inputs.yaml",
        "report/agents.yaml",
        "report/tasks.yaml",
        "workorder/agents.yaml",
        "workorder/tasks.yaml",
    ):
        p = s.config_path / rel
        try:
            yaml.safe_load(p.read_text(encoding="utf-8"))
            rows.append((f"config/{rel}", True, "parses"))
        except (OSError, yaml.YAMLError) as e:
            rows.append((f"config/{rel}", False, str(e).splitlines()[0]))

    if s.vision_model.strip().lower() == "offline":
        rows.append(
            (
                "vision backend",
                None,
                "offline: RapidOCR text + measured size/colours go to the text model; "
                "it cannot see shapes, counts of objects or positions the way a vision model does "
                "(set MMCREW_VISION_MODEL=ollama/qwen2.5vl for that)",
            )
        )
        try:
            from .vision.describe import _engine

            _engine()
            rows.append(("OCR engine", True, "RapidOCR loaded (zh + en models from the wheel)"))
        except Exception as e:  # noqa: BLE001 - reported in the table
            rows.append(("OCR engine", False, f"{type(e).__name__}: {e}"))
    else:
        rows.append(("vision backend", None, f"{s.vision_model} (images sent as base64 data URIs)"))
        if load_model:
            try:
                from .models.runtime import get_runtime

                rows.append(
                    ("vision model works", True, get_runtime(s.model_copy(update={"model": s.vision_model})).check())
                )
            except MMCrewError as e:
                rows.append(("vision model works", False, str(e)))

    if s.is_embedded:
        rows += _embedded_rows(s, load_model)
    elif load_model:
        rows.append(_model_works(s))
    return rows


def _model_works(s) -> tuple[str, bool | None, str]:
    try:
        from .models.runtime import get_runtime

        return ("model works", True, get_runtime(s).check())
    except MMCrewError as e:
        return ("model works", False, str(e))


def _built_by() -> str:
    import json
    import sys
    from pathlib import Path

    try:
        stamp = json.loads((Path(sys.prefix) / "llama-build.json").read_text(encoding="utf-8"))
        return f"built by scripts/build_llama.py ({stamp['policy']} policy, flags {stamp['key']})"
    except (OSError, ValueError, KeyError):
        return "not built by scripts/build_llama.py (run `make llama-rebuild` to build it that way)"


def _embedded_rows(s, load_model: bool) -> list[tuple[str, bool | None, str]]:
    """The llama.cpp build (its CPU features, AMX off), its self-test in a child process, the model."""
    from .models.weights import MODELS, model_file

    rows: list[tuple[str, bool | None, str]] = []
    try:
        from .models.selftest import build_features, build_problems, system_info

        info = system_info()
    except ImportError as e:
        return [("llama.cpp build", False, f"llama-cpp-python is not installed ({e}); run: make setup")]
    features = " ".join(k for k, v in build_features(info).items() if v)
    problems = build_problems(info)
    rows.append(("llama.cpp build", not problems, "; ".join(problems) or f"CPU features: {features} (AMX off); {_built_by()}"))
    if s.embedded_model not in MODELS:
        rows.append(("model file", False, f"unknown EMBEDDED_MODEL {s.embedded_model!r}; choose one of: {', '.join(MODELS)}"))
        return rows
    path = model_file(s.embedded_model, s.models_path)
    if not path.is_file():
        rows.append(("model file", None, f"{path.name} not fetched yet: run `make model` ({MODELS[s.embedded_model].size:,} bytes)"))
        return rows
    if problems or not load_model:
        return rows
    from .models.selftest import cached_selftest

    try:
        result, cached = cached_selftest(path, s.home_path, s.threads)
        rows.append(("llama.cpp self-test", True, result.summary() + (" (earlier pass, same build and CPU)" if cached else "")))
    except MMCrewError as e:
        rows.append(("llama.cpp self-test", False, str(e)))
        return rows
    rows.append(_model_works(s))
    return rows
