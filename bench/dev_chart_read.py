"""Reading accuracy on the charts-and-tables development set, without the model.

For each image of ``bench/data/vision_dev_charts/items.jsonl`` (made by
``make_vision_dev_charts.py``), ``describe()`` reads it and the result is compared with the
item's ``truth``:

* charts: read at all (a chart came out), kind/orientation/stacking right, the share of true
  values found under their category and series within 5%, and the median relative error
  (relative to the value, or to a tenth of the largest value for values near zero);
* tables: a grid came out, with the true number of columns and rows, and the share of cells
  equal to the truth (spaces ignored).

    python bench/dev_chart_read.py [--items PATH] [--json OUT] [-v]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from multimodal_crew.vision.describe import describe  # noqa: E402
from multimodal_crew.vision.images import load_image  # noqa: E402

DEFAULT = ROOT / "bench" / "data" / "vision_dev_charts" / "items.jsonl"


def _key(s: str) -> str:
    return re.sub(r"\s+", "", s).lower()


def score_chart(truth: dict, got: dict | None) -> dict:
    n = sum(len(v) for v in truth["series"].values())
    if got is None or got["type"] != "chart":
        return {"read": False, "values": n, "matched": 0, "errors": [], "shape": False}
    shape = (got["kind"], got["orientation"], got["stacked"]) == (truth["kind"], truth["orientation"], truth["stacked"])
    single = len(truth["series"]) == 1
    scale = max(abs(v) for vals in truth["series"].values() for v in vals)
    matched, errors, missing = 0, [], []
    for s, vals in truth["series"].items():
        for cat, want in zip(truth["categories"], vals, strict=True):
            cands = [v for v in got["values"] if _key(v["category"]) == _key(cat)
                     and (single or _key(v["series"]) == _key(s))]  # fmt: skip
            if not cands:
                missing.append(f"{cat}/{s}")
                continue
            err = abs(cands[0]["value"] - want) / max(abs(want), 0.1 * scale)
            errors.append(err)
            matched += err <= 0.05
            if err > 0.05:
                missing.append(f"{cat}/{s}: {cands[0]['value']:g} not {want:g}")
    return {"read": True, "values": n, "matched": matched, "errors": errors, "shape": shape, "missing": missing}


def score_table(truth: dict, got: dict | None) -> dict:
    cells = len(truth["header"]) * (len(truth["rows"]) + 1)
    if got is None or got["type"] != "table":
        return {"read": False, "cells": cells, "equal": 0, "shape": False}
    shape = len(got["header"]) == len(truth["header"]) and len(got["rows"]) == len(truth["rows"])
    equal = 0
    want_rows = [truth["header"], *truth["rows"]]
    got_rows = [got["header"], *got["rows"]]
    for wr, gr in zip(want_rows, got_rows, strict=False):
        equal += sum(_key(a) == _key(b) for a, b in zip(wr, gr, strict=False))
    return {"read": True, "cells": cells, "equal": equal, "shape": shape}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", default=str(DEFAULT))
    ap.add_argument("--json", default="")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    path = Path(args.items)
    seen: dict[str, dict] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        it = json.loads(line)
        seen.setdefault(it["image"], it)
    rows = []
    for image, it in seen.items():
        d = describe(load_image(str(path.parent / image)))
        got = d.tables[0] if d.tables else None
        truth = it["truth"]
        res = score_table(truth, got) if truth["kind"] == "table" else score_chart(truth, got)
        res.update(image=image, category=it["category"])
        rows.append(res)
        if args.verbose:
            extra = res.get("missing") or ""
            print(f"{image:32} read={res['read']!s:5} shape={res['shape']!s:5} "
                  + (f"{res['matched']}/{res['values']}" if "values" in res else f"{res['equal']}/{res['cells']}")
                  + f" {extra}")  # fmt: skip
    charts = [r for r in rows if "values" in r]
    tables = [r for r in rows if "cells" in r]
    errs = [e for r in charts for e in r["errors"]]
    summary = {
        "charts": len(charts),
        "charts_read": sum(r["read"] for r in charts),
        "chart_shape_right": sum(r["shape"] for r in charts),
        "values_matched": f"{sum(r['matched'] for r in charts)}/{sum(r['values'] for r in charts)}",
        "median_rel_error": round(statistics.median(errs), 4) if errs else None,
        "tables": len(tables),
        "tables_read": sum(r["read"] for r in tables),
        "table_shape_right": sum(r["shape"] for r in tables),
        "cells_equal": f"{sum(r['equal'] for r in tables)}/{sum(r['cells'] for r in tables)}",
    }
    for cat in sorted({r["category"] for r in rows}):
        rs = [r for r in rows if r["category"] == cat]
        if "values" in rs[0]:
            summary[cat] = f"read {sum(r['read'] for r in rs)}/{len(rs)}, values {sum(r['matched'] for r in rs)}/" \
                           f"{sum(r['values'] for r in rs)}"  # fmt: skip
        else:
            summary[cat] = f"read {sum(r['read'] for r in rs)}/{len(rs)}, shape {sum(r['shape'] for r in rs)}, cells " \
                           f"{sum(r['equal'] for r in rs)}/{sum(r['cells'] for r in rs)}"  # fmt: skip
    print(json.dumps(summary, ensure_ascii=False, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "rows": rows}, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
