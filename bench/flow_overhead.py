"""What running a capability as a YAML flow costs over calling its steps directly, in one run.

    python bench/flow_overhead.py [--runs 20]

Both sides do the same work: the model-free `ping` flow (writes one output folder) against
`call_step("ping")` + `call_step("finish")`, and the `report` flow on a scripted model (query,
chart, number-checked summary, output folder) against its four steps called in order. Prints the
median time per run and the YAML flow's overhead as a ratio and in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

import multimodal_crew  # noqa: F401  (offline env)


class _Model:
    """A scripted model: always the same valid summary for January 2024, all cities."""

    def __init__(self, reply: str):
        self.reply = reply

    def complete_json(self, *args, **kwargs) -> str:
        return self.reply


def _summary() -> str:
    from pathlib import Path

    from multimodal_crew.datasource import parse_query, query_report

    csv = Path(__file__).resolve().parents[1] / "knowledge" / "daily_active_users.csv"
    data = query_report(parse_query("2024-01-01", "2024-01-31", ""), csv)
    top = data.rows[0]
    return json.dumps({"summary": f"{top.city} had the largest total, {top.total} active users.", "top_city": top.city})


def _time(fn, runs: int) -> float:
    fn()  # warm: imports, definitions, caches
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    os.environ["MMCREW_HOME"] = tempfile.mkdtemp(prefix="mmcrew-bench-")
    from multimodal_crew.flows import run_flow
    from multimodal_crew.settings import get_settings
    from multimodal_crew.steps import Deps, call_step

    get_settings(refresh=True)
    reply = _summary()
    inputs = {"start_date": "2024-01-01", "end_date": "2024-01-31", "city": ""}

    def ping_steps():
        d = Deps()
        call_step("ping", {"message": "x"}, d)
        call_step("finish", {"flow": "ping", "result_of": "ping"}, d)

    def report_steps():
        d = Deps(model=_Model(reply))
        table = call_step("report_query", inputs, d)
        chart = call_step("chart", {"table": table}, d)
        call_step("report_summary", {"table": table, "chart": chart}, d)
        call_step("finish", {"flow": "report", "result_of": "report_summary"}, d)

    rows = [
        ("ping", _time(ping_steps, args.runs), _time(lambda: run_flow("ping", {"message": "x"}), args.runs)),
        (
            "report",
            _time(report_steps, args.runs),
            _time(lambda: run_flow("report", inputs, model=_Model(reply)), args.runs),
        ),
    ]
    print(
        f"{'flow':8} {'steps direct':>14} {'YAML flow':>12} {'ratio':>7} {'overhead':>10}   (median of {args.runs} runs)"
    )
    for name, direct, flow in rows:
        print(
            f"{name:8} {direct * 1000:11.1f} ms {flow * 1000:9.1f} ms {flow / direct:6.2f}x {1000 * (flow - direct):7.1f} ms"
        )


if __name__ == "__main__":
    main()
