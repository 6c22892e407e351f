"""Measure the form reader on the forms development set (no model is run).

For each question of ``bench/data/vision_dev_forms`` (``bench/make_vision_dev_forms.py``): does the
first fact ``form_question_facts`` gives name the right choice (the earliest choice named after the
fact's first ": ", names compared without spaces or case, as OCR drops spaces)? Also the share of
form images read at all, how many images of the general vision dev set and of the chart, diagram
and shape dev sets the reader wrongly takes for a form, and the time per image.

    python bench/dev_forms.py [-v]
"""

from __future__ import annotations

import json
import re
import sys
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from multimodal_crew.vision.describe import ocr_lines  # noqa: E402
from multimodal_crew.vision.images import load_image  # noqa: E402
from multimodal_crew.vision.marks import form_question_facts, form_text, read_form  # noqa: E402

DATA = ROOT / "bench" / "data" / "vision_dev_forms"
OTHERS = [
    ROOT / "bench" / "data" / n for n in ("vision", "vision_dev_charts", "vision_dev_diagrams", "vision_dev_shapes")
]


def key(s: str) -> str:
    return re.sub(r"[\s\"'“”:：,，、()（）;；]+", "", unicodedata.normalize("NFKC", s)).lower()


def picked(fact: str, choices: list[str]) -> int | None:
    """The choice the fact names first; else the one choice that holds the whole value (OCR
    drops a currency sign: "310.20" names "€310.20")."""
    head = re.split(r"[:：]", fact, maxsplit=1)[1] if re.search(r"[:：]", fact) else fact
    k = key(re.split(r"[(（]", head, maxsplit=1)[0])
    pos = [(k.find(key(c)), -len(key(c)), i) for i, c in enumerate(choices) if key(c) and k.find(key(c)) >= 0]
    if pos:
        return min(pos)[2]
    holding = [i for i, c in enumerate(choices) if len(k) >= 3 and k in key(c)]
    return holding[0] if len(holding) == 1 else None


def main() -> None:
    verbose = "-v" in sys.argv
    items = [json.loads(x) for x in (DATA / "items.jsonl").read_text().splitlines()]
    forms, times = {}, []
    for name in dict.fromkeys(it["image"] for it in items):
        img = load_image(DATA / name)
        t0 = time.perf_counter()
        lines = ocr_lines(img)
        t1 = time.perf_counter()
        f = read_form(img, lines)
        times.append(time.perf_counter() - t1)
        forms[name] = f.as_dict() if f else None
        if verbose:
            print(f"== {name} (OCR {t1 - t0:.1f} s)\n" + (form_text(forms[name]) if f else "(not read as a form)"))
    right = 0
    by_cat: dict[str, list[int]] = {}
    for it in items:
        d = forms[it["image"]]
        facts = form_question_facts(d, it["question"]) if d else []
        ok = bool(facts) and picked(facts[0], it["choices"]) == it["answer"]
        right += ok
        by_cat.setdefault(it["category"], []).append(ok)
        if verbose and not ok:
            print(f"MISS {it['image']}: {it['question']} -> {it['choices'][it['answer']]!r}; facts: {facts[:2]}")
    read = sum(1 for d in forms.values() if d)
    print(f"first fact names the right choice: {right}/{len(items)} = {right / len(items):.0%}")
    for cat, oks in sorted(by_cat.items()):
        print(f"  {cat}: {sum(oks)}/{len(oks)}")
    print(f"form images read: {read}/{len(forms)} = {read / len(forms):.0%}; "
          f"read_form {1000 * sum(times) / len(times):.0f} ms per image (OCR not counted)")  # fmt: skip
    if "--no-others" in sys.argv:
        return
    wrong, total = [], 0
    for folder in OTHERS:
        if not (folder / "images").is_dir():
            continue
        for p in sorted((folder / "images").glob("*.png")):
            if folder.name == "vision" and p.name.startswith("form"):
                continue
            img = load_image(p)
            total += 1
            if read_form(img, ocr_lines(img)):
                wrong.append(f"{folder.name}/{p.name}")
    print(f"other images (charts, tables, receipts, signs, diagrams, shapes) taken for forms: {len(wrong)}/{total}"
          + (": " + ", ".join(wrong) if wrong else ""))  # fmt: skip


if __name__ == "__main__":
    main()
