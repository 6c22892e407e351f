"""A cold ``mmcrew ask`` (a new process per question: CrewAI, the embedder and the model loaded each
time), this checkout against a baseline commit, alternating, in one run.

    .venv/bin/python bench/cold_ask.py --base REV [--questions 10]

The baseline is a ``git worktree`` of REV under a temporary folder, run with this checkout's venv
and ``PYTHONPATH=<worktree>/src``, so only the code differs. Both use one state folder whose
index is built once before the timing (the project's knowledge folder). Prints per question the
seconds of each side and whether the answers agree, then p50 / p95 of each and their ratio.

Questions: bench/data/rag/sample_qa.jsonl, sample_unanswerable.jsonl, then northwind_zh.jsonl.
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

from bench.serve import pct, questions  # noqa: E402

MMCREW = str(ROOT / ".venv" / "bin" / "mmcrew")


def ask(env: dict, question: str) -> tuple[float, dict]:
    t = time.perf_counter()
    r = subprocess.run([MMCREW, "ask", question, "--json"], env=env, capture_output=True, text=True, timeout=900)
    took = time.perf_counter() - t
    if r.returncode not in (0, 1):
        raise SystemExit(f"mmcrew ask failed ({r.returncode}): {r.stderr[-2000:]}")
    try:
        d = json.loads(r.stdout)
    except json.JSONDecodeError:
        d = {"status": "unreadable", "text": r.stdout[-200:]}
    return took, d


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True, help="the baseline commit")
    ap.add_argument("--questions", type=int, default=10)
    args = ap.parse_args()
    qs = questions(args.questions)
    tmp = Path(tempfile.mkdtemp(prefix="mmcrew-bench-cold-"))
    base_tree = tmp / "base"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base_tree), args.base], check=True,
                   capture_output=True)  # fmt: skip
    try:
        common = {**os.environ, "MMCREW_HOME": str(tmp / "home"), "MMCREW_KNOWLEDGE_DIR": str(ROOT / "knowledge"),
                  "MMCREW_MODELS_DIR": os.environ.get("MMCREW_MODELS_DIR", str(ROOT / ".mmcrew" / "models"))}  # fmt: skip
        common.pop("MODEL", None)
        sides = {
            "now": {**common, "PYTHONPATH": str(ROOT / "src")},
            "base": {**common, "PYTHONPATH": str(base_tree / "src")},
        }
        subprocess.run([MMCREW, "ingest"], env=sides["now"], check=True, capture_output=True)
        ask(sides["base"], qs[0])  # page cache warm for both: the model file, the wheels
        times: dict[str, list[float]] = {"now": [], "base": []}
        agree = 0
        for i, q in enumerate(qs):
            order = ("now", "base") if i % 2 == 0 else ("base", "now")
            got = {}
            for side in order:
                took, d = ask(sides[side], q)
                times[side].append(took)
                got[side] = (d.get("text"), [(c.get("file"), c.get("page")) for c in d.get("citations", [])])
            agree += got["now"] == got["base"]
            print(f"now {times['now'][-1]:5.1f} s  base {times['base'][-1]:5.1f} s  "
                  f"{'same' if got['now'] == got['base'] else 'differs'}  {q[:70]}", flush=True)  # fmt: skip
        n, b = times["now"], times["base"]
        print(f"cold mmcrew ask, {len(qs)} questions: now p50 {statistics.median(n):.1f} s p95 {pct(n, 0.95):.1f} s; "
              f"base ({args.base}) p50 {statistics.median(b):.1f} s p95 {pct(b, 0.95):.1f} s; "
              f"ratio p50 now/base {statistics.median(n) / statistics.median(b):.3f}; same answers {agree}/{len(qs)}")  # fmt: skip
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base_tree)], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
