"""Values read from charts against the values the generator plotted.

For every item of a vision set that carries ``truth`` (``bench/make_vision_set2.py`` writes it),
the chart is read as ``see`` reads it (OCR, then ``vision.chart.read_chart``) and each plotted
value is looked up by category and series. Prints the median and 90th-percentile relative error
of the value used (a printed label where there is one, else the measurement) and of the
measurement alone, how many plotted values were found, and the charts not read at all. No model.

    .venv/bin/python bench/chart_values.py [--dataset bench/data/vision_new/items.jsonl]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path


def _key(s: str) -> str:
    return re.sub(r"\s+", "", str(s)).lower()


def main(argv: list[str] | None = None) -> dict:
    from multimodal_crew.vision.chart import read_chart
    from multimodal_crew.vision.describe import ocr_lines
    from multimodal_crew.vision.images import load_image

    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", type=Path, default=Path("bench/data/vision_new/items.jsonl"))
    args = ap.parse_args(argv)
    items = [json.loads(line) for line in args.dataset.read_text(encoding="utf-8").splitlines() if line.strip()]
    charts = [it for it in items if it.get("truth")]
    seen: set[str] = set()
    used_err, measured_err, found, total, unread, seconds = [], [], 0, 0, [], []
    by_kind: dict[str, list[float]] = {}
    for it in charts:
        if it["image"] in seen:  # several questions may share one image
            continue
        seen.add(it["image"])
        truth = it["truth"]
        t0 = time.perf_counter()
        img = load_image(str(args.dataset.parent / it["image"]))
        chart = read_chart(img, ocr_lines(img))
        seconds.append(time.perf_counter() - t0)
        n = sum(len(v) for v in truth["series"].values())
        total += n
        if chart is None:
            unread.append(it["image"])
            continue
        single = len(truth["series"]) == 1
        for series, vals in truth["series"].items():
            for cat, want in zip(truth["categories"], vals, strict=True):
                got = [v for v in chart.values if _key(v.category) == _key(cat)
                       and (single or _key(v.series) == _key(series))]  # fmt: skip
                if not got or want == 0:
                    continue
                found += 1
                e = abs(got[0].value - want) / abs(want)
                used_err.append(e)
                measured_err.append(abs(got[0].measured - want) / abs(want))
                kind = f"{truth['kind']}/{truth.get('orientation', 'vertical')}{'/stacked' if truth.get('stacked') else ''}"
                by_kind.setdefault(kind, []).append(e)

    def pct(xs: list[float], q: float) -> float:
        return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")

    report = {
        "charts": len(seen),
        "charts_read": len(seen) - len(unread),
        "values": total,
        "values_found": found,
        "median_rel_error": statistics.median(used_err) if used_err else None,
        "p90_rel_error": pct(used_err, 0.9),
        "median_rel_error_measured_only": statistics.median(measured_err) if measured_err else None,
        "within_2pct": sum(e <= 0.02 for e in used_err) / len(used_err) if used_err else None,
        "by_kind": {k: {"n": len(v), "median": statistics.median(v)} for k, v in sorted(by_kind.items())},
        "unread": unread,
        "seconds_per_chart_p50": statistics.median(seconds) if seconds else None,
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
