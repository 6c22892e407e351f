"""all-MiniLM-L6-v2 on ONNX Runtime: exported once from the verified weights, checked against torch,
then run without torch (``MMCREW_EMBEDDER_BACKEND=onnx``; ``knowledge.embedder`` picks it).

``MMCREW_EMBEDDER_BACKEND=onnx-int8`` (opt-in, not the default): the checked fp32 model quantized once
with ``onnxruntime.quantization.quantize_dynamic`` (int8 weights per output channel for MatMul and
Attention, activations quantized per batch at run time), written beside it as ``model-int8.onnx`` and
checked against torch on CHECK_SAMPLE at the lower MIN_COSINE_INT8 (``check-int8.json``). Its vectors
are not torch's, so it has an index of its own (``embedder.MINILM_INT8_NAME``); whether its retrieval
equals fp32's is what ``bench/embed_int8.py`` measures."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..hashing import file_sha256, pinned_sha256, remember_sha256, short_hash
from ..locks import PidLock
from ..settings import ensure_dir
from .embedder import DIM, MAX_SEQ, MINILM_INT8_NAME, MINILM_SHA256, MiniLMEmbedder, _offline, _verified_minilm

__all__ = [
    "CHECK_SAMPLE", "INT8_QUANT", "MIN_COSINE", "MIN_COSINE_INT8", "OnnxInt8MiniLMEmbedder", "OnnxMiniLMEmbedder",
    "onnx_int8_model", "onnx_model",
]  # fmt: skip

log = logging.getLogger(__name__)

# What the ONNX export is; change it when the export changes, and a new model is exported and checked.
ONNX_EXPORT = "v1 torchscript-exporter opset17 eager-attention ort-bert-fusions"
MIN_COSINE = 0.999
# What the int8 model is; its leading "v<n>" is the suffix of embedder.MINILM_INT8_NAME (the index it
# keys): change both together, so other int8 vectors start another index. Measured on CHECK_SAMPLE
# (onnxruntime 1.32, against torch): worst cosine 0.978 (the 3-token "hi"; 0.985 and more for the
# others); per-tensor weights reached only 0.86, and quantizing the embedding tables too 0.976.
INT8_QUANT = "v1 quantize_dynamic QInt8 per-channel weights of MatMul+Attention, QUInt8 dynamic activations"
MIN_COSINE_INT8 = 0.97
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
    # the other; switching between `torch` and `onnx` needs no new ingestion.
    name = MiniLMEmbedder.name
    dim = DIM

    def __init__(self, threads: int, models_path: Path):
        _offline()
        weights = _verified_minilm()
        self.model_path = self._model(weights, models_path, threads)
        self._tokenizer, self._session = _onnx_runtime(weights, self.model_path, threads)
        self._lock = threading.Lock()

    @staticmethod
    def _model(weights: Path, models_path: Path, threads: int) -> Path:
        return onnx_model(weights, models_path, threads)

    def embed(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        with self._lock:
            return _onnx_embed(self._tokenizer, self._session, texts, batch_size)


class OnnxInt8MiniLMEmbedder(OnnxMiniLMEmbedder):
    """The int8 model (``MMCREW_EMBEDDER_BACKEND=onnx-int8``), run like the fp32 one. Its vectors
    are near torch's (cosine >= MIN_COSINE_INT8 on CHECK_SAMPLE), not equal, so it has its own name
    and so its own index. Activations are quantized per batch, so a text's vector also moves a
    little with the texts batched beside it (the check covers batched and alone)."""

    name = MINILM_INT8_NAME

    @staticmethod
    def _model(weights: Path, models_path: Path, threads: int) -> Path:
        return onnx_int8_model(weights, models_path, threads)


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


@dataclass(frozen=True)
class _Kind:
    """One model file of the folder: its name, its check record, its hash stamp, its threshold."""

    file: str
    check: str
    stamp: str
    min_cosine: float
    what: str  # for messages
    instead: str  # the backend a refusal suggests


_FP32 = _Kind("model.onnx", "check.json", ".model-verified", MIN_COSINE, "the ONNX export", "torch")
_INT8 = _Kind(
    "model-int8.onnx", "check-int8.json", ".model-int8-verified", MIN_COSINE_INT8, "the int8 ONNX model", "onnx"
)


def _refused(folder: Path, worst: float, kind: _Kind = _FP32) -> ConfigError:
    return ConfigError(
        f"{kind.what} of all-MiniLM-L6-v2 in {folder} does not match the torch model (worst cosine "
        f"{worst:.6f} < {kind.min_cosine}); set MMCREW_EMBEDDER_BACKEND={kind.instead}"
    )


def _checked(folder: Path, kind: _Kind = _FP32, made_from: dict | None = None) -> bool:
    """True when ``kind.file`` is the file that passed the check; False when it must be made
    (never made, interrupted, the file changed since, or its record's ``made_from`` entries differ:
    another source model or recipe); ``ConfigError`` when it failed the check."""
    model = folder / kind.file
    try:
        record = json.loads((folder / kind.check).read_text())
        sha, passed, worst = str(record["sha256"]), bool(record["passed"]), float(record["worst_cosine"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if any(record.get(k) != v for k, v in (made_from or {}).items()):
        return False
    try:
        if pinned_sha256(model, sha, folder / kind.stamp) != sha:
            return False  # truncated or damaged since it was checked: make it again
    except OSError:
        return False
    if not passed:
        raise _refused(folder, worst, kind)
    return True


def _made_once(folder: Path, ready: Callable[[], bool], make: Callable[[], None], instead: str) -> None:
    """``make()`` under the folder's export lock unless ``ready()``; a process that finds the lock
    held waits for the holder (up to EXPORT_WAIT), then uses what it made."""
    if ready():
        return
    try:
        ensure_dir(folder)
    except ConfigError as e:
        raise ConfigError(f"{e} (or set MMCREW_EMBEDDER_BACKEND={instead})") from None
    lock = PidLock(folder / "export.lock")
    deadline = time.monotonic() + EXPORT_WAIT
    while not lock.acquire():  # another process is exporting: wait for it, then use its model
        if time.monotonic() > deadline:
            raise ConfigError(
                f"process {lock.holder} has been exporting the ONNX embedder into {folder} for "
                f"{EXPORT_WAIT:.0f} s; wait for it, or set MMCREW_EMBEDDER_BACKEND={instead}"
            )
        time.sleep(0.5)
    try:
        if not ready():
            make()
    finally:
        lock.release()


def onnx_model(weights: Path, models_path: Path, threads: int) -> Path:
    """The checked ``model.onnx`` for ``weights``, exported (under a lock) when there is none yet."""
    folder = onnx_folder(models_path)
    _made_once(folder, lambda: _checked(folder), lambda: _export_and_check(weights, folder, threads), "torch")
    return folder / "model.onnx"


def onnx_int8_model(weights: Path, models_path: Path, threads: int) -> Path:
    """The checked ``model-int8.onnx``: quantized (under the same lock) from the checked fp32
    ``model.onnx`` beside it, which is exported first when there is none yet."""
    source = onnx_model(weights, models_path, threads)
    folder = source.parent
    made_from = {"source_sha256": json.loads((folder / _FP32.check).read_text())["sha256"], "quantization": INT8_QUANT}
    _made_once(
        folder,
        lambda: _checked(folder, _INT8, made_from),
        lambda: _quantize_and_check(weights, folder, source, made_from, threads),
        "onnx",
    )
    return folder / _INT8.file


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
        _write_atomic(folder / "check.json", _check_record(sha, worst, MIN_COSINE))
    finally:
        raw.unlink(missing_ok=True)
        fused.unlink(missing_ok=True)
    if worst < MIN_COSINE:
        raise _refused(folder, worst)


def _check_record(sha: str, worst: float, minimum: float, made_from: dict | None = None) -> str:
    """The check file's text: the model's SHA-256, the worst cosine against torch and the threshold, and what
    the model was made from and with."""
    record = {
        "sha256": sha,
        "passed": worst >= minimum,
        "worst_cosine": worst,
        "min_cosine": minimum,
        "sentences": len(CHECK_SAMPLE),
        **(made_from or {}),
        "weights_sha256": MINILM_SHA256,
        "export": ONNX_EXPORT,
        "torch": _version("torch"),
        "onnxruntime": _version("onnxruntime"),
        "checked_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return json.dumps(record, indent=1) + "\n"


def _quantize_and_check(weights: Path, folder: Path, source: Path, made_from: dict, threads: int) -> None:
    for stale in folder.glob(".part-*"):  # left by an export or quantization that was killed (we hold the lock)
        stale.unlink(missing_ok=True)
    part = folder / f".part-{os.getpid()}-{_INT8.file}"
    try:
        _quantize(source, part)
        worst = _check(weights, part, threads)
        _fsync(part)
        sha = file_sha256(part)
        os.replace(part, folder / _INT8.file)
        remember_sha256(folder / _INT8.file, sha, folder / _INT8.stamp)
        _write_atomic(folder / _INT8.check, _check_record(sha, worst, MIN_COSINE_INT8, made_from))
    finally:
        part.unlink(missing_ok=True)
    if worst < MIN_COSINE_INT8:
        raise _refused(folder, worst, _INT8)


class _NoPreprocessAdvice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Please consider to run pre-processing")


def _quantize(src: Path, dst: Path) -> None:
    """``src`` with int8 weights (see INT8_QUANT) into ``dst``."""
    try:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        raise ConfigError(
            "MMCREW_EMBEDDER_BACKEND=onnx-int8 needs onnx and onnxruntime.quantization; run `make setup`, "
            "or set MMCREW_EMBEDDER_BACKEND=onnx"
        ) from None
    # handed over loaded: the quantizer's shape inference then writes its scratch copy in a temporary
    # folder, not beside the checked model
    model = onnx.load(str(src))
    advice = _NoPreprocessAdvice()  # quantize_dynamic logs it on the root logger at every call
    root = logging.getLogger()
    root.addFilter(advice)
    try:
        quantize_dynamic(
            model,
            str(dst),
            op_types_to_quantize=["MatMul", "Attention"],  # the embedding tables stay fp32 (a lookup, no compute)
            per_channel=True,
            reduce_range=False,
            weight_type=QuantType.QInt8,
            # the fused graph's com.microsoft ops defeat onnx shape inference: their outputs are fp32
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        root.removeFilter(advice)


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
