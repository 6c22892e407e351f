"""all-MiniLM-L6-v2 on ONNX Runtime: exported once from the verified weights, checked against torch,
then run without torch (``MMCREW_EMBEDDER_BACKEND=onnx``; ``knowledge.embedder`` picks it)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..hashing import file_sha256, pinned_sha256, remember_sha256, short_hash
from ..locks import PidLock
from ..settings import ensure_dir
from .embedder import DIM, MAX_SEQ, MINILM_SHA256, MiniLMEmbedder, _offline, _verified_minilm

__all__ = ["CHECK_SAMPLE", "MIN_COSINE", "OnnxMiniLMEmbedder", "onnx_model"]

log = logging.getLogger(__name__)

# What the ONNX export is; change it when the export changes, and a new model is exported and checked.
ONNX_EXPORT = "v1 torchscript-exporter opset17 eager-attention ort-bert-fusions"
MIN_COSINE = 0.999
EXPORT_WAIT = 600.0  # seconds to wait for another process's export before giving up

# Sentences the exported model must embed like torch: mixed lengths, one past the 256-token
# cut (truncation), Chinese, numbers, accents, markup, an ingestion-sized chunk.
_LONG = (
    "The landlord shall keep the roof, the gutters, the drains and the structural walls in good "
    "repair, and shall inspect the fire doors, smoke detectors and emergency lighting every six "
    "months, recording each inspection in the building log kept at the concierge desk. "
)
CHECK_SAMPLE: tuple[str, ...] = (
    "hi",
    "What is the out-of-pocket maximum for an in-network specialist visit?",
    "港湾大厦的住户守则规定，晚上十点以后请保持安静，垃圾必须在指定时间放到一楼的回收区。",
    "Q3 net sales were $94,930 million, up 6% year over year; gross margin was 46.2%.",
    "Crème brûlée, naïve café and ÅNGSTRÖM units — ß, ﬁ, Ｆｕｌｌｗｉｄｔｈ １２３.",
    "## Door sensors\n\n| part | interval |\n|---|---|\n| sensor | 12 months |\n\n- replace batteries",
    _LONG * 6,  # about 330 tokens: cut at 256
    (_LONG * 3)[:1000],  # an ingestion chunk (1,000 characters)
)


class OnnxMiniLMEmbedder:
    """all-MiniLM-L6-v2 on ONNX Runtime: the same tokenizer (``tokenizer.json``, cut at 256 tokens),
    the exported transformer, then mean pooling and L2 normalisation in NumPy. Loads without torch."""

    # The same name as the torch embedder on purpose: the name keys the vector space (the index
    # folder), and this model is only used once its vectors matched torch's to a cosine of at least
    # MIN_COSINE on every sentence of CHECK_SAMPLE, so an index built by either backend is searched by
    # the other; switching MMCREW_EMBEDDER_BACKEND needs no new ingestion.
    name = MiniLMEmbedder.name
    dim = DIM

    def __init__(self, threads: int, models_path: Path):
        _offline()
        weights = _verified_minilm()
        self.model_path = onnx_model(weights, models_path, threads)
        self._tokenizer, self._session = _onnx_runtime(weights, self.model_path, threads)
        self._lock = threading.Lock()

    def embed(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        with self._lock:
            return _onnx_embed(self._tokenizer, self._session, texts, batch_size)


def _onnx_runtime(weights: Path, model: Path, threads: int):
    """(tokenizer, session) for ``model``; the tokenizer cuts at MAX_SEQ tokens and does not pad."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ConfigError(
            "MMCREW_EMBEDDER_BACKEND=onnx needs onnxruntime; run `make setup`, or set MMCREW_EMBEDDER_BACKEND=torch"
        ) from None
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(weights / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_SEQ)
    tokenizer.no_padding()  # batches are padded by _onnx_embed, to their own longest text
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads  # the torch embedder's torch.set_num_threads(threads)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own unrelated types for a file it cannot read
        raise ConfigError(
            f"ONNX Runtime cannot load the exported embedder {model} ({' '.join(str(e).split())[:200]}); "
            "delete that folder to export it again, or set MMCREW_EMBEDDER_BACKEND=torch"
        ) from None
    return tokenizer, session


def _onnx_embed(tokenizer, session, texts: list[str], batch_size: int) -> np.ndarray:
    """Unit vectors for ``texts``, in their order. Texts are embedded in batches of similar token
    length (sorted), so a batch is padded to little more than its own texts."""
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    if not texts:
        return out
    encodings = tokenizer.encode_batch(list(texts))
    order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
    wanted = {i.name for i in session.get_inputs()}
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = max(len(encodings[i].ids) for i in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)  # [PAD] is 0
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for r, i in enumerate(rows):
            n = len(encodings[i].ids)
            ids[r, :n] = encodings[i].ids
            mask[r, :n] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = session.run(None, {k: v for k, v in feeds.items() if k in wanted})[0]
        weight = mask[..., None].astype(np.float32)
        pooled = (hidden * weight).sum(axis=1) / np.maximum(weight.sum(axis=1), 1e-9)  # mean over real tokens
        out[rows] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
    return out


# --- the ONNX model: exported once, checked once --------------------------------------------------


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "none"


def onnx_folder(models_path: Path) -> Path:
    """Where the ONNX model for these weights, this export and these torch/onnxruntime versions lives."""
    key = short_hash(f"{MINILM_SHA256}|{ONNX_EXPORT}|torch {_version('torch')}|onnxruntime {_version('onnxruntime')}")
    return Path(models_path) / "minilm-onnx" / key


def _refused(folder: Path, worst: float) -> ConfigError:
    return ConfigError(
        f"the ONNX export of all-MiniLM-L6-v2 in {folder} does not match the torch model (worst cosine "
        f"{worst:.6f} < {MIN_COSINE}); set MMCREW_EMBEDDER_BACKEND=torch"
    )


def _checked(folder: Path) -> bool:
    """True when ``model.onnx`` is the file that passed the check; False when it must be exported
    (never exported, interrupted, or the file changed since); ``ConfigError`` when it failed the check."""
    model = folder / "model.onnx"
    try:
        record = json.loads((folder / "check.json").read_text())
        sha, passed, worst = str(record["sha256"]), bool(record["passed"]), float(record["worst_cosine"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    try:
        if pinned_sha256(model, sha, folder / ".model-verified") != sha:
            return False  # truncated or damaged since it was checked: export again
    except OSError:
        return False
    if not passed:
        raise _refused(folder, worst)
    return True


def onnx_model(weights: Path, models_path: Path, threads: int) -> Path:
    """The checked ``model.onnx`` for ``weights``, exported (under a lock) when there is none yet."""
    folder = onnx_folder(models_path)
    if _checked(folder):
        return folder / "model.onnx"
    try:
        ensure_dir(folder)
    except ConfigError as e:
        raise ConfigError(f"{e} (or set MMCREW_EMBEDDER_BACKEND=torch)") from None
    lock = PidLock(folder / "export.lock")
    deadline = time.monotonic() + EXPORT_WAIT
    while not lock.acquire():  # another process is exporting: wait for it, then use its model
        if time.monotonic() > deadline:
            raise ConfigError(
                f"process {lock.holder} has been exporting the ONNX embedder into {folder} for "
                f"{EXPORT_WAIT:.0f} s; wait for it, or set MMCREW_EMBEDDER_BACKEND=torch"
            )
        time.sleep(0.5)
    try:
        if not _checked(folder):
            _export_and_check(weights, folder, threads)
    finally:
        lock.release()
    return folder / "model.onnx"


def _export_and_check(weights: Path, folder: Path, threads: int) -> None:
    for stale in folder.glob(".part-*"):  # left by an export that was killed (we hold the lock)
        stale.unlink(missing_ok=True)
    raw, fused = folder / f".part-{os.getpid()}-raw.onnx", folder / f".part-{os.getpid()}-model.onnx"
    try:
        heads, hidden = _export(weights, raw)
        _fuse(raw, fused, heads, hidden)
        worst = _check(weights, fused, threads)
        _fsync(fused)
        sha = file_sha256(fused)
        os.replace(fused, folder / "model.onnx")
        remember_sha256(folder / "model.onnx", sha, folder / ".model-verified")
        record = {
            "sha256": sha,
            "passed": worst >= MIN_COSINE,
            "worst_cosine": worst,
            "min_cosine": MIN_COSINE,
            "sentences": len(CHECK_SAMPLE),
            "weights_sha256": MINILM_SHA256,
            "export": ONNX_EXPORT,
            "torch": _version("torch"),
            "onnxruntime": _version("onnxruntime"),
            "checked_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        _write_atomic(folder / "check.json", json.dumps(record, indent=1) + "\n")
    finally:
        raw.unlink(missing_ok=True)
        fused.unlink(missing_ok=True)
    if worst < MIN_COSINE:
        raise _refused(folder, worst)


def _export(weights: Path, out: Path) -> tuple[int, int]:
    """The transformer (input_ids, attention_mask, token_type_ids -> last_hidden_state; batch and
    sequence dynamic) from the verified weights; returns (attention heads, hidden size)."""
    try:
        import onnx  # noqa: F401  (torch's exporter needs it)
    except ImportError:
        raise ConfigError(
            "exporting the ONNX embedder needs the onnx package; run `make setup`, or set MMCREW_EMBEDDER_BACKEND=torch"
        ) from None
    import torch
    from transformers import AutoModel

    # eager attention: its graph is the one ONNX Runtime's BERT fusions recognise (fused Attention)
    model = AutoModel.from_pretrained(str(weights), attn_implementation="eager", local_files_only=True).eval()

    class Hidden(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    # two texts of different lengths, so the traced graph applies the padding mask
    ids = torch.tensor([[101, 7592, 2088, 102, 0, 0], [101, 1037, 2936, 6251, 2182, 102]])
    mask = (ids != 0).long()
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "sequence"} for n in [*names, "last_hidden_state"]}
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # tracer and deprecation warnings about the TorchScript exporter
        torch.onnx.export(
            Hidden(model),
            (ids, mask, torch.zeros_like(ids)),
            str(out),
            dynamo=False,
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
        )
    return model.config.num_attention_heads, model.config.hidden_size


def _fuse(src: Path, dst: Path, heads: int, hidden: int) -> None:
    """ONNX Runtime's BERT graph fusions (attention, embedding + layer norm, GELU), offline, no precision change."""
    from onnxruntime.transformers import optimizer

    quiet = logging.getLogger("onnxruntime.transformers")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        fused = optimizer.optimize_model(str(src), model_type="bert", num_heads=heads, hidden_size=hidden)
        fused.save_model_to_file(str(dst))
    finally:
        quiet.setLevel(level)


def _check(weights: Path, candidate: Path, threads: int) -> float:
    """The worst cosine between torch's and ``candidate``'s vectors over CHECK_SAMPLE, embedded in
    padded batches and one by one (unpadded)."""
    reference = MiniLMEmbedder(threads).embed(list(CHECK_SAMPLE))
    tokenizer, session = _onnx_runtime(weights, candidate, threads)
    batched = _onnx_embed(tokenizer, session, list(CHECK_SAMPLE), 4)
    alone = np.concatenate([_onnx_embed(tokenizer, session, [t], 1) for t in CHECK_SAMPLE])
    cosines = np.concatenate([(reference * batched).sum(axis=1), (reference * alone).sum(axis=1)])
    return float(np.nan_to_num(cosines, nan=-1.0).min())


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".part-{os.getpid()}-{path.name}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
