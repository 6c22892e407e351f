"""How many of the gold plans' tools the planner's shortlist keeps (``steps.planning.shortlist``).

With more tools than ``MMCREW_PLAN_MAX_TOOLS``, the planner sees only the tools nearest the request
(all-MiniLM-L6-v2, cosine). This prints, per TaskBench domain and shortlist size k, the share of gold
tool occurrences inside the top k (node recall: the ceiling of node recall for the planner) and the
share of records whose every gold tool is inside, with the time to rank, against offering all tools.

    .venv/bin/python bench/plan_shortlist.py [--k 10,20,30,40]
"""

from __future__ import annotations

import argparse
import time

from multimodal_crew.evals.taskbench import DOMAINS, load_records, load_tools
from multimodal_crew.knowledge.embedder import get_embedder
from multimodal_crew.steps.planning import shortlist


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", default="10,20,30,40")
    sizes = [int(x) for x in ap.parse_args().k.split(",")]
    embed = get_embedder().embed
    embed(["warm up"])
    print("domain       tools  k    node recall  all gold in  ms/request")
    for name, (data, desc) in DOMAINS.items():
        tools, records = load_tools(desc), load_records(data)
        for k in sizes:
            hit = total = whole = 0
            t0 = time.perf_counter()
            for r in records:
                kept = {t.name for t in shortlist(r["user_request"], tools, embed, k)}
                gold = {str(n["task"]) for n in r["task_nodes"]}
                hit, total, whole = hit + len(gold & kept), total + len(gold), whole + (gold <= kept)
            ms = 1000 * (time.perf_counter() - t0) / len(records)
            print(f"{name:12} {len(tools):5}  {k:3}  {hit / total:11.3f}  {whole / len(records):11.2f}  {ms:10.1f}")


if __name__ == "__main__":
    main()
