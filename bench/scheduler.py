"""Scheduler overhead and memory, on the real scheduler with the model-free ``ping`` flow.

1. Overhead per run: from the moment a run is due to the moment its flow starts
   (in the forked run process, after its setup), over ``--overhead-runs`` runs of
   one entry due every second. Also shown: due -> the scheduler's runner started.
2. Memory: resident set size of the scheduler process after 10 runs and after
   ``--runs`` runs (default 1,000) of ``--entries`` entries due every second.

All state goes to a temporary MMCREW_HOME.

    python bench/scheduler.py [--runs 1000] [--entries 10]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import psutil
import yaml


def _setup(tmp: Path, entries: list[dict]) -> None:
    config = tmp / "config"
    (config / "flows").mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(__file__).resolve().parents[1] / "config" / "flows" / "ping.yaml", config / "flows")
    (config / "schedules.yaml").write_text(yaml.safe_dump({"schedules": entries}))


def _rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--entries", type=int, default=10)
    ap.add_argument("--overhead-runs", type=int, default=20)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="mmcrew-bench-sched-"))
    os.environ.update({"MMCREW_HOME": str(tmp / "state"), "MMCREW_CONFIG_DIR": str(tmp / "config")})
    import multimodal_crew  # noqa: F401
    from multimodal_crew.evals.stats import percentile
    from multimodal_crew.schedule.history import History
    from multimodal_crew.schedule.runner import schedule_dir
    from multimodal_crew.schedule.service import Scheduler
    from multimodal_crew.settings import get_settings

    get_settings(refresh=True)

    # 1. overhead
    _setup(tmp, [{"name": "tick", "flow": "ping", "interval": 1, "misfire": "skip", "max_runtime": 30}])
    s = Scheduler()
    s.start()
    hist = History(schedule_dir() / "history.sqlite")
    while hist.count("tick", "ok") < args.overhead_runs:
        time.sleep(0.2)
    s.stop()
    runs = [r for r in hist.runs("tick", limit=10_000) if r.status == "ok"]
    to_flow = sorted((r.flow_started - r.scheduled_for) * 1000 for r in runs)
    to_runner = sorted((r.started - r.scheduled_for) * 1000 for r in runs)
    durations = sorted((r.ended - r.started) * 1000 for r in runs)
    p95 = lambda xs: percentile(xs, 0.95)  # noqa: E731
    print(
        f"overhead over {len(runs)} runs (ms): due->runner median {statistics.median(to_runner):.0f} "
        f"p95 {p95(to_runner):.0f}; due->flow start median {statistics.median(to_flow):.0f} "
        f"p95 {p95(to_flow):.0f}; whole run median {statistics.median(durations):.0f}"
    )

    # 2. memory
    names = [f"e{i:02d}" for i in range(args.entries)]
    _setup(tmp, [{"name": n, "flow": "ping", "interval": 1, "misfire": "skip", "max_runtime": 30} for n in names])
    base = hist.count(status="ok")
    s = Scheduler()
    t0 = time.time()
    s.start()
    rss_10 = None
    while True:
        done = hist.count(status="ok") - base
        if rss_10 is None and done >= 10:
            rss_10 = _rss_mb()
        if done >= args.runs:
            break
        time.sleep(0.5)
    rss_n = _rss_mb()
    s.stop()
    elapsed = time.time() - t0
    bad = {st: hist.count(status=st) for st in ("failed", "timeout", "skipped", "missed", "interrupted")}
    print(
        f"memory: RSS after 10 runs {rss_10:.1f} MB, after {done} runs {rss_n:.1f} MB "
        f"(growth {rss_n - rss_10:+.1f} MB, ratio {rss_n / rss_10:.3f}); {done} runs in {elapsed:.0f} s; "
        f"other outcomes: {bad}"
    )


if __name__ == "__main__":
    main()
