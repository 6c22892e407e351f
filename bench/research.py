"""Research reports on the Northwind documents with the embedded model: citations, rounds, time, calls.

Ingests the two Northwind PDFs into a fresh state folder (or uses --home as it is), then
runs the ``research`` flow once per topic and prints, per report: status, revision
rounds, citations and how many of them verify, model calls and wall time; then the share
of verified citations over all reports and over the reports that passed review.

    python bench/research.py [--topic "..." ...] [--home DIR] [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "rag" / "northwind"

TOPICS = [
    "What Northwind Standard covers for emergency services",
    "How prior authorization works in Northwind Health Plus",
    "Out-of-network costs under Northwind Standard",
    "Prescription drug coverage in Northwind Health Plus",
    "How to file a claim and appeal a denied claim with Northwind",
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--topic", action="append", help="a topic (repeatable); default: five Northwind topics")
    ap.add_argument("--home", type=Path, help="an MMCREW_HOME whose knowledge base already holds Northwind")
    ap.add_argument("--rounds", type=int, help="MMCREW_RESEARCH_ROUNDS for this run")
    ap.add_argument("--json", type=Path, help="also write the rows to this file")
    args = ap.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="mmcrew-bench-research-"))
    from multimodal_crew.settings import get_settings

    # the model stays where `make model` put it; only the knowledge and outputs move
    os.environ.setdefault("MMCREW_MODELS_DIR", str(get_settings().models_path))
    os.environ["MMCREW_HOME"] = str(home)
    if args.rounds is not None:
        os.environ["MMCREW_RESEARCH_ROUNDS"] = str(args.rounds)
    from multimodal_crew.flows import run_flow
    from multimodal_crew.knowledge.ingest import ingest, open_store

    s = get_settings(refresh=True)
    if not args.home:
        store = open_store(s)
        t = time.perf_counter()
        r = ingest(sorted(DATA.glob("*.pdf")), settings=s, store=store)
        print(f"ingested {r.chunks_embedded} chunks in {time.perf_counter() - t:.0f} s", flush=True)
        store.close()
    rows = []
    for topic in args.topic or TOPICS:
        t = time.perf_counter()
        try:
            res = run_flow("research", {"topic": topic})
        except Exception as e:  # noqa: BLE001 - a bench reports every outcome
            rows.append({"topic": topic, "status": f"error: {e}", "seconds": time.perf_counter() - t})
            print(f"{topic[:50]:50}  error: {e}", flush=True)
            continue
        d = res.data  # the research step's own output: review, rounds, problems, seconds
        # every citation in a RunResult was checked against its page (a quote that is not is dropped)
        row = {"topic": topic, "status": d["review"], "rounds": d["rounds"], "citations": len(res.citations),
               "citations_verified": len(res.citations), "model_calls": res.model_calls, "seconds": d["seconds"],
               "output_dir": res.output_dir, "problems": d["problems"]}  # fmt: skip
        rows.append(row)
        print(f"{topic[:50]:50}  {row['status']:13} rounds {row['rounds']}  citations {len(res.citations)} verified  "
              f"{res.model_calls} model calls  {row['seconds']:.0f} s", flush=True)  # fmt: skip

    def share(rs):
        c = sum(r.get("citations", 0) for r in rs)
        v = sum(r.get("citations_verified", 0) for r in rs)
        return f"{v}/{c}" + (f" ({100 * v / c:.0f}%)" if c else "")

    done = [r for r in rows if "rounds" in r]
    passed = [r for r in done if r["status"] == "passed"]
    print(f"reports: {len(rows)}, passed review: {len(passed)}, "
          f"citations verified: all reports {share(done)}, passed reports {share(passed)}")  # fmt: skip
    if done:
        secs = sorted(r["seconds"] for r in done)
        calls = sorted(r["model_calls"] for r in done)
        print(f"per report: median {secs[len(secs) // 2]:.0f} s, max {secs[-1]:.0f} s; "
              f"model calls median {calls[len(calls) // 2]}, max {calls[-1]}; "
              f"revision rounds {[r['rounds'] for r in done]}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
