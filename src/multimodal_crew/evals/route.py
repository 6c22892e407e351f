"""``mmcrew eval route``: how often the router sends a request where a person would.

Each dataset line is ``{"id", "request", "route", "lang", "images", "note"}``: ``route`` is the gold
route, ``lang`` is ``en`` or ``zh``, ``images`` are paths relative to the project root (or absolute),
``note`` says why the route is right (optional).

Reported: accuracy overall and per language (a request whose decision raised counts as wrong),
recall and precision per route, the confusion matrix (gold -> predicted counts, ``error`` when the
decision raised), mean model calls per decided request, and latency p50/p95 of one decision.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import InputError, MMCrewError
from .stats import percentile

__all__ = ["ROUTES", "LANGS", "load_requests", "run_eval", "summarise", "eval_route"]

ROUTES = ("chat", "ask", "see", "report", "research", "workorder", "plan")
LANGS = ("en", "zh")
ERROR = "error"  # the "predicted" column of the confusion matrix for a decision that raised


def _roots(path: Path) -> list[Path]:
    """Where a relative image path may start: the working folder, then the dataset's folder and its parents."""
    here = path.resolve().parent
    return [Path.cwd(), here, *here.parents]


def _image(raw: Any, roots: list[Path]) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError("each image must be a non-empty path")
    p = Path(raw)
    for candidate in [p] if p.is_absolute() else [r / p for r in roots]:
        if candidate.is_file():
            return str(candidate.resolve())
    raise ValueError(f"image {raw} not found (paths are relative to the project root)")


def _item(rec: Any, roots: list[Path]) -> dict:
    if not isinstance(rec, dict):
        raise ValueError("expected a JSON object")
    rid, request, route, lang = (rec.get(k) for k in ("id", "request", "route", "lang"))
    if not isinstance(rid, str) or not rid.strip():
        raise ValueError("'id' must be a non-empty string")
    if not isinstance(request, str) or not request.strip():
        raise ValueError("'request' must be a non-empty string")
    if route not in ROUTES:
        raise ValueError(f"'route' must be one of {', '.join(ROUTES)}, not {route!r}")
    if lang not in LANGS:
        raise ValueError(f"'lang' must be one of {', '.join(LANGS)}, not {lang!r}")
    images = rec.get("images", [])
    if not isinstance(images, list):
        raise ValueError("'images' must be a list of paths")
    note = rec.get("note", "")
    if not isinstance(note, str):
        raise ValueError("'note' must be a string")
    return {
        "id": rid.strip(),
        "request": request.strip(),
        "route": route,
        "lang": lang,
        "images": [_image(i, roots) for i in images],
        "note": note,
    }


def load_requests(path: Path | str, limit: int = 0) -> list[dict]:
    """The labelled requests of a JSONL file (the first ``limit`` when > 0); image paths come back absolute.

    A bad line (not JSON, a missing or unknown field, an image that does not exist, a repeated id)
    is an ``InputError`` naming the file and the line number.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"dataset {path} does not exist")
    roots = _roots(path)
    items: list[dict] = []
    seen: dict[str, int] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            it = _item(json.loads(line), roots)
        except (json.JSONDecodeError, ValueError) as e:
            raise InputError(f"{path} line {n}: {e}") from None
        if it["id"] in seen:
            raise InputError(f"{path} line {n}: id {it['id']} already used on line {seen[it['id']]}")
        seen[it["id"]] = n
        items.append(it)
        if limit and len(items) >= limit:
            break
    return items


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text if isinstance(e, MMCrewError) and text else f"{type(e).__name__}: {text}".rstrip(": ")


def run_eval(
    items: list[dict],
    decide: Callable[[str, list[str]], Any],
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """``decide(request, images)`` on every item; rows and a summary (see the module docstring).

    ``decide`` returns an object with ``.route``, ``.quadrant`` and ``.model_calls``; an exception it
    raises makes the row wrong and keeps the error text.
    """
    rows = []
    for k, it in enumerate(items, start=1):
        if progress:
            progress(f"{k}/{len(items)} {it['id']}")
        t0 = time.perf_counter()
        try:
            d = decide(it["request"], list(it.get("images") or []))
            predicted, quadrant, calls, error = str(d.route), str(d.quadrant), int(d.model_calls), ""
        except Exception as e:  # noqa: BLE001  (any failure of the router is a wrong answer, recorded)
            predicted, quadrant, calls, error = None, None, None, _one_line(e)
        rows.append(
            {
                "id": it["id"],
                "lang": it["lang"],
                "gold": it["route"],
                "predicted": predicted,
                "quadrant": quadrant,
                "correct": predicted == it["route"],
                "seconds": time.perf_counter() - t0,
                "model_calls": calls,
                "error": error,
            }
        )
    return {"rows": rows, "summary": summarise(rows)}


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def summarise(rows: list[dict]) -> dict[str, Any]:
    """Accuracy, per-route recall/precision, per-language accuracy, confusion, model calls and latency."""
    gold = Counter(r["gold"] for r in rows)
    pred = Counter(r["predicted"] for r in rows if r["predicted"] is not None)
    hits = Counter(r["gold"] for r in rows if r["correct"])
    routes = list(ROUTES) + sorted((set(gold) | set(pred)) - set(ROUTES))
    by_route = {
        route: {
            "gold": gold[route],
            "predicted": pred[route],
            "correct": hits[route],
            "recall": _ratio(hits[route], gold[route]),
            "precision": _ratio(hits[route], pred[route]),
        }
        for route in routes
    }
    by_lang = {}
    for lang in sorted({r["lang"] for r in rows}):
        mine = [r for r in rows if r["lang"] == lang]
        ok = sum(r["correct"] for r in mine)
        by_lang[lang] = {"n": len(mine), "correct": ok, "accuracy": _ratio(ok, len(mine))}
    confusion: dict[str, dict[str, int]] = {}
    for r in rows:
        cell = confusion.setdefault(r["gold"], {})
        key = r["predicted"] if r["predicted"] is not None else ERROR
        cell[key] = cell.get(key, 0) + 1
    confusion = {g: dict(sorted(confusion[g].items())) for g in routes if g in confusion}
    calls = [r["model_calls"] for r in rows if r["model_calls"] is not None]
    seconds = [r["seconds"] for r in rows]
    correct = sum(r["correct"] for r in rows)
    return {
        "n": len(rows),
        "correct": correct,
        "accuracy": _ratio(correct, len(rows)),
        "failed": sum(1 for r in rows if r["error"]),
        "by_route": by_route,
        "by_lang": by_lang,
        "confusion": confusion,
        "mean_model_calls": round(sum(calls) / len(calls), 2) if calls else None,
        "latency_s": {"p50": round(percentile(seconds, 0.5), 3), "p95": round(percentile(seconds, 0.95), 3)},
    }


def eval_route(
    dataset: Path,
    *,
    limit: int,
    model: Any,
    settings: Any,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Load ``dataset`` (first ``limit`` requests when > 0) and score ``flows.routing.decide`` on ``model``."""
    from ..flows.routing import decide as route_decide

    items = load_requests(dataset, limit)

    def decide(request: str, images: list[str]) -> Any:
        return route_decide(request, model, images=images, settings=settings)

    report = run_eval(items, decide, progress=progress)
    report["dataset"] = str(dataset)
    return report
