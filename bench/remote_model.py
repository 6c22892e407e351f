"""`ask` on the embedded model vs the same GGUF behind llama.cpp's OpenAI-compatible server, one run.

Starts ``python -m llama_cpp.server`` on the embedded model's GGUF (tests/servers.py) as a stand-in
for vLLM or any OpenAI-compatible server, ingests the project's sample knowledge folder once, then
asks each question twice, alternating: ``MODEL=embedded`` (llama.cpp in process, schema by grammar)
and ``MODEL=openai/<alias>`` with ``MMCREW_API_BASE`` = the server (schema by the server's
``json_object`` + schema, from the capability table). Only one model works at a time.

Prints per question whether the answer text, the abstention and the citations (file, page, quote)
are the same, and the p50 of each and their ratio (the server's overhead: HTTP, JSON, a second
process).

    python bench/remote_model.py [--questions 10]
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


def ask(question: str, settings, retriever) -> tuple[dict, float]:
    from multimodal_crew.flows import run_flow
    from multimodal_crew.models.runtime import get_runtime

    t = time.perf_counter()
    result = run_flow("ask", {"question": question}, model=get_runtime(settings), settings=settings, retriever=retriever)
    took = time.perf_counter() - t
    d = result.data or {}
    cites = [(c["file"], c["page"], c["quote"]) for c in d.get("citations", [])]
    return {"answer": d.get("answer", ""), "abstained": d.get("abstained"), "citations": cites}, took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", type=int, default=10)
    args = ap.parse_args()
    os.environ.setdefault("MMCREW_MODELS_DIR", str(ROOT / ".mmcrew" / "models"))
    tmp = Path(tempfile.mkdtemp(prefix="mmcrew-bench-remote-"))
    os.environ["MMCREW_HOME"] = str(tmp / "home")
    import multimodal_crew  # noqa: F401
    from multimodal_crew.knowledge.ingest import ingest_if_empty
    from multimodal_crew.knowledge.retrieval import get_retriever
    from multimodal_crew.models.weights import model_file
    from multimodal_crew.settings import get_settings
    from tests.servers import LlamaServer

    base = get_settings(refresh=True)
    data = ROOT / "bench" / "data" / "rag"
    qs = [json.loads(x)["question"] for x in (data / "sample_qa.jsonl").open()]
    qs += [json.loads(x)["question"] for x in (data / "sample_unanswerable.jsonl").open()]
    qs = qs[: args.questions]
    alias = base.embedded_model
    server = LlamaServer(model_file(alias, base.models_path), alias=alias, n_ctx=base.n_ctx, n_threads=base.threads)
    server.start()
    print(f"llama_cpp.server on {server.url} ({alias}, n_ctx {base.n_ctx}, {base.threads} threads)", flush=True)
    try:
        embedded = base
        os.environ.update({"MODEL": f"openai/{alias}", "MMCREW_API_BASE": server.url,
                           "MMCREW_MODEL_CAPABILITIES": json.dumps({"json_schema": "json_object"})})  # fmt: skip
        remote = get_settings(refresh=True)
        for key in ("MODEL", "MMCREW_API_BASE", "MMCREW_MODEL_CAPABILITIES"):
            os.environ.pop(key)
        get_settings(refresh=True)  # what reads the settings itself sees the embedded ones
        retriever = get_retriever(embedded)
        ingest_if_empty(retriever.store, embedded)
        ask(qs[0], embedded, retriever)  # warm both: the embedded model's load, the server's first prompt
        ask(qs[0], remote, retriever)
        rows = []
        for q in qs:
            e, te = ask(q, embedded, retriever)
            r, tr = ask(q, remote, retriever)
            rows.append((q, e, te, r, tr))
            same = "same" if e == r else ("same citations" if e["citations"] == r["citations"] else "DIFFERENT")
            print(f"{te:6.1f} s embedded  {tr:6.1f} s server  {same:15}  {q[:70]}", flush=True)
            if e != r:
                print(f"    embedded: {e}\n    server:   {r}", flush=True)
        te = [x[2] for x in rows]
        tr = [x[4] for x in rows]
        n = len(rows)
        print(f"same answer, abstention and citations: {sum(x[1] == x[3] for x in rows)}/{n}; "
              f"same citations: {sum(x[1]['citations'] == x[3]['citations'] for x in rows)}/{n}; "
              f"same abstention: {sum(x[1]['abstained'] == x[3]['abstained'] for x in rows)}/{n}")  # fmt: skip
        print(f"p50 embedded {statistics.median(te):.2f} s, server {statistics.median(tr):.2f} s, "
              f"ratio server/embedded {statistics.median(tr) / statistics.median(te):.3f} "
              f"(median of per-question ratios {statistics.median(b / a for a, b in zip(te, tr, strict=True)):.3f})")  # fmt: skip
    finally:
        server.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
