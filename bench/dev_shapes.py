"""Measure the shape reader on the shape development set (no model is run).

For each image of ``bench/data/vision_dev_shapes`` (``bench/make_shapes_dev.py``): are the counts
by kind and by colour exact against ``truth.jsonl``? For each question: does the first fact
``shape_facts`` gives name the right choice (spatial questions: the earliest choice mentioned in
the first fact, or its "in short:" wording; counting questions: the count of the thing asked)?
Also: how many images of the general vision dev set (``bench/data/vision``: charts, tables,
receipts, signs, forms) the reader wrongly takes for a shape scene, and the time per image.

    python bench/dev_shapes.py [-v]
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from multimodal_crew.vision.images import load_image  # noqa: E402
from multimodal_crew.vision.shapes import _mentions, read_shapes, shape_facts  # noqa: E402

DATA = ROOT / "bench" / "data" / "vision_dev_shapes"
GENERAL = ROOT / "bench" / "data" / "vision"


def base(c: str) -> str:
    return c.replace("light ", "").replace("dark ", "")


def picked(fact: str, choices: list[str]) -> int | None:
    m = re.search(r"in short: (.+)$", fact)
    if m:
        short = m.group(1).strip()
        return next((i for i, c in enumerate(choices) if c.strip() == short), None)
    head = fact.split(": ", 1)[1] if ": " in fact else fact
    pos = [(head.find(c), i) for i, c in enumerate(choices) if head.find(c) >= 0]
    return min(pos)[1] if pos else None


def main() -> None:
    verbose = "-v" in sys.argv
    truth = [json.loads(x) for x in (DATA / "truth.jsonl").read_text().splitlines()]
    items = [json.loads(x) for x in (DATA / "items.jsonl").read_text().splitlines()]
    read: dict[str, dict | None] = {}
    times = []
    exact_kind = exact_colour = 0
    for t in truth:
        img = load_image(DATA / t["image"])
        t0 = time.perf_counter()
        s = read_shapes(img)
        times.append(time.perf_counter() - t0)
        d = s.as_dict() if s else None
        read[t["image"]] = d
        got = d["shapes"] if d else []
        want_k = Counter(x["kind"] for x in t["shapes"])
        want_c = Counter(x["colour"] for x in t["shapes"])
        got_k = Counter(x["kind"] for x in got)
        got_c = Counter(base(x["colour"]) for x in got)
        exact_kind += got_k == want_k
        exact_colour += got_c == want_c
        if verbose and (got_k != want_k or got_c != want_c):
            print(
                f"{t['image']}: kinds want {dict(want_k)} got {dict(got_k)}; colours want {dict(want_c)} got {dict(got_c)}"
            )
            for n in (d or {}).get("uncertain", []):
                print("   note:", n)
    n = len(truth)
    right = Counter()
    total = Counter()
    for it in items:
        d = read.get(it["image"])
        cat = it["category"]
        total[cat] += 1
        if not d:
            continue
        if cat == "perception_count":
            named = _mentions(it["question"])
            colour, kind = (named[0][1], named[0][2]) if named else (None, None)
            got = sum(
                1
                for s in d["shapes"]
                if (colour is None or base(s["colour"]) == colour) and (kind is None or s["kind"] == kind)
            )
            ok = str(got) == it["choices"][it["answer"]]
        else:
            facts = shape_facts(d, it["question"])
            ok = bool(facts) and picked(facts[0], it["choices"]) == it["answer"]
            if verbose and not ok:
                print(
                    f"{it['image']}: {it['question']} -> want {it['choices'][it['answer']]!r}; first fact: {facts[0] if facts else None}"
                )
        right[cat] += ok
    print(f"shape dev set: {n} images, {len(items)} questions")
    print(f"  counts by kind exact:   {exact_kind}/{n} ({exact_kind / n:.0%})")
    print(f"  counts by colour exact: {exact_colour}/{n} ({exact_colour / n:.0%})")
    for cat in sorted(total):
        print(f"  {cat}: facts name the right answer {right[cat]}/{total[cat]} ({right[cat] / total[cat]:.0%})")
    print(f"  time per image: mean {sum(times) / n * 1000:.0f} ms, max {max(times) * 1000:.0f} ms")
    if GENERAL.exists():
        taken = []
        others = sorted(p for p in (GENERAL / "images").glob("*.png"))
        for p in others:
            s = read_shapes(load_image(p))
            if s is not None:
                taken.append(f"{p.name} ({len(s.shapes)} shapes)")
        print(
            f"general vision dev set: {len(taken)}/{len(others)} images read as shape scenes: {', '.join(taken) or '-'}"
        )


if __name__ == "__main__":
    main()
