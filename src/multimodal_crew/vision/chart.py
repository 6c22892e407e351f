"""Bar and line charts read by measurement: the chart becomes a table of values.

1. The plot area is found from the axis lines (long dark runs), or from the tick labels.
2. The value axis is calibrated from its numeric tick labels (OCR), at least two, each snapped to
   its tick mark: ``value = a * pixel + b`` by least squares, refused when the ticks disagree.
3. Marks are segmented by colour inside the plot area: solid rectangles standing on a common
   baseline are bars (stacked when they stand on each other; negative when they hang from a zero
   line inside the plot), wide thin traces are lines (their line style from how much of their
   span they cover).
4. Colours and line styles are mapped to series through the legend: a small patch or line of
   the series' colour with a text label to its right (a number, such as a year, only when
   another legend entry stands in line with it).
5. Each bar or point gets its category from the axis labels and its value by measurement, with
   its uncertainty (1.5 pixels in value units). A printed value label next to it wins over the
   measurement; the two are checked against each other and a disagreement is reported.

Only charts drawn on a plain background with straight axes are read; anything else gives
``None`` and the description falls back to the OCR text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .reading import colour_name, hex_colour, parse_number
from .trace import line_y

__all__ = ["ChartValue", "Chart", "read_chart"]


@dataclass
class ChartValue:
    category: str
    series: str
    value: float
    how: str  # "label" (printed value label read) or "measured"
    uncertainty: float  # ± in value units, for a measurement
    measured: float  # the measurement, also when a label won
    label: str = ""  # the printed label, as read


@dataclass
class Chart:
    kind: str  # "bar" or "line"
    orientation: str  # "vertical" (categories along x) or "horizontal"
    stacked: bool
    categories: list[str]
    series: dict[str, str]  # series name -> how it looks ("green bars", "red dashed line")
    values: list[ChartValue]
    notes: list[str] = field(default_factory=list)
    ticks: list[str] = field(default_factory=list)  # the value axis's tick labels, as read

    def cell(self, category: str, series: str) -> ChartValue | None:
        return next((v for v in self.values if v.category == category and v.series == series), None)

    def as_dict(self) -> dict:
        return {
            "type": "chart",
            "kind": self.kind,
            "orientation": self.orientation,
            "stacked": self.stacked,
            "categories": self.categories,
            "series": self.series,
            "values": [v.__dict__ for v in self.values],
            "notes": self.notes,
            "ticks": self.ticks,
        }


# -- geometry helpers ------------------------------------------------------------------------------
@dataclass
class _Box:  # an OCR box, with its parsed number
    text: str
    x: float
    y: float
    w: float
    h: float
    num: float | None

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2


def _longest_run(mask_1d: np.ndarray) -> tuple[int, int]:
    """(length, start) of the longest run of True."""
    if not mask_1d.any():
        return 0, 0
    padded = np.concatenate([[0], mask_1d.astype(np.int8), [0]])
    d = np.diff(padded)
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    k = int(np.argmax(ends - starts))
    return int(ends[k] - starts[k]), int(starts[k])


def _fit(points: list[tuple[float, float]]) -> tuple[float, float, float] | None:
    """Least squares value = a * pixel + b over (pixel, value); drops the one worst point when
    that makes the rest agree. Returns (a, b, worst residual in pixels) or None."""
    if len(points) < 2:
        return None
    for drop in [None, *range(len(points))] if len(points) >= 4 else [None]:
        pts = [p for k, p in enumerate(points) if k != drop]
        px = np.array([p[0] for p in pts])
        vals = np.array([p[1] for p in pts])
        if np.ptp(px) < 10 or np.ptp(vals) == 0:
            continue
        a, b = np.polyfit(px, vals, 1)
        resid = np.abs(a * px + b - vals) / abs(a)
        if resid.max() <= 3.0:
            return float(a), float(b), float(resid.max())
    return None


def _ticks(dark: np.ndarray, axis_pos: int, along: str, lo: int, hi: int) -> list[float]:
    """Centres of the tick marks just outside an axis line (left of a y axis, below an x axis)."""
    if along == "y":
        band = dark[lo:hi, max(0, axis_pos - 6) : max(0, axis_pos - 1)]
        hits = band.any(axis=1)
    else:
        band = dark[axis_pos + 2 : axis_pos + 7, lo:hi]
        hits = band.any(axis=0)
    centres, start = [], None
    for k, on in enumerate(list(hits) + [False]):
        if on and start is None:
            start = k
        elif not on and start is not None:
            if k - start <= 4:
                centres.append(lo + (start + k - 1) / 2)
            start = None
    return centres


def _snap(pos: float, ticks: list[float], limit: float = 6.0) -> float:
    near = [t for t in ticks if abs(t - pos) <= limit]
    return min(near, key=lambda t: abs(t - pos)) if near else pos


def _merge_row(boxes: list[_Box]) -> list[_Box]:
    """Join boxes on one row that are closer than a character height (a label OCR split)."""
    out: list[_Box] = []
    for b in sorted(boxes, key=lambda b: b.x):
        if out and b.x - (out[-1].x + out[-1].w) < 0.6 * max(b.h, out[-1].h) and b.num is None and out[-1].num is None:
            a = out[-1]
            x1, y1 = min(a.x, b.x), min(a.y, b.y)
            x2, y2 = max(a.x + a.w, b.x + b.w), max(a.y + a.h, b.y + b.h)
            out[-1] = _Box(f"{a.text} {b.text}", x1, y1, x2 - x1, y2 - y1, None)
        else:
            out.append(b)
    return out


# -- the reader ------------------------------------------------------------------------------------
@dataclass
class _Mark:
    colour: tuple[int, int, int]
    x0: int
    y0: int
    x1: int  # exclusive
    y1: int


class _Reader:
    def __init__(self, rgb: np.ndarray, lines) -> None:
        self.rgb = rgb.astype(np.int16)
        self.h, self.w = rgb.shape[:2]
        self.dark = self.rgb.max(axis=2) < 100  # black or near it (axis lines, ticks); not a saturated colour
        self.boxes = [_Box(t.text, t.x, t.y, t.w, t.h, parse_number(t.text)) for t in lines]
        self.legend_boxes: list[_Box] = []  # the texts the legend named series with
        self.zero_v: float | None = None  # a zero line inside the plot (bars above and below it)
        self.zero_h: float | None = None
        # the background: the commonest colour of the image's border (bars may cover most of the inside)
        flat = np.concatenate([self.rgb[:3].reshape(-1, 3), self.rgb[-3:].reshape(-1, 3),
                               self.rgb[:, :3].reshape(-1, 3), self.rgb[:, -3:].reshape(-1, 3)]) // 8  # fmt: skip
        vals, counts = np.unique(flat, axis=0, return_counts=True)
        self.bg = vals[np.argmax(counts)] * 8 + 4

    # the frame -----------------------------------------------------------------------------------
    def frame(self) -> tuple[int, int, int, int] | None:
        """(left, top, right, bottom) of the plot area from the axis lines."""
        rows = [_longest_run(self.dark[y]) for y in range(self.h)]
        cols = [_longest_run(self.dark[:, x]) for x in range(self.w)]
        wide = [y for y, (n, _) in enumerate(rows) if n >= 0.35 * self.w]
        tall = [x for x, (n, _) in enumerate(cols) if n >= 0.35 * self.h]
        if not wide or not tall:
            return None
        bottom = max(wide)
        left = min(tall)
        n, start = cols[left]
        top = start
        n2, start2 = rows[bottom]
        right = start2 + n2 - 1
        if right - left < 50 or bottom - top < 40:
            return None
        return left, top, right, bottom

    # the value axis -------------------------------------------------------------------------------
    def value_axis(self, frame, orientation: str):
        left, top, right, bottom = frame
        nums = [b for b in self.boxes if b.num is not None]
        if orientation == "vertical":  # numbers left of the y axis, one above the other
            cand = [b for b in nums if b.x + b.w <= left + 3 and top - 12 <= b.cy <= bottom + 12]
            ticks = _ticks(self.dark, left, "y", max(0, top - 8), min(self.h, bottom + 8))
            pts = [(_snap(b.cy, ticks), b.num) for b in cand]
        else:  # numbers below the x axis, side by side
            cand = [b for b in nums if b.y >= bottom - 3 and b.y <= bottom + 40 and left - 20 <= b.cx <= right + 20]
            ticks = _ticks(self.dark, bottom, "x", max(0, left - 8), min(self.w, right + 8))
            pts = [(_snap(b.cx, ticks), b.num) for b in cand]
        fit = _fit(pts)
        if fit is None or len(cand) < 2:
            return None
        a, b, _ = fit
        if (orientation == "vertical" and a >= 0) or (orientation == "horizontal" and a <= 0):
            return None  # values must grow upwards / rightwards
        return a, b, cand

    def category_labels(self, frame, orientation: str, tick_boxes) -> list[_Box]:
        left, top, right, bottom = frame
        used = {id(b) for b in tick_boxes}
        if orientation == "vertical":
            below = [b for b in self.boxes if id(b) not in used and bottom - 2 <= b.y <= bottom + 30
                     and left - 10 <= b.cx <= right + 10]  # fmt: skip
            if not below:
                return []
            first = min(b.y for b in below)
            row = [b for b in below if b.y <= first + max(b.h for b in below) * 0.6]
            return _merge_row(row)
        side = [b for b in self.boxes if id(b) not in used and b.x + b.w <= left + 3 and top - 5 <= b.cy <= bottom + 5
                and b.x + b.w >= left - 60]  # fmt: skip
        return sorted(side, key=lambda b: b.cy)

    # marks ---------------------------------------------------------------------------------------
    def colours(self, frame) -> list[tuple[int, int, int]]:
        """The inks of the plot area that are not the background, commonest first."""
        left, top, right, bottom = frame
        area = self.rgb[top + 2 : bottom - 1, left + 2 : right - 1].reshape(-1, 3)
        far = np.abs(area - self.bg).sum(axis=1) > 60
        ink = area[far]
        if len(ink) == 0:
            return []
        q = ink // 24
        vals, counts = np.unique(q, axis=0, return_counts=True)
        order = np.argsort(-counts)
        out: list[tuple[int, int, int]] = []
        for k in order:
            if counts[k] < max(20, 0.0005 * len(area)):
                break
            members = ink[(q == vals[k]).all(axis=1)]
            rep = tuple(int(c) for c in np.median(members, axis=0))
            if all(sum(abs(a - b) for a, b in zip(rep, o, strict=True)) > 70 for o in out) and not self._blend(
                rep, out
            ):
                out.append(rep)
        return out

    def _blend(self, c, others) -> bool:
        """Is c an anti-aliasing mix of the background and a colour already found?"""
        c, bg = np.array(c, float), np.array(self.bg, float)
        for o in others:
            d = np.array(o, float) - bg
            if d @ d == 0:
                continue
            t = float((c - bg) @ d / (d @ d))
            if 0.1 < t < 0.95 and np.abs(bg + t * d - c).sum() < 45:
                return True
        return False

    def mask(self, colour) -> np.ndarray:
        return np.abs(self.rgb - np.array(colour)).sum(axis=2) <= 60

    def components(self, mask: np.ndarray) -> list[tuple[int, int, int, int, int]]:
        import cv2

        n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=4)
        return [tuple(int(v) for v in stats[k]) for k in range(1, n)]  # x, y, w, h, area

    def bars(self, frame) -> tuple[str, list[_Mark]]:
        """Solid rectangles standing on a common baseline (or on each other): vertical or horizontal."""
        left, top, right, bottom = frame
        found: list[_Mark] = []
        for colour in self.colours(frame):
            m = self.mask(colour)
            m[: top + 1] = False
            m[bottom:] = False
            m[:, : left + 1] = False
            m[:, right:] = False
            for x, y, w, h, area in self.components(m):
                if w >= 4 and h >= 3 and area >= 0.85 * w * h and area >= 40:
                    found.append(_Mark(colour, x, y, x + w, y + h))
        if not found:
            return "", []

        # a zero line inside the plot: positive bars end on it, negative ones start from it
        self.zero_v = _zero_line([(b.y1, b.y0) for b in found], top, bottom)
        self.zero_h = _zero_line([(b.x0, b.x1) for b in found], left, right, flip=True)
        zv, zh = self.zero_v, self.zero_h

        # vertical bars: bottoms at the baseline (the axis or a zero line) or on another bar's top
        def on_base_v(b: _Mark) -> bool:
            return (b.y1 >= bottom - 2 or (zv is not None and (abs(b.y1 - zv) <= 3 or abs(b.y0 - zv) <= 3))
                    or any(o is not b and abs(o.y0 - b.y1) <= 2 and o.x0 - 2 <= b.x0 and b.x1 <= o.x1 + 2
                           for o in found))  # fmt: skip

        def on_base_h(b: _Mark) -> bool:
            return (b.x0 <= left + 3 or (zh is not None and (abs(b.x0 - zh) <= 3 or abs(b.x1 - zh) <= 3))
                    or any(o is not b and abs(o.x1 - b.x0) <= 2 and o.y0 - 2 <= b.y0 and b.y1 <= o.y1 + 2
                           for o in found))  # fmt: skip

        vert = [b for b in found if on_base_v(b) and b.y1 - b.y0 >= 3]
        horiz = [b for b in found if on_base_h(b) and b.x1 - b.x0 >= 3]
        # a legend patch sits inside the plot but on no baseline; thin full-width strips are gridlines
        vert = [b for b in vert if b.x1 - b.x0 < 0.6 * (right - left)]
        horiz = [b for b in horiz if b.y1 - b.y0 < 0.6 * (bottom - top)]
        if len(vert) >= 2 and len(vert) >= len(horiz):
            return "vertical", vert
        if len(horiz) >= 2:
            return "horizontal", horiz
        return "", []

    def line_traces(self, frame) -> list[tuple[tuple[int, int, int], np.ndarray]]:
        """Per ink colour, its pixels in the plot area when they span much of it (a data line)."""
        left, top, right, bottom = frame
        out = []
        for colour in self.colours(frame):
            m = self.mask(colour)
            m[: top + 2] = False
            m[bottom - 1 :] = False
            m[:, : left + 2] = False
            m[:, right - 1 :] = False
            # gridlines: straight rows or columns of one colour across the plot
            rows_full = m.sum(axis=1) >= 0.8 * (right - left)
            m[rows_full] = False
            cols_full = m.sum(axis=0) >= 0.8 * (bottom - top)
            m[:, cols_full] = False
            xs = np.flatnonzero(m.any(axis=0))
            if colour_name(colour) in ("grey", "white") and min(colour) > 170:
                continue  # a light grey frame or grid, not a data line
            if len(xs) and np.ptp(xs) >= 0.4 * (right - left):
                out.append((colour, m))
        return out

    # legend --------------------------------------------------------------------------------------
    def legend(
        self, colours: list[tuple[int, int, int]], exclude: list[_Mark], skip=()
    ) -> tuple[dict[tuple, str], list]:
        """Series names by colour: a text whose left neighbourhood (a legend's patch or line
        sample) holds pixels of one series' colour; and those neighbourhoods (a line chart's
        legend samples are not data). Numbers are value labels, never series names."""
        names: dict[tuple, str] = {}
        handles = []
        masks = {c: self.mask(c) for c in colours}
        for m in masks.values():
            for t in self.boxes:  # text's anti-aliased edges have every grey: never a sample
                m[max(0, int(t.y)) : int(t.y + t.h) + 1, max(0, int(t.x)) : int(t.x + t.w) + 1] = False
        skipped = {id(t) for t in skip}
        found: list[tuple[_Box, tuple, int, tuple]] = []
        for t in sorted(self.boxes, key=lambda t: (t.y, t.x)):
            if id(t) in skipped:  # axis labels name no series
                continue
            half = max(3, int(t.h * 0.3))
            y0, y1 = int(t.cy) - half, int(t.cy) + half + 1
            x0, x1 = max(0, int(t.x) - int(max(40, 3 * t.h))), max(0, int(t.x) - 1)
            if y0 < 0 or x1 - x0 < 5:
                continue
            counts = []
            for c, m in masks.items():
                region = m[y0:y1, x0:x1].copy()
                for e in exclude:  # a bar that the text stands next to is not a legend sample
                    region[max(0, e.y0 - y0) : max(0, e.y1 - y0), max(0, e.x0 - x0) : max(0, e.x1 - x0)] = False
                counts.append((int(region.sum()), c))
            counts.sort(reverse=True)
            if not counts or counts[0][0] < 3 or (len(counts) > 1 and counts[1][0] > 0.5 * counts[0][0]):
                continue
            found.append((t, counts[0][1], counts[0][0], (x0, y0, x1 - x0, y1 - y0)))
        for t, c, n, handle in found:
            # a number is a value label, unless it is an entry of a legend: a clear sample to its
            # left, and another entry in line with it (one above the other, or side by side)
            if t.num is not None and not (n >= 12 and any(
                    u is not t and (abs(u.x - t.x) <= 3 and abs(u.cy - t.cy) <= 2.5 * t.h or abs(u.cy - t.cy) <= 3)
                    for u, _, m, _ in found if m >= 12)):  # fmt: skip
                continue
            if c not in names:
                names[c] = t.text
                handles.append(handle)
                self.legend_boxes.append(t)
        return names, handles

    def style(self, m: np.ndarray) -> str:
        xs = np.flatnonzero(m.any(axis=0))
        if len(xs) == 0:
            return "solid"
        cover = len(xs) / (xs[-1] - xs[0] + 1)
        return "solid" if cover >= 0.93 else "dashed" if cover >= 0.55 else "dotted"


def _zero_line(spans: list[tuple[int, int]], lo: int, hi: int, flip: bool = False) -> float | None:
    """A baseline inside the plot that bars stand on from both sides: (end, start) pixel pairs,
    the end of a positive bar and the start of a negative one meeting at the zero line. For
    horizontal bars (``flip``) the pairs are (start, end) and positive bars start at the line."""
    if len(spans) < 3:
        return None
    best, where = 0, None
    for e in sorted({p for sp in spans for p in sp}):
        if not (lo + 5 < e < hi - 5):
            continue
        pos = sum(abs(a - e) <= 3 for a, _ in spans)
        neg = sum(abs(b - e) <= 3 for _, b in spans)
        if pos and neg and pos + neg > best:
            best, where = pos + neg, float(e)
    if where is None or best < 0.6 * len(spans):
        return None
    return where


def _labels_for(points: list[tuple[float, float, ChartValue]], boxes: list[_Box], reach: float) -> None:
    """Give each printed number to the nearest point (x, y in pixels) within reach; the label wins."""
    taken: set[int] = set()
    for bx in boxes:
        if bx.num is None:
            continue
        near = [(abs(px - bx.cx) + abs(py - bx.cy), k) for k, (px, py, _) in enumerate(points)
                if abs(px - bx.cx) <= reach and abs(py - bx.cy) <= 2.5 * reach]  # fmt: skip
        if not near:
            continue
        _, k = min(near)
        if k in taken:
            continue
        taken.add(k)
        v = points[k][2]
        v.label, v.value, v.how = bx.text, float(bx.num), "label"


def read_chart(image, lines) -> Chart | None:
    """The chart in ``image`` (a CheckedImage) as a table of values, or None if it is not a bar or
    line chart this reader can measure. ``lines`` are the image's OCR boxes."""
    rgb = np.asarray(image.image.convert("RGB"))
    r = _Reader(rgb, lines)
    frame = r.frame()
    if frame is None:
        return None
    left, top, right, bottom = frame
    orientation, bars = r.bars(frame)
    kind = "bar" if bars else "line"
    if kind == "line":
        orientation = "vertical"
    axis = r.value_axis(frame, orientation)
    if axis is None:
        return None
    a, b, tick_boxes = axis

    def value_at(pixel: float) -> float:  # the calibrated value axis
        return a * pixel + b

    cats = r.category_labels(frame, orientation, tick_boxes)
    if len(cats) < 2:
        return None
    unit = abs(a) * 1.5  # a measurement is good to about 1.5 pixels
    used = {id(t) for t in tick_boxes} | {id(c) for c in cats}
    inside = [t for t in r.boxes if id(t) not in used and left - 5 <= t.cx <= right + 5 and top - 15 <= t.cy <= bottom]

    def unnamed(boxes: list[_Box]) -> list[_Box]:  # a legend's entries are no value labels
        return [t for t in boxes if all(t is not u for u in r.legend_boxes)]

    values: list[ChartValue] = []
    series_look: dict[str, str] = {}
    points: list[tuple[float, float, ChartValue]] = []
    if kind == "bar":
        colours = sorted({m.colour for m in bars}, key=lambda c: [m.colour for m in bars].index(c))
        names, _ = r.legend(colours, bars, skip=[*cats, *tick_boxes])
        stacked = any(
            o is not m and o.colour != m.colour and abs(o.y0 - m.y1) <= 2 and abs(o.x0 - m.x0) <= 3
            if orientation == "vertical"
            else o is not m and o.colour != m.colour and abs(o.x1 - m.x0) <= 2 and abs(o.y0 - m.y0) <= 3
            for m in bars
            for o in bars
        )
        for c in colours:
            nm = names.get(c, "" if len(colours) == 1 else colour_name(c))
            series_look[nm] = f"{colour_name(c)} bars ({hex_colour(c)})"
        centres = [(c.cx if orientation == "vertical" else c.cy) for c in cats]
        for m in bars:
            mid = (m.x0 + m.x1) / 2 if orientation == "vertical" else (m.y0 + m.y1) / 2
            k = int(np.argmin([abs(mid - c) for c in centres]))
            if abs(mid - centres[k]) > 0.75 * (np.median(np.diff(sorted(centres))) if len(centres) > 1 else 1e9):
                continue
            zv, zh = r.zero_v, r.zero_h
            if orientation == "vertical":
                hi_v, lo_v = value_at(m.y0), value_at(m.y1)
                px, py = mid, m.y0
                if zv is not None and abs(m.y0 - zv) <= 3:  # a negative bar, hanging from the zero line
                    measured, py = lo_v, m.y1 + 8
                elif zv is not None and abs(m.y1 - zv) <= 3:
                    measured = hi_v
                else:
                    measured = hi_v - lo_v if m.y1 < bottom - 2 else hi_v  # a stacked segment: its own height
            else:
                hi_v, lo_v = value_at(m.x1), value_at(m.x0)
                px, py = m.x1, mid
                if zh is not None and abs(m.x1 - zh) <= 3:  # a negative bar, left of the zero line
                    measured, px = lo_v, m.x0 - 24
                elif zh is not None and abs(m.x0 - zh) <= 3:
                    measured = hi_v
                else:
                    measured = hi_v - lo_v if m.x0 > left + 3 else hi_v
            nm = names.get(m.colour, "" if len(colours) == 1 else colour_name(m.colour))
            v = ChartValue(cats[k].text, nm, round(measured, 6), "measured", unit, round(measured, 6))
            values.append(v)
            if orientation == "vertical":
                points.append((px, py, v))
            else:
                points.append((px + 12, py, v))  # a label stands right of a horizontal bar's end
        reach = max(8.0, 0.45 * (np.median([m.x1 - m.x0 for m in bars]) if orientation == "vertical" else 20))
        _labels_for(points, unnamed(inside), reach)
    else:
        stacked = False
        traces = r.line_traces(frame)
        if not traces:
            return None
        names, handles = r.legend([c for c, _ in traces], [], skip=[*cats, *tick_boxes])
        for _, m in traces:
            for x, y, w, h in handles:  # a legend sample inside the plot is not data
                m[max(0, y - 2) : y + h + 2, max(0, x - 2) : x + w + 2] = False
            for t in r.boxes:  # nor is text (its anti-aliased edges have every grey)
                m[max(0, int(t.y) - 1) : int(t.y + t.h) + 2, max(0, int(t.x) - 1) : int(t.x + t.w) + 2] = False
        xs_cat = [c.cx for c in cats]
        ticks = _ticks(r.dark, bottom, "x", max(0, left - 8), min(r.w, right + 8))
        xs_cat = [_snap(x, ticks) for x in xs_cat]
        for colour, m in traces:
            nm = names.get(colour, "" if len(traces) == 1 else colour_name(colour))
            # the legend's own sample is not data: drop the legend handle next to its text
            series_look[nm] = f"{colour_name(colour)} {r.style(m)} line ({hex_colour(colour)})"
            cols = np.flatnonzero(m.any(axis=0))
            for cat, x in zip(cats, xs_cat, strict=True):
                y = line_y(m, int(round(x)), cols)
                if y is None:
                    continue
                val = value_at(y)
                v = ChartValue(cat.text, nm, round(val, 6), "measured", unit, round(val, 6))
                values.append(v)
                points.append((x, y - 10, v))
        _labels_for(points, unnamed(inside), 22.0)
    notes = []
    span = abs(
        value_at(top if orientation == "vertical" else right) - value_at(bottom if orientation == "vertical" else left)
    )
    for v in values:
        if v.how != "label":
            continue
        off = abs(v.value - v.measured)
        where = f"{v.category}{' / ' + v.series if v.series else ''}"
        if off > max(5 * v.uncertainty, 0.1 * abs(v.measured), 0.05 * span):  # not this point's label, or misread
            notes.append(f"{where}: the text {v.label!r} next to it is far from the measured {_fmt(v.measured)}; "
                         "the measurement is used")  # fmt: skip
            v.value, v.how, v.label = v.measured, "measured", ""
        elif off > max(3 * v.uncertainty, 0.03 * abs(v.value)):
            notes.append(f"{where}: label {v.label} but measured {_fmt(v.measured)}; the label is used")
    if not values:
        return None
    order = {c.text: k for k, c in enumerate(cats)}
    values.sort(key=lambda v: (order.get(v.category, 99), v.series))
    ticks = [t.text for t in tick_boxes]
    return Chart(kind, orientation, stacked, [c.text for c in cats], series_look, values, notes, ticks)


def _fmt(v: float) -> str:
    return f"{v:,.2f}".rstrip("0").rstrip(".") if abs(v) < 1000 else f"{v:,.0f}"
