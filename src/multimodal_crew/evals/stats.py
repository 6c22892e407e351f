"""What evaluations share: their JSONL datasets, and the figures they report (median, nearest-rank percentiles)."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..errors import UserError

__all__ = ["p50_p95", "percentile", "read_jsonl"]


def percentile(xs: Iterable[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (``q`` in [0, 1]) of ``xs``; 0.0 when there is none."""
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))] if xs else 0.0


def p50_p95(xs: Iterable[float], ndigits: int = 1) -> dict[str, float]:
    """``{"p50": median, "p95": 95th percentile}``, rounded; zeros when there is no value."""
    xs = list(xs)
    return {
        "p50": round(statistics.median(xs), ndigits) if xs else 0,
        "p95": round(percentile(xs, 0.95), ndigits),
    }


def read_jsonl(path: Path | str, item: Callable[[dict], Any]) -> list[Any]:
    """``item(record)`` for each line of a JSONL dataset; a bad line is a ``UserError`` naming it."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"dataset {path} does not exist")
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(item(json.loads(line)))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise UserError(f"{path} line {n}: {e}") from None
    return items
