"""Where a line chart's trace is at a column: the pixels of one series' colour, as a mask."""

from __future__ import annotations

import numpy as np

__all__ = ["line_y"]


def line_y(m: np.ndarray, x: int, cols: np.ndarray) -> float | None:
    """The line's y at column x. Each side's segment, fitted on columns 4-12 pixels away and
    extended to x, meets at the point; averaging the two sides is right at a peak or a dip,
    where the pixels of the column itself lie off-centre. A gap (a dashed line) is bridged."""
    if len(cols) == 0:
        return None
    gaps = np.diff(cols)
    reach = 3 + min(12, int(gaps.max()) - 1 if len(gaps) else 0)  # a dashed or dotted line may end in a gap
    if x < cols[0] - reach or x > cols[-1] + reach:
        return None

    def at(c: int) -> float | None:
        if c < 0 or c >= m.shape[1]:
            return None
        ys = np.flatnonzero(m[:, c])
        if not len(ys):
            return None
        runs = np.split(ys, np.flatnonzero(np.diff(ys) > 2) + 1)
        return [float((r[0] + r[-1]) / 2) for r in runs]

    def side(sign: int) -> float | None:
        pts = []
        ref = at_x
        for d in range(4, 13):
            ys = at(x + sign * d)
            if not ys:
                continue
            y = min(ys, key=lambda v: abs(v - ref)) if ref is not None else ys[0]
            pts.append((d, y))
        if len(pts) < 3:
            return None
        ds, yv = np.array([p[0] for p in pts], float), np.array([p[1] for p in pts], float)
        slope, icpt = np.polyfit(ds, yv, 1)
        return float(icpt)  # at d = 0

    here = [y for c in range(x - 1, x + 2) for y in (at(c) or [])]
    at_x = float(np.median(here)) if here else None
    if at_x is not None and _run_height(m, x, at_x) >= 2.2 * _thickness(m, cols):
        return at_x  # a marker: its centre is the point
    ends = [v for v in (side(-1), side(1)) if v is not None]
    if at_x is not None and ends and min(abs(e - at_x) for e in ends) > 12:
        ends = []  # the sides belong to another stroke: trust the column itself
    if ends:
        return float(np.mean(ends)) if len(ends) == 2 and abs(ends[0] - ends[1]) <= 4 else (
            float(min(ends, key=lambda e: abs(e - at_x))) if at_x is not None else float(ends[0]))  # fmt: skip
    if at_x is not None:
        return at_x
    before, after = cols[cols < x], cols[cols > x]
    if len(before) == 0 or len(after) == 0:
        return None
    x0, x1 = int(before[-1]), int(after[0])
    y0, y1 = at(x0), at(x1)
    return y0[0] + (y1[0] - y0[0]) * (x - x0) / (x1 - x0)


def _run_height(m: np.ndarray, x: int, y: float) -> int:
    ys = np.flatnonzero(m[:, x])
    if not len(ys):
        return 0
    runs = np.split(ys, np.flatnonzero(np.diff(ys) > 2) + 1)
    r = min(runs, key=lambda r: abs((r[0] + r[-1]) / 2 - y))
    return int(r[-1] - r[0] + 1)


def _thickness(m: np.ndarray, cols: np.ndarray) -> float:
    """The usual height of the line's pixel runs per column (its stroke, where it is not steep)."""
    hs = []
    for c in cols[:: max(1, len(cols) // 60)]:
        ys = np.flatnonzero(m[:, c])
        runs = np.split(ys, np.flatnonzero(np.diff(ys) > 2) + 1)
        hs += [int(r[-1] - r[0] + 1) for r in runs if len(r)]
    return float(np.percentile(hs, 30)) if hs else 2.0
