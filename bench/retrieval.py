"""Retrieval latency (hybrid BM25 + vector, RRF) at Northwind scale and at ~100,000 chunks.

  northwind   the two Northwind PDFs; every question of qa.jsonl, timed one by one
  scale       the twelve SEC 10-Q filings ingested once, then copies of them under other names
              until the store holds --target chunks. A copy's vectors are reused from the
              first ingestion (same content hash), so building the store does not take hours of
              embedding; every copy is still a separate document with its own chunks, vectors
              and BM25 postings. Queried with the same questions plus finance questions.

Latency includes embedding the query, the Chroma query, BM25 scoring, fusion and
fetching the chunk text. p50/p95 over all queries, after one warm-up query.

    python bench/retrieval.py [--target 100000] [--skip-scale]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "rag"

FINANCE = [
    "What was Apple's total net sales in the quarter?",
    "Amazon operating income North America segment",
    "NVIDIA data center revenue growth",
    "risk factors related to supply chain",
    "share repurchase program authorization",
    "cash and cash equivalents at the end of the period",
    "gross margin percentage compared to the prior year",
    "foreign currency exchange rate impact",
    "legal proceedings and contingencies",
    "effective tax rate for the quarter",
]


def timed(retriever, queries: list[str]) -> list[float]:
    retriever.search(queries[0], 5)
    out = []
    for q in queries:
        t = time.perf_counter()
        retriever.search(q, 5)
        out.append((time.perf_counter() - t) * 1000)
    return out


def setup(home: Path):
    os.environ["MMCREW_HOME"] = str(home)
    from multimodal_crew.knowledge.ingest import open_store
    from multimodal_crew.knowledge.retrieval import Retriever
    from multimodal_crew.settings import get_settings

    s = get_settings(refresh=True)
    return s, open_store(s), Retriever


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", type=int, default=100_000)
    ap.add_argument("--skip-scale", action="store_true")
    args = ap.parse_args()
    import multimodal_crew  # noqa: F401
    from multimodal_crew.evals.stats import percentile as pct
    from multimodal_crew.knowledge.ingest import ingest

    tmp = Path(tempfile.mkdtemp(prefix="mmcrew-bench-retrieval-"))
    questions = [json.loads(line)["question"] for line in (DATA / "northwind" / "qa.jsonl").open()]

    s, store, Retriever = setup(tmp / "northwind")
    ingest(sorted((DATA / "northwind").glob("*.pdf")), settings=s, store=store)
    lat = timed(Retriever(store, settings=s), questions)
    print(f"northwind: {store.n_chunks()} chunks, {len(lat)} queries: "
          f"p50 {statistics.median(lat):.1f} ms, p95 {pct(lat, 0.95):.1f} ms")  # fmt: skip
    store.close()
    if args.skip_scale:
        return

    s, store, Retriever = setup(tmp / "scale")
    src = sorted((DATA / "sec10q").glob("*.pdf"))
    t = time.perf_counter()
    first = ingest(src, settings=s, store=store)
    per_set = store.n_chunks()
    print(f"sec10q: {len(src)} filings, {per_set} chunks embedded in {time.perf_counter() - t:.0f} s")
    copies = tmp / "copies"
    copies.mkdir()
    n = 0
    t = time.perf_counter()
    while store.n_chunks() + per_set <= args.target or n == 0:
        folder = copies / f"set{n:03d}"
        folder.mkdir()
        for p in src:
            shutil.copy(p, folder / f"copy{n:03d} {p.name}")
        ingest([folder], settings=s, store=store)
        n += 1
        if n % 5 == 0:
            print(f"  {n} copies, {store.n_chunks()} chunks, {time.perf_counter() - t:.0f} s", flush=True)
    assert first.chunks_embedded == per_set
    lat = timed(Retriever(store, settings=s), questions[:50] + FINANCE * 5)
    print(f"scale: {store.n_chunks()} chunks in {len(store.docs())} documents ({n} copies, built in "
          f"{time.perf_counter() - t:.0f} s), {len(lat)} queries: "
          f"p50 {statistics.median(lat):.1f} ms, p95 {pct(lat, 0.95):.1f} ms")  # fmt: skip
    store.close()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
