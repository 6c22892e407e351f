"""The figures evaluations and benchmarks report: median and nearest-rank percentiles."""

from __future__ import annotations

import statistics
from collections.abc import Iterable

__all__ = ["p50_p95", "percentile"]


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
