"""How often the readings name one option, and how often that option is right (no model).

For every item of the given sets, the image is described as `see` describes it offline (OCR,
then the chart, diagram, grid, shapes and form readers), and `measured_answer` picks the option
that the question's facts name, if they name exactly one. Printed per set and category: items,
items with a measured option ("covered"), and how many of those are the right option. A wrong
measured option costs an answer in `see` (it overrules the model), so precision matters most.

    python bench/measured.py bench/data/vision/items.jsonl bench/data/vision_dev_diagrams/items.jsonl ...
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("datasets", nargs="+", type=Path)
    args = ap.parse_args()
    from multimodal_crew.vision.describe import describe
    from multimodal_crew.vision.evidence import measured_answer
    from multimodal_crew.vision.images import load_image

    total = defaultdict(lambda: [0, 0, 0])
    for ds in args.datasets:
        seen: dict[str, list] = {}
        t0 = time.perf_counter()
        for line in ds.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            it = json.loads(line)
            path = str(ds.parent / it["image"])
            if path not in seen:
                seen[path] = describe(load_image(path)).tables
            m = measured_answer(it["question"], seen[path], it["choices"])
            row = total[(ds.parent.name, it["category"])]
            row[0] += 1
            if m:
                row[1] += 1
                row[2] += m[0] == it["choices"][it["answer"]]
                if m[0] != it["choices"][it["answer"]]:
                    print(f"  wrong: {it['image']} {it['question'][:60]!r} -> {m[0]!r} (gold "
                          f"{it['choices'][it['answer']]!r}) from: {m[1][:100]}")  # fmt: skip
        print(f"{ds}: {len(seen)} images in {time.perf_counter() - t0:.0f} s")
    print(f"{'set':28} {'category':20} items covered right")
    for (s, c), (n, cov, ok) in sorted(total.items()):
        print(f"{s:28} {c:20} {n:5} {cov:7} {ok:5}")
    n, cov, ok = (sum(v[i] for v in total.values()) for i in range(3))
    print(f"{'all':49} {n:5} {cov:7} {ok:5}  (precision {ok / max(cov, 1):.0%}, coverage {cov / max(n, 1):.0%})")


if __name__ == "__main__":
    main()
