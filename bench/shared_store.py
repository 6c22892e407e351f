"""The knowledge store on one machine vs on shared servers (PostgreSQL + a Chroma server), one run.

Starts a PostgreSQL and a Chroma server on loopback (tests/servers.py: the Debian package's
PostgreSQL, ``chroma run``), then, with the same warm embedder for both:

  ingest    the two Northwind PDFs + the twelve SEC 10-Q filings into a fresh local store (SQLite
            catalog, Chroma folder) and into a fresh shared store; seconds and the ratio
  search    p50/p95 of a hybrid search (query embedding, Chroma, BM25, fusion, chunk texts) over
            the Northwind questions, local vs shared, at that size
  scale     copies of the filings under other names into the shared store until it holds
            --target chunks (a copy's vectors are reused from its twin: same content hash), then
            the same search p50/p95 through the servers; with --local-scale the local store too
  keyword   at that size, the two ways to keep the keyword side the same on every machine:
            (a) rebuild the BM25 index from the shared catalog when its generation changes (the
            design: seconds per rebuild, then in-memory queries), and (b) PostgreSQL full-text
            search (a generated tsvector column with a GIN index, OR of the query's terms ranked
            by ts_rank): build seconds and query p50/p95, beside BM25's query p50/p95

    python bench/shared_store.py [--target 100000] [--local-scale] [--skip-scale]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "rag"

from bench.retrieval import FINANCE  # noqa: E402


def pct(xs: list[float], q: float) -> float:
    from multimodal_crew.evals.stats import percentile

    return percentile(xs, q)


def timed(fn, queries: list[str]) -> list[float]:
    fn(queries[0])
    out = []
    for q in queries:
        t = time.perf_counter()
        fn(q)
        out.append((time.perf_counter() - t) * 1000)
    return out


def show(what: str, lat: list[float]) -> str:
    return f"{what}: p50 {statistics.median(lat):.1f} ms, p95 {pct(lat, 0.95):.1f} ms ({len(lat)} queries)"


def configure(home: Path, shared: dict | None, namespace: str):
    os.environ["MMCREW_HOME"] = str(home)
    os.environ["MMCREW_NAMESPACE"] = namespace
    for key in ("MMCREW_DATABASE_URL", "MMCREW_CHROMA_URL"):
        os.environ.pop(key, None)
    os.environ.update(shared or {})
    from multimodal_crew.knowledge.ingest import open_store
    from multimodal_crew.settings import get_settings

    s = get_settings(refresh=True)
    return s, open_store(s)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", type=int, default=100_000)
    ap.add_argument("--skip-scale", action="store_true")
    ap.add_argument("--local-scale", action="store_true", help="grow the local store to --target too")
    ap.add_argument("--quick", action="store_true", help="a check of this script: 3 filings, 20 questions")
    args = ap.parse_args()
    os.environ.setdefault("MMCREW_MODELS_DIR", str(ROOT / ".mmcrew" / "models"))
    import multimodal_crew  # noqa: F401
    from multimodal_crew.knowledge.embedder import get_embedder
    from multimodal_crew.knowledge.ingest import ingest
    from multimodal_crew.knowledge.retrieval import Retriever
    from tests.servers import ChromaServer, PostgresServer

    tmp = Path(tempfile.mkdtemp(prefix="mmcrew-bench-shared-"))
    pg, chroma = PostgresServer().start(), ChromaServer().start()
    shared = {"MMCREW_DATABASE_URL": pg.url, "MMCREW_CHROMA_URL": chroma.url}
    print(f"servers: PostgreSQL {pg.url.split('@')[1]}, Chroma {chroma.url}", flush=True)
    try:
        s, _ = configure(tmp / "warm", None, "warm")
        emb = get_embedder(s)
        emb.embed(["warm up the embedder"])
        pdfs = sorted((DATA / "northwind").glob("*.pdf")) + sorted((DATA / "sec10q").glob("*.pdf"))
        questions = [json.loads(line)["question"] for line in (DATA / "northwind" / "qa.jsonl").open()]
        if args.quick:
            pdfs, questions = sorted((DATA / "sec10q").glob("*.pdf"))[:3], questions[:20]

        stores = {}
        secs = {}
        for kind in ("local", "shared"):
            s, store = configure(tmp / kind, shared if kind == "shared" else None, "bench")
            t = time.perf_counter()
            r = ingest(pdfs, settings=s, store=store, embedder=emb)
            secs[kind] = time.perf_counter() - t
            assert not r.failed, r.failed
            stores[kind] = (s, store)
            print(f"ingest {kind}: {len(pdfs)} PDFs, {store.n_chunks()} chunks in {secs[kind]:.1f} s", flush=True)
        print(f"ingest ratio shared/local: {secs['shared'] / secs['local']:.3f}", flush=True)

        lat = {}
        for kind, (s, store) in stores.items():
            ret = Retriever(store, embedder=emb, settings=s)
            lat[kind] = timed(lambda q, ret=ret: ret.search(q, 5), questions)
            print(show(f"search {kind} at {store.n_chunks()} chunks", lat[kind]), flush=True)
        # two Chroma indexes built apart (a folder, a server) are two approximate HNSW graphs: their far
        # neighbours may differ; machines sharing one server query one graph (tests/multi: identical)
        same = sum(
            [h.chunk_id for h in Retriever(stores["local"][1], embedder=emb).search(q, 5)]
            == [h.chunk_id for h in Retriever(stores["shared"][1], embedder=emb).search(q, 5)]
            for q in questions[:40]
        )
        print(f"local and shared stores give the same top 5 for {same} of the first 40 questions", flush=True)
        if args.skip_scale:
            return

        sec = [p for p in pdfs if p.parent.name == "sec10q"]
        grow = ["shared"] + (["local"] if args.local_scale else [])
        for kind in grow:
            s, store = stores[kind]
            n, t = 0, time.perf_counter()
            per_set = sum(d.n_chunks for d in store.docs() if d.file.endswith(tuple(p.name for p in sec)))
            while store.n_chunks() + per_set <= args.target:
                folder = tmp / f"copies-{kind}" / f"set{n:03d}"
                folder.mkdir(parents=True)
                for p in sec:
                    os.link(p, folder / f"copy{n:03d} {p.name}")  # another path, the same bytes
                ingest([folder], settings=s, store=store, embedder=emb)
                n += 1
                if n % 5 == 0:
                    print(f"  {kind}: {n} copies, {store.n_chunks()} chunks, {time.perf_counter() - t:.0f} s", flush=True)
            print(f"scale {kind}: {store.n_chunks()} chunks in {len(store.docs())} documents, built in "
                  f"{time.perf_counter() - t:.0f} s", flush=True)  # fmt: skip
            ret = Retriever(store, embedder=emb, settings=s)
            queries = questions[:50] + FINANCE * 5
            lat = timed(lambda q, ret=ret: ret.search(q, 5), queries)
            print(show(f"search {kind} at {store.n_chunks()} chunks", lat), flush=True)

        s, store = stores["shared"]
        keyword_side(store, questions[:50] + FINANCE * 5)
    finally:
        for kind in ("local", "shared"):
            try:
                stores[kind][1].close()
            except Exception:  # noqa: BLE001
                pass
        pg.close()
        chroma.close()
        shutil.rmtree(tmp, ignore_errors=True)


def keyword_side(store, queries: list[str]) -> None:
    """(a) BM25 rebuilt from the shared catalog vs (b) PostgreSQL full-text search, at the store's size."""
    from multimodal_crew.knowledge.retrieval import Retriever
    from multimodal_crew.knowledge.text import tokenize

    n = store.n_chunks()
    t = time.perf_counter()
    store.keywords.forget()
    shutil.rmtree(store.root / "bm25", ignore_errors=True)
    store.bm25()
    rebuild = time.perf_counter() - t
    t = time.perf_counter()
    rows = store._keyword_rows()
    read = time.perf_counter() - t
    ret = Retriever(store)
    bm = timed(lambda q: ret.keyword(q, 30), queries)
    print(f"keyword (a) BM25 from the shared catalog at {n} chunks: rebuild {rebuild:.1f} s "
          f"(of which reading the rows {read:.1f} s), " + show("query", bm), flush=True)  # fmt: skip
    del rows

    db = store._db
    t = time.perf_counter()
    db.run("ALTER TABLE chunks ADD COLUMN IF NOT EXISTS tsv tsvector "
           "GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED")  # fmt: skip
    db.run("CREATE INDEX IF NOT EXISTS chunks_tsv ON chunks USING GIN (tsv)")
    build = time.perf_counter() - t

    def fts(q: str):
        terms = [t.replace("'", "") for t in tokenize(q) if t.isalnum()]
        if not terms:
            return []
        query = " | ".join(dict.fromkeys(terms))
        return db.all(
            "SELECT chunk_id FROM chunks, to_tsquery('simple', ?) q WHERE tsv @@ q "
            "ORDER BY ts_rank(tsv, q) DESC LIMIT 30",
            (query,),
        )

    ft = timed(fts, queries)
    print(f"keyword (b) PostgreSQL full-text at {n} chunks: column + GIN index built in {build:.1f} s, "
          + show("query", ft), flush=True)  # fmt: skip
    db.run("DROP INDEX IF EXISTS chunks_tsv")
    db.run("ALTER TABLE chunks DROP COLUMN IF EXISTS tsv")


if __name__ == "__main__":
    main()
