"""``mmcrew eval vision``: accuracy of the ``see`` flow on a ScienceQA-shaped set.

Each line of the dataset is ``{image, question, choices, answer, category}``
(``answer``: index of the right choice; ``image``: relative to the dataset file).

Reported per mode: accuracy (a failed run counts as wrong), ``in_choices`` (share of
the answers given that are one of the choices), ``failed`` (runs that raised a typed
error instead of answering), and latency p50/p95 per item.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import MMCrewError
from .stats import p50_p95, read_jsonl

__all__ = ["load_items", "run_eval", "GROUPS"]

# categories that the offline mode is expected to handle, and the ones it cannot see
GROUPS = {
    "text": ("receipt", "sign", "form", "diagram"),
    "table": ("table",),
    "chart": ("bar_chart", "line_chart"),
    "perception": ("perception_count", "perception_spatial"),
}


def group_of(category: str) -> str:
    base = category.removesuffix("_zh")
    for g, cats in GROUPS.items():
        if base in cats:
            return g
    return "other"


def load_items(path: Path) -> list[dict]:
    def item(it: dict) -> dict:
        it["image"] = str((Path(path).parent / it["image"]).resolve())
        if not (0 <= int(it["answer"]) < len(it["choices"])):
            raise ValueError("answer is not an index into choices")
        return it

    return read_jsonl(path, item)


def _pct(xs: list[bool]) -> str:
    return f"{100 * sum(xs) / len(xs):.0f}%" if xs else "-"


def run_eval(
    items: list[dict], modes: list[str], progress: Callable[[str], None] = lambda s: None, *, model: Any = None
) -> dict[str, Any]:
    from ..flows import run_flow
    from ..steps.vision import SeeAnswer

    rows = []
    for k, it in enumerate(items, start=1):
        for mode in modes:
            progress(f"{k}/{len(items)} {it['category']} ({mode})")
            t0 = time.perf_counter()
            try:
                inputs = {"image": it["image"], "question": it["question"], "choices": it["choices"], "mode": mode}
                r = SeeAnswer.model_validate(run_flow("see", inputs, model=model).data)
                idx, answer, error, confidence, source = r.choice_index, r.answer, "", r.confidence, r.answer_from
            except MMCrewError as e:
                idx, answer, error, confidence, source = None, "", str(e), "", ""
            rows.append(
                {
                    "image": it["image"],
                    "category": it["category"],
                    "group": group_of(it["category"]),
                    "zh": it["category"].endswith("_zh"),
                    "mode": mode,
                    "predicted": idx,
                    "answer": answer,
                    "gold": it["answer"],
                    "correct": idx == it["answer"],
                    "in_choices": answer in it["choices"],
                    "seconds": time.perf_counter() - t0,
                    "error": error,
                    "confidence": confidence,
                    "answer_from": source,  # "measurement": the model was overruled by the reading's facts
                }
            )
    return {"rows": rows, "summary": summarise(rows, modes)}


def summarise(rows: list[dict], modes: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"by_category": {}, "by_group": {}, "overall": {}}
    cats = sorted({r["category"] for r in rows})
    for mode in modes:
        mine = [r for r in rows if r["mode"] == mode]
        latency = p50_p95(r["seconds"] for r in mine)
        out["overall"][mode] = {
            "n": len(mine),
            "accuracy": _pct([r["correct"] for r in mine]),
            "in_choices": _pct([r["in_choices"] for r in mine if not r["error"]]),
            "failed": sum(1 for r in mine if r["error"]),
            "low_confidence": sum(1 for r in mine if r.get("confidence") == "low"),
            "p50_s": latency["p50"],
            "p95_s": latency["p95"],
        }
        for c in cats:
            sel = [r["correct"] for r in mine if r["category"] == c]
            out["by_category"].setdefault(c, {})[mode] = f"{sum(sel)}/{len(sel)}"
        for g in list(GROUPS) + ["other"]:
            for lang, zh in (("en", False), ("zh", True)):
                sel = [r["correct"] for r in mine if r["group"] == g and r["zh"] == zh]
                if sel:
                    out["by_group"].setdefault(f"{g}/{lang}", {})[mode] = f"{_pct(sel)} ({sum(sel)}/{len(sel)})"
    return out
