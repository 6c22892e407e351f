"""Does a second machine answer like the first? Two "machines" sharing a real PostgreSQL and a real
Chroma server (tests/servers.py, on loopback), one run.

Machine A (its own MMCREW_HOME) ingests the project's knowledge folder (the Harbor Tower samples) into
the shared store. Then each machine, in a process of its own, loads the embedded model and its own
keyword index (rebuilt from the shared catalog), and asks the same questions: the sample questions
and the unanswerable ones. A asks first, then B, so only one model works at a time.

Prints, per question, whether B's answer text, abstention and citations (file, page, quote) are
the same as A's, then the counts, and each machine's p50 per question.

    python bench/second_machine.py [--questions 10]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT / "bench" / "data" / "rag"


def questions(n: int) -> list[str]:
    qs = [json.loads(x)["question"] for x in (DATA / "sample_qa.jsonl").open()]
    qs += [json.loads(x)["question"] for x in (DATA / "sample_unanswerable.jsonl").open()]
    return qs[:n]


def answer_all(out: Path, qs: list[str]) -> None:
    """One machine: ask every question in this process (warm after the first), write the results."""
    from multimodal_crew.flows import run_flow
    from multimodal_crew.knowledge.retrieval import get_retriever
    from multimodal_crew.models.runtime import get_runtime
    from multimodal_crew.settings import get_settings

    s = get_settings(refresh=True)
    retriever = get_retriever(s)
    rows = []
    for q in qs:
        t = time.perf_counter()
        r = run_flow("ask", {"question": q}, model=get_runtime(s), settings=s, retriever=retriever)
        took = time.perf_counter() - t
        d = r.data or {}
        cites = [(c["file"], c["page"], c["quote"]) for c in d.get("citations", [])]
        rows.append({"q": q, "answer": d.get("answer", ""), "abstained": d.get("abstained"), "citations": cites,
                     "status": r.status, "seconds": took})  # fmt: skip
        print(f"  {s.machine_name}: {took:5.1f} s  {r.status:9}  {q[:70]}", flush=True)
    out.write_text(json.dumps(rows, ensure_ascii=False))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", type=int, default=10)
    ap.add_argument("--as-machine", help=argparse.SUPPRESS)  # the per-machine process
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    qs = questions(args.questions)
    if args.as_machine:
        answer_all(Path(args.out), qs)
        return

    from tests.servers import ChromaServer, PostgresServer

    tmp = Path(tempfile.mkdtemp(prefix="mmcrew-bench-second-"))
    pg, chroma = PostgresServer(), ChromaServer()
    pg.start()
    chroma.start()
    try:
        models = os.environ.get("MMCREW_MODELS_DIR", str(ROOT / ".mmcrew" / "models"))
        shared = {"MMCREW_DATABASE_URL": pg.url, "MMCREW_CHROMA_URL": chroma.url, "MMCREW_NAMESPACE": "bench",
                  "MMCREW_MODELS_DIR": models, "MMCREW_KNOWLEDGE_DIR": str(ROOT / "knowledge")}  # fmt: skip
        envs = {}
        for name in ("a", "b"):
            env = {**os.environ, **shared, "MMCREW_HOME": str(tmp / f"home-{name}"), "MMCREW_MACHINE": name}
            env.pop("MODEL", None)
            envs[name] = env
        t = time.perf_counter()
        mmcrew = str(Path(sys.executable).with_name("mmcrew"))
        subprocess.run([mmcrew, "ingest"], env=envs["a"], check=True)
        print(f"machine a ingested {ROOT / 'knowledge'} into the shared store in {time.perf_counter() - t:.1f} s")
        results = {}
        for name in ("a", "b"):
            out = tmp / f"{name}.json"
            cmd = [sys.executable, __file__, "--questions", str(len(qs)), "--as-machine", name, "--out", str(out)]
            subprocess.run(cmd, env=envs[name], check=True)
            results[name] = json.loads(out.read_text())
        a, b = results["a"], results["b"]
        key = ("answer", "abstained", "citations")
        for x, y in zip(a, b, strict=True):
            same = all(x[k] == y[k] for k in key)
            print(f"{'same' if same else 'DIFFERENT':9}  {x['q'][:80]}")
            if not same:
                print(f"    a: {[x[k] for k in key]}\n    b: {[y[k] for k in key]}")
        n = len(a)
        print(f"second machine: same answer, abstention and citations {sum(all(x[k] == y[k] for k in key) for x, y in zip(a, b, strict=True))}/{n}; "
              f"same citations {sum(x['citations'] == y['citations'] for x, y in zip(a, b, strict=True))}/{n}; "
              f"answered (not abstained) {sum(not x['abstained'] for x in a)}/{n}")  # fmt: skip
        for name, rows in results.items():
            print(f"machine {name}: p50 {statistics.median(r['seconds'] for r in rows[1:]):.2f} s per question "
                  f"(after the first, {rows[0]['seconds']:.1f} s)")  # fmt: skip
    finally:
        chroma.close()
        pg.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
