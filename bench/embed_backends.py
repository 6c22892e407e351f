"""Embedding speed: the torch and the ONNX Runtime backend of all-MiniLM-L6-v2, same chunks, one run.

The texts are the chunks ingestion would embed: the PDFs of the knowledge folder and of the
Northwind set, read and cut by the project's own loader and chunker (MMCREW_CHUNK_SIZE /
_OVERLAP). Each backend embeds them the way ingestion calls it (64 chunks per call, in document
order); the backends alternate, and which one goes first swaps every round. Printed: texts/s per
round and backend, the median ratio onnx/torch, and the lowest cosine between the two backends'
vectors for the same chunk.

Both models are loaded (and the ONNX model exported, once, into $MMCREW_MODELS_DIR/minilm-onnx/)
before anything is timed. Threads: MMCREW_N_THREADS (0: one per core), as in the app.

    python bench/embed_backends.py [--rounds 3] [--limit N] [--docs DIR ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DOCS = [ROOT / "knowledge", ROOT.parent / "shared" / "data" / "rag" / "northwind"]
CALL = 64  # chunks per embed() call, as ingest.py sends them


def chunk_texts(folders: list[Path], size: int, overlap: int) -> tuple[list[str], int, int]:
    """(chunk texts, PDFs, pages) of every PDF in ``folders``, with the project's loader and chunker."""
    from multimodal_crew.knowledge.loaders import load_document
    from multimodal_crew.knowledge.text import chunk_page

    texts: list[str] = []
    pdfs = pages = 0
    for folder in folders:
        for path in sorted(folder.glob("*.pdf")):
            doc = load_document(path)
            pdfs += 1
            pages += len(doc.pages)
            texts.extend(span.text for page in doc.pages for span in chunk_page(page.text, size, overlap))
    return texts, pdfs, pages


def embed_all(embedder, texts: list[str]) -> tuple[float, np.ndarray]:
    t = time.perf_counter()
    vecs = [embedder.embed(texts[i : i + CALL]) for i in range(0, len(texts), CALL)]
    return time.perf_counter() - t, np.concatenate(vecs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=Path, nargs="+", default=DEFAULT_DOCS, help="folders whose PDFs are embedded")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--limit", type=int, default=0, help="embed only the first N chunks (0: all)")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from multimodal_crew.knowledge.embedder import MiniLMEmbedder
    from multimodal_crew.knowledge.onnx_embedder import OnnxMiniLMEmbedder
    from multimodal_crew.settings import get_settings

    s = get_settings()
    texts, pdfs, pages = chunk_texts(args.docs, s.chunk_size, s.chunk_overlap)
    if args.limit:
        texts = texts[: args.limit]
    if not texts:
        raise SystemExit(f"no PDF text in {', '.join(map(str, args.docs))}")

    loads = {}
    t = time.perf_counter()
    backends = {"torch": MiniLMEmbedder(s.threads)}
    loads["torch"] = time.perf_counter() - t
    t = time.perf_counter()
    backends["onnx"] = OnnxMiniLMEmbedder(s.threads, s.models_path)
    loads["onnx"] = time.perf_counter() - t  # includes the export and its check when there was none yet
    for emb in backends.values():
        emb.embed(texts[:8])  # warm up

    chars = sum(map(len, texts))
    print(
        f"{len(texts)} chunks ({chars / len(texts):.0f} chars on average) from {pdfs} PDFs, {pages} pages; "
        f"{s.threads} threads; load average at start {os.getloadavg()[0]:.2f}"
    )
    print(f"load (s): torch {loads['torch']:.1f}, onnx {loads['onnx']:.1f} ({backends['onnx'].model_path})")
    speed: dict[str, list[float]] = {"torch": [], "onnx": []}
    worst = 1.0
    for r in range(args.rounds):
        order = ("torch", "onnx") if r % 2 == 0 else ("onnx", "torch")
        vecs = {}
        for name in order:
            seconds, vecs[name] = embed_all(backends[name], texts)
            speed[name].append(len(texts) / seconds)
        worst = min(worst, float((vecs["torch"] * vecs["onnx"]).sum(axis=1).min()))
        print(f"round {r + 1}: torch {speed['torch'][-1]:6.1f} texts/s, onnx {speed['onnx'][-1]:6.1f} texts/s")
    med = {k: statistics.median(v) for k, v in speed.items()}
    ratios = [o / t for o, t in zip(speed["onnx"], speed["torch"], strict=True)]
    print(f"median: torch {med['torch']:.1f} texts/s, onnx {med['onnx']:.1f} texts/s")
    print(f"onnx/torch: {statistics.median(ratios):.2f}x (rounds: {', '.join(f'{x:.2f}' for x in ratios)})")
    print(f"min cosine torch vs onnx over {len(texts)} chunks: {worst:.7f}")


if __name__ == "__main__":
    main()
