"""``mmcrew doctor``: each check is (name, ok, detail); ok is True, False, or None for information.

Doctor never crashes: a check that raises becomes a FAIL row with a one-line detail.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable

import yaml

from ._offline import OFFLINE_ENV
from .errors import MMCrewError
from .settings import ensure_dir, get_settings, state_folder_error

__all__ = ["run_checks"]

Row = tuple[str, bool | None, str]


def _detail(e: BaseException) -> str:
    """One line for a failed check: our own message as it is, anything else with its type."""
    e = state_folder_error(e) or e
    text = str(e) if isinstance(e, MMCrewError) else f"{type(e).__name__}: {e}"
    return " ".join(text.split()) or type(e).__name__


def _guarded(name: str, check: Callable[[], list[Row]]) -> list[Row]:
    try:
        return check()
    except Exception as e:  # noqa: BLE001 - reported in the table
        return [(name, False, _detail(e))]


def run_checks(load_model: bool = True) -> list[tuple[str, bool | None, str]]:
    try:
        s = get_settings()
    except Exception as e:  # noqa: BLE001 - nothing else can be checked without settings
        return [("settings", False, _detail(e)), *_guarded("offline", _offline_rows)]
    rows: list[Row] = []
    rows += _guarded("model", lambda: [("model", None, s.model + (f" ({s.embedded_model})" if s.is_embedded else ""))])
    rows += _guarded("model capabilities", lambda: _capability_rows(s))
    rows += _guarded("embedder", lambda: _embedder_rows(s))
    rows.append(("state folder (MMCREW_HOME)", None, str(s.home_path)))
    rows += _guarded("offline", _offline_rows)
    rows += _guarded("storage writable", lambda: _storage_rows(s))
    rows += _guarded("database", lambda: [_database_row(s)])
    rows += _guarded("vector store", lambda: [_vector_row(s)])
    rows += _guarded("report data", lambda: _data_rows(s))
    rows += _guarded("knowledge index", lambda: _knowledge_rows(s))
    for path in sorted(s.config_path.rglob("*.y*ml")):  # every YAML under config/, flows fully checked
        rel = path.relative_to(s.config_path).as_posix()
        rows += _guarded(f"config/{rel}", lambda rel=rel: _config_rows(s, rel))
    rows += _guarded("vision backend", lambda: _vision_rows(s, load_model))
    if s.is_embedded:
        rows += _guarded("embedded runtime", lambda: _embedded_rows(s, load_model))
    elif load_model:
        rows += _guarded("model works", lambda: [_model_works(s)])
    return rows


def _capability_rows(s) -> list[Row]:
    """The configured model's (and the vision model's) entry in models/capabilities.py, and whether an API
    key is set for it (never the key)."""
    from .models.capabilities import capabilities

    rows: list[Row] = []
    for label, model in (("model capabilities", s.model), ("vision model capabilities", s.vision_model)):
        if label.startswith("vision") and model.strip().lower() == "offline":
            continue
        caps = capabilities(model, s)
        detail = caps.summary()
        if caps.backend == "openai-compatible" or (caps.backend == "crewai" and model.lower().startswith("openai/")):
            detail += "; api key " + ("set" if s.api_key.get_secret_value() else "not set")
        rows.append((label, None, detail))
    return rows


def _embedder_rows(s) -> list[Row]:
    from .knowledge.embedder import describe_embedder

    return [("embedder", None, describe_embedder(s))]


def _offline_rows() -> list[Row]:
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
    return [
        ("offline (telemetry, tracing, version check)", not off, "all off" if not off else "left on: " + ", ".join(off))
    ]


def _storage_rows(s) -> list[Row]:
    home = ensure_dir(s.home_path)
    with tempfile.NamedTemporaryFile(dir=home, prefix=".doctor-"):
        pass
    return [("storage writable", True, str(home))]


def _database_row(s) -> Row:
    """Where the catalog and the run history live; with MMCREW_DATABASE_URL, whether the server answers."""
    if not s.shared_database:
        return ("database", None, f"SQLite files under {s.home_path} (MMCREW_DATABASE_URL shares them)")
    from sqlalchemy import text

    from .db import connect, safe_url

    with connect(s.database_url) as conn:
        version = conn.execute(text("SHOW server_version")).scalar()
    where = f"PostgreSQL {version} at {safe_url(s.database_url)}"
    return ("database", True, f"{where}; namespace {s.namespace}, machine {s.machine_name}")


def _vector_row(s) -> Row:
    """Where the vectors live; with MMCREW_CHROMA_URL, whether the Chroma server answers."""
    from .knowledge.vectors import ChromaServer

    server = ChromaServer.from_settings(s)
    if server is None:
        return ("vector store", None, "a Chroma folder in the index under MMCREW_HOME (MMCREW_CHROMA_URL shares it)")
    server.parts()  # a malformed URL is a ConfigError, not "unavailable"
    try:
        client = server.client()
        client.heartbeat()
        version = client.get_version()
    except Exception as e:  # noqa: BLE001 - httpx's, Chroma's and the server's own errors
        raise server.unavailable(e) from None
    return ("vector store", True, f"Chroma server {version} at {server.url}")


def _data_rows(s) -> list[Row]:
    data = s.knowledge_path / "daily_active_users.csv"
    return [("report data", data.is_file(), str(data) if data.is_file() else f"{data} missing")]


def _knowledge_rows(s) -> list[Row]:
    from .knowledge.ingest import open_store
    from .knowledge.retrieval import EmptyKnowledgeError

    store = open_store(s)
    try:
        docs = store.docs()
        detail = (
            f"{len(docs)} documents, {store.n_chunks()} chunks, embedder {s.embedder} ({store.root})"
            if docs
            else f"{EmptyKnowledgeError.of(s.knowledge_path)} (the first `mmcrew ask` does it for you)"
        )
    finally:
        store.close()
    return [("knowledge index", None, detail)]


def _config_rows(s, rel: str) -> list[Row]:
    p = s.config_path / rel
    try:
        yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        return [(f"config/{rel}", False, str(e).splitlines()[0])]
    if rel.startswith("flows/"):
        from .flows import load_definition

        entry = load_definition(p)  # the definition's own checks: a problem is one line naming the method
        return [(f"config/{rel}", True, f"flow {entry.name!r}: definition and steps check out")]
    return [(f"config/{rel}", True, "parses")]


def _vision_rows(s, load_model: bool) -> list[Row]:
    rows: list[Row] = []
    if s.vision_model.strip().lower() == "offline":
        rows.append(
            (
                "vision backend",
                None,
                "offline: RapidOCR text, bar and line charts measured into tables and tables read as grids "
                "go to the text model; it cannot see shapes, counts of objects or positions the way a "
                "vision model does, and says so per question (set MMCREW_VISION_MODEL=ollama/qwen2.5vl for that)",
            )
        )
        try:
            from .vision.describe import _engine

            _engine()
            rows.append(("OCR engine", True, "RapidOCR loaded (zh + en models from the wheel)"))
        except Exception as e:  # noqa: BLE001 - reported in the table
            rows.append(("OCR engine", False, _detail(e)))
    else:
        rows.append(("vision backend", None, f"{s.vision_model} (images sent as base64 data URIs)"))
        if load_model:
            try:
                from .models.runtime import get_runtime

                rows.append(
                    ("vision model works", True, get_runtime(s.model_copy(update={"model": s.vision_model})).check())
                )
            except Exception as e:  # noqa: BLE001 - reported in the table
                rows.append(("vision model works", False, _detail(e)))
    return rows


def _model_works(s) -> Row:
    try:
        from .models.runtime import get_runtime

        return ("model works", True, get_runtime(s).check())
    except Exception as e:  # noqa: BLE001 - reported in the table
        return ("model works", False, _detail(e))


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
    from .models.selftest import build_features, build_problems, probe_system_info

    try:
        info = probe_system_info()  # in a child: a library that dies at load is a FAIL row, not a crash
    except MMCrewError as e:
        return [("llama.cpp build", False, str(e))]
    features = " ".join(k for k, v in build_features(info).items() if v)
    problems = build_problems(info)
    rows.append(
        ("llama.cpp build", not problems, "; ".join(problems) or f"CPU features: {features} (AMX off); {_built_by()}")
    )
    if s.embedded_model not in MODELS:
        rows.append(
            ("model file", False, f"unknown EMBEDDED_MODEL {s.embedded_model!r}; choose one of: {', '.join(MODELS)}")
        )
        return rows
    path = model_file(s.embedded_model, s.models_path)
    if not path.is_file():
        rows.append(
            (
                "model file",
                None,
                f"{path.name} not fetched yet: run `make model` ({MODELS[s.embedded_model].size:,} bytes)",
            )
        )
        return rows
    if problems or not load_model:
        return rows
    from .models.selftest import cached_selftest

    try:
        result, cached = cached_selftest(path, s.home_path, s.threads)
        rows.append(
            ("llama.cpp self-test", True, result.summary() + (" (earlier pass, same build and CPU)" if cached else ""))
        )
    except Exception as e:  # noqa: BLE001 - reported in the table
        rows.append(("llama.cpp self-test", False, _detail(e)))
        return rows
    rows.append(_model_works(s))
    return rows
