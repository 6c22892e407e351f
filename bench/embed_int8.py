"""The int8 ONNX Runtime embedder (MMCREW_EMBEDDER_BACKEND=onnx-int8) against the fp32 one (onnx): speed,
and whether retrieval is the same. The project keeps int8 out of the default unless its retrieval
quality is measured equal; this is that measurement.

  speed    the chunks ingestion would embed (the PDFs of the knowledge folder and of the Northwind
           set, read and cut by the project's loader and chunker, as in bench/embed_backends.py),
           each backend the way ingestion calls it (64 chunks per call); the backends alternate and
           which goes first swaps every round. Printed: texts/s per round, the median ratio
           int8/fp32, and the lowest and median cosine between the two backends' vectors per chunk.
  quality  per question set and backend, a fresh MMCREW_HOME under a temporary folder: the set's
           PDFs ingested with ``knowledge.ingest.ingest`` (seconds, the embedder loaded and warm
           before; which backend ingests first swaps between sets), then retrieval only, as
           ``mmcrew eval rag --retrieval-only`` does it (``evals.rag.run_eval(retrieval_only=True)``,
           hybrid search, top 5, the question as asked). Printed per set: gold page in the top 5 for
           fp32 and int8 (answerable questions), the questions only one of them finds, how many
           questions (all) get the identical top-5 list (file, page, in order) from both, and each
           backend's ingestion seconds and chunks.

  sets     northwind  ../shared/data/rag/northwind/qa.jsonl (182) over the two Northwind PDFs
           sec        bench/data/rag/sec/sec_dev.jsonl + zh_dev.jsonl (58) over the twelve 10-Q
                      filings in ../shared/data/rag/sec10q/ and the two Northwind PDFs

Both models come from $MMCREW_MODELS_DIR/minilm-onnx/ (the int8 one is quantized from the fp32 one
and checked there on first use; see knowledge/onnx_embedder.py). Threads: MMCREW_N_THREADS (0: one
per core), as in the app. --quick is a smoke run of this script: 2 rounds over at most 64 chunks,
every PDF (for the speed part: the Northwind ones) cut to its first 4 pages, and only the questions
whose gold page is among them (plus two without an answer per file); its figures measure nothing.

    python bench/embed_int8.py [--rounds 3] [--limit N] [--skip-speed] [--skip-quality] [--keep] [--quick]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "rag"
NORTHWIND = sorted((DATA / "northwind").glob("*.pdf"))
SETS = {
    "northwind": ([DATA / "northwind" / "qa.jsonl"], NORTHWIND),
    "sec": (
        [
            ROOT / "bench" / "data" / "rag" / "sec" / "sec_dev.jsonl",
            ROOT / "bench" / "data" / "rag" / "sec" / "zh_dev.jsonl",
        ],
        sorted((DATA / "sec10q").glob("*.pdf")) + NORTHWIND,
    ),
}
BACKENDS = ("onnx", "onnx-int8")
QUICK_PAGES = 4

from bench.embed_backends import DEFAULT_DOCS, chunk_texts, embed_all  # noqa: E402


def configure(home: Path, backend: str):
    """Settings for a local store in ``home`` on ``backend`` (the process-wide ones: run_eval reads them)."""
    os.environ["MMCREW_HOME"] = str(home)
    os.environ["MMCREW_EMBEDDER_BACKEND"] = backend
    os.environ["MMCREW_EMBEDDER"] = "embedded"
    for key in ("MMCREW_DATABASE_URL", "MMCREW_CHROMA_URL"):
        os.environ.pop(key, None)
    from multimodal_crew.settings import get_settings

    return get_settings(refresh=True)


def speed(args, s) -> None:
    from multimodal_crew.knowledge.onnx_embedder import OnnxInt8MiniLMEmbedder, OnnxMiniLMEmbedder

    texts, pdfs, pages = chunk_texts(args.docs, s.chunk_size, s.chunk_overlap)
    if args.limit:
        texts = texts[: args.limit]
    if not texts:
        raise SystemExit(f"no PDF text in {', '.join(map(str, args.docs))}")
    loads = {}
    backends = {}
    for name, cls in (("fp32", OnnxMiniLMEmbedder), ("int8", OnnxInt8MiniLMEmbedder)):
        t = time.perf_counter()
        backends[name] = cls(s.threads, s.models_path)
        loads[name] = time.perf_counter() - t  # includes an export / quantization and its check when there was none
    for emb in backends.values():
        emb.embed(texts[:8])  # warm up
    chars = sum(map(len, texts))
    print(
        f"speed: {len(texts)} chunks ({chars / len(texts):.0f} chars on average) from {pdfs} PDFs, {pages} pages; "
        f"{s.threads} threads; load average at start {os.getloadavg()[0]:.2f}"
    )
    print(f"load (s): fp32 {loads['fp32']:.1f} ({backends['fp32'].model_path}), int8 {loads['int8']:.1f} "
          f"({backends['int8'].model_path.name}, {backends['int8'].model_path.stat().st_size / 1e6:.0f} MB vs "
          f"{backends['fp32'].model_path.stat().st_size / 1e6:.0f} MB)")  # fmt: skip
    rate: dict[str, list[float]] = {"fp32": [], "int8": []}
    cos = None
    for r in range(args.rounds):
        order = ("fp32", "int8") if r % 2 == 0 else ("int8", "fp32")
        vecs = {}
        for name in order:
            seconds, vecs[name] = embed_all(backends[name], texts)
            rate[name].append(len(texts) / seconds)
        cos = (vecs["fp32"] * vecs["int8"]).sum(axis=1)
        print(f"round {r + 1}: fp32 {rate['fp32'][-1]:6.1f} texts/s, int8 {rate['int8'][-1]:6.1f} texts/s", flush=True)
    med = {k: statistics.median(v) for k, v in rate.items()}
    ratios = [i / f for i, f in zip(rate["int8"], rate["fp32"], strict=True)]
    print(f"median: fp32 {med['fp32']:.1f} texts/s, int8 {med['int8']:.1f} texts/s")
    print(f"int8/fp32: {statistics.median(ratios):.2f}x (rounds: {', '.join(f'{x:.2f}' for x in ratios)})")
    print(f"cosine fp32 vs int8 over {len(texts)} chunks: min {cos.min():.4f}, median {np.median(cos):.4f}")


def cut(pdfs: list[Path], folder: Path, pages: int) -> list[Path]:
    """Copies of ``pdfs`` (same names) with their first ``pages`` pages only: page numbers are kept."""
    import pymupdf

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for p in pdfs:
        with pymupdf.open(p) as doc:
            doc.select(list(range(min(pages, doc.page_count))))
            doc.save(folder / p.name)
        out.append(folder / p.name)
    return out


def questions(files: list[Path], pages: int) -> list[dict]:
    from multimodal_crew.evals.rag import load_questions

    items = []
    for f in files:
        got = load_questions(f)
        if pages:  # --quick: the questions these pages can answer, and two without an answer
            got = [q for q in got if any(p <= pages for _, p in q["gold"])] + [q for q in got if not q["gold"]][:2]
        items.extend(got)
    return items


def quality(args, tmp: Path) -> None:
    from multimodal_crew.evals.rag import run_eval
    from multimodal_crew.knowledge.embedder import get_embedder
    from multimodal_crew.knowledge.ingest import ingest

    pages = QUICK_PAGES if args.quick else 0
    for n, (set_name, (qfiles, pdfs)) in enumerate(SETS.items()):
        if pages:
            pdfs = cut(pdfs, tmp / "quick" / set_name, pages)
        items = questions(qfiles, pages)
        answerable = sum(q["answerable"] for q in items)
        result = {}
        order = BACKENDS if n % 2 == 0 else BACKENDS[::-1]
        for backend in order:
            s = configure(tmp / f"{set_name}-{backend}", backend)
            emb = get_embedder(s)
            emb.embed(["warm up the embedder"])
            t = time.perf_counter()
            report = ingest(pdfs, settings=s, embedder=emb)
            seconds = time.perf_counter() - t
            assert not report.failed, report.failed
            ev = run_eval(items, retrieval_only=True)
            result[backend] = (ev, seconds, report.chunks_embedded, emb.name)
            print(f"  {set_name} {backend}: ingested {len(pdfs)} PDFs, {report.chunks_embedded} chunks in "
                  f"{seconds:.1f} s ({emb.name}); retrieval done", flush=True)  # fmt: skip
        (ev32, s32, c32, n32), (ev8, s8, c8, n8) = result["onnx"], result["onnx-int8"]
        assert n32 != n8, "the two backends wrote into one index"
        rows32, rows8 = ev32["rows"], ev8["rows"]
        g32, g8 = ev32["summary"]["gold_in_top5"], ev8["summary"]["gold_in_top5"]
        same = sum(a["top5"] == b["top5"] for a, b in zip(rows32, rows8, strict=True))
        same_pages = sum(
            set(map(tuple, a["top5"])) == set(map(tuple, b["top5"])) for a, b in zip(rows32, rows8, strict=True)
        )
        only32 = [
            a["question"] for a, b in zip(rows32, rows8, strict=True) if a["gold_in_top5"] and not b["gold_in_top5"]
        ]
        only8 = [
            a["question"] for a, b in zip(rows32, rows8, strict=True) if b["gold_in_top5"] and not a["gold_in_top5"]
        ]
        print(f"{set_name}: {len(items)} questions ({answerable} answerable) over {len(pdfs)} PDFs "
              f"({', '.join(f.name for f in qfiles)})")  # fmt: skip
        print(f"  gold in top 5: fp32 {g32['count']}/{g32['n']}, int8 {g8['count']}/{g8['n']} "
              f"(found by fp32 only: {len(only32)}, by int8 only: {len(only8)})")  # fmt: skip
        print(f"  identical top-5 list: {same}/{len(items)} questions (same five pages in any order: {same_pages})")
        print(f"  ingestion: fp32 {s32:.1f} s ({c32} chunks), int8 {s8:.1f} s ({c8} chunks), int8/fp32 {s8 / s32:.2f}")
        for q in only32[:5]:
            print(f"    fp32 only: {q[:100]}")
        for q in only8[:5]:
            print(f"    int8 only: {q[:100]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--docs", type=Path, nargs="+", default=DEFAULT_DOCS, help="folders whose PDFs the speed part embeds"
    )
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--limit", type=int, default=0, help="speed: embed only the first N chunks (0: all)")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the temporary homes (their path is printed)")
    ap.add_argument("--quick", action="store_true", help=f"a smoke run: 64 chunks, 2 rounds, first {QUICK_PAGES} pages")
    args = ap.parse_args()
    if args.quick:
        args.limit, args.rounds = args.limit or 64, min(args.rounds, 2)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from multimodal_crew.settings import get_settings

    s = get_settings()
    # the models stay where they are when MMCREW_HOME moves to the temporary homes below
    os.environ["MMCREW_MODELS_DIR"] = str(s.models_path)
    tmp = Path(tempfile.mkdtemp(prefix="mmcrew-bench-int8-"))
    try:
        if args.quick and args.docs == DEFAULT_DOCS:  # reading every page would be most of a smoke run
            args.docs = [cut(NORTHWIND, tmp / "quick" / "speed", QUICK_PAGES)[0].parent]
        if not args.skip_speed:
            speed(args, s)
        if not args.skip_quality:
            print(f"quality: homes under {tmp}; {s.threads} threads; load average {os.getloadavg()[0]:.2f}", flush=True)
            quality(args, tmp)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
