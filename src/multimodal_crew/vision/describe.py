"""The offline describer: "describe, then reason" for a text-only model.

RapidOCR (its Chinese and English models ship inside the wheel) reads the text
with positions; lines are put in reading order (top to bottom, then left to
right within a row); simple facts are measured (size, dominant colours). The
result is a plain-text description the embedded model can reason over. It does
not see shapes, counts of objects or spatial relations the way a vision model does.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from .images import CheckedImage
from .reading import colour_name, parse_number, text_rows

__all__ = ["TextLine", "Description", "describe", "ocr_lines", "dominant_colours"]


@dataclass
class TextLine:
    text: str
    x: int
    y: int
    w: int
    h: int
    score: float


@dataclass
class Description:
    width: int
    height: int
    lines: list[TextLine]
    colours: list[tuple[str, float]]
    tables: list[dict] = field(default_factory=list)  # a chart's values, a diagram's graph or a table's grid

    def as_text(self) -> str:
        out = [f"Image: {self.width}x{self.height} pixels."]
        if self.colours:
            out.append("Dominant colours: " + ", ".join(f"{n} {share:.0%}" for n, share in self.colours) + ".")
        from .evidence import used_text

        used = used_text(self.tables)
        rest = [t for t in self.lines if not used(t.text)]  # text a chart or grid below already holds
        if rest:
            intro = "Other text read by OCR" if len(rest) < len(self.lines) else "Text read by OCR"
            out.append(
                f"{intro}, in reading order (rows top to bottom; | separates items on one row; "
                "(x,y) is the position of the row's first item):"
            )
            for row in text_rows(rest):
                first = row[0]
                out.append(f"({first.x},{first.y}) " + " | ".join(t.text for t in row))
            cols = [] if self.tables else _columns(self.lines)
            if cols:
                out.append(
                    "Numbers standing above each label of the bottom row (aligned by x position, "
                    "as in a labelled bar or line chart): " + "; ".join(cols) + "."
                )
        elif not self.lines:
            out.append("OCR found no text.")
        from .evidence import reading_facts, reading_text

        for t in self.tables:
            out.append(reading_text(t))
            found = reading_facts(t)
            if found:
                out.append("Computed from this table:\n" + "\n".join(f"- {f}" for f in found))
        return "\n".join(out)


_ENGINE: list = []  # the one RapidOCR engine of the process, made on first use
_LOCK = threading.RLock()  # threads (a server's requests) share it: made once, read one image at a time,
# as onnxruntime already uses every core for one image and RapidOCR is not documented as thread-safe


def _engine():
    with _LOCK:
        if not _ENGINE:
            from rapidocr_onnxruntime import RapidOCR

            _ENGINE.append(RapidOCR())
        return _ENGINE[0]


def _ocr(array, scale: float) -> list[TextLine]:
    with _LOCK:
        result, _ = _engine()(array)
    lines = []
    for box, text, score in result or []:
        xs = [p[0] / scale for p in box]
        ys = [p[1] / scale for p in box]
        lines.append(
            TextLine(
                str(text).strip(),
                int(min(xs)),
                int(min(ys)),
                int(max(xs) - min(xs)),
                int(max(ys) - min(ys)),
                float(score),
            )
        )
    return [t for t in lines if t.text]


def _overlaps(a: TextLine, b: TextLine) -> bool:
    ax, ay, bx, by = a.x + a.w / 2, a.y + a.h / 2, b.x + b.w / 2, b.y + b.h / 2
    return abs(ax - bx) <= max(a.w, b.w) / 2 and abs(ay - by) <= max(a.h, b.h) / 2


def ocr_lines(image: CheckedImage) -> list[TextLine]:
    """Text boxes in image coordinates. Small images are read at two scales and the results
    merged: small labels that touch lines or frames are often found at only one of them."""
    from PIL import Image

    lines = _ocr(np.asarray(image.image), 1.0)
    if max(image.width, image.height) <= 1200:
        big = image.image.resize((image.width * 2, image.height * 2), Image.LANCZOS)
        for extra in _ocr(np.asarray(big), 2.0):
            same = [t for t in lines if _overlaps(t, extra)]
            if not same:
                lines.append(extra)
    lines = lines + _axis_gaps(image, lines)
    return lines + _column_gaps(image, lines)


def _reread(image: CheckedImage, box: tuple[int, int, int, int], scale: int = 3) -> list[TextLine]:
    """OCR one region on its own, enlarged on a white margin; boxes in image coordinates,
    leaving out text cut by the region's left or right edge."""
    from PIL import Image

    crop = image.image.crop(box).convert("RGB")
    pad = 20
    canvas = Image.new("RGB", (crop.width * scale + 2 * pad, crop.height * scale + 2 * pad), "white")
    canvas.paste(crop.resize((crop.width * scale, crop.height * scale), Image.LANCZOS), (pad, pad))
    out = []
    for t in _ocr(np.asarray(canvas), scale):
        x, y = t.x - pad // scale, t.y - pad // scale
        if x <= 1 or x + t.w >= crop.width - 1:
            continue
        out.append(TextLine(t.text, box[0] + x, box[1] + y, t.w, t.h, t.score))
    return out


def _axis_labels(lines: list[TextLine]) -> tuple[list[TextLine], float]:
    """The bottom row if it looks like a category axis (3+ labels), and its usual spacing."""
    rows = text_rows(lines)
    if len(rows) < 2 or len(rows[-1]) < 3:
        return [], 0.0
    bottom = rows[-1]
    centres = [t.x + t.w / 2 for t in bottom]
    gaps = [b - a for a, b in zip(centres, centres[1:], strict=False)]
    return bottom, sorted(gaps)[len(gaps) // 2]  # the median: the usual distance between labels


def _column_gaps(image: CheckedImage, lines: list[TextLine]) -> list[TextLine]:
    """Re-read the column above each axis label that has no number above it: a value label
    drawn next to a line or a marker is often missed when the whole image is read."""
    bottom, spacing = _axis_labels(lines)
    if spacing < 8:
        return []
    found = []
    for label in bottom:
        c = label.x + label.w / 2
        if any(_is_number(u.text) and abs(u.x + u.w / 2 - c) <= 0.4 * spacing for u in lines if u.y < label.y):
            continue
        box = (int(max(0, c - 0.4 * spacing)), 0, int(min(image.width, c + 0.4 * spacing)), max(1, label.y - 2))
        for t in _reread(image, box, 2):
            if _is_number(t.text) and not any(_overlaps(t, u) for u in lines):
                found.append(t)
    return found


def _axis_gaps(image: CheckedImage, lines: list[TextLine]) -> list[TextLine]:
    """Re-read the holes in an evenly spaced bottom row of labels (a category axis).

    OCR misses a short label now and then ("May" between "Apr" and "Jun"). Where two neighbours
    of the bottom row are about twice the usual spacing apart, the expected spot is read again
    on its own.
    """
    bottom, spacing = _axis_labels(lines)
    if spacing < 8:
        return []
    top = min(t.y for t in bottom)
    height = max(t.y + t.h for t in bottom) - top
    centres = [t.x + t.w / 2 for t in bottom]
    found = []
    for a, b in zip(centres, centres[1:], strict=False):
        gap = b - a
        missing = round(gap / spacing) - 1
        if missing < 1 or abs(gap - (missing + 1) * spacing) > 0.25 * spacing:
            continue
        for j in range(1, missing + 1):
            cx = a + j * gap / (missing + 1)
            box = (int(max(0, cx - 0.45 * spacing)), int(max(0, top - 0.5 * height)),
                   int(min(image.width, cx + 0.45 * spacing)), int(min(image.height, top + 1.5 * height)))  # fmt: skip
            found.extend(_reread(image, box))
    return found


def _is_number(text: str) -> bool:
    return parse_number(text) is not None


def _columns(lines: list[TextLine]) -> list[str]:
    """For chart-like layouts: the numbers above each label of the bottom text row.

    A bottom row of three or more labels is taken as a category axis; a number whose
    horizontal centre lies within that label's column (40% of the label spacing) is
    paired with it. Axis ticks at the left fall in no column and are left out.
    """
    bottom, _ = _axis_labels(lines)
    if not bottom:
        return []
    rest = [u for u in lines if u not in bottom]
    centres = [t.x + t.w / 2 for t in bottom]
    spacing = min(b - a for a, b in zip(centres, centres[1:], strict=False)) or 1
    out = []
    pairs = []
    for t, c in zip(bottom, centres, strict=True):
        above = [u for u in rest if _is_number(u.text) and abs(u.x + u.w / 2 - c) <= 0.4 * spacing]
        if above:
            out.append(f"{t.text}: " + ", ".join(u.text for u in sorted(above, key=lambda u: u.y)))
            if len(above) == 1:
                pairs.append((float(above[0].text.replace(",", "").rstrip("%")), t.text, above[0].text))
    if len(out) < 2:
        return []
    if len(pairs) >= 2:
        hi, lo = max(pairs), min(pairs)
        out.append(f"the largest is {hi[1]} ({hi[2]}), the smallest is {lo[1]} ({lo[2]})")
    return out


def dominant_colours(image: CheckedImage, k: int = 4) -> list[tuple[str, float]]:
    small = image.image.copy()
    small.thumbnail((128, 128))
    q = small.quantize(colors=8)
    palette = q.getpalette()
    counts = sorted(q.getcolors() or [], reverse=True)
    total = sum(c for c, _ in counts) or 1
    shares: dict[str, float] = {}
    for c, idx in counts:
        name = colour_name(palette[idx * 3 : idx * 3 + 3])
        shares[name] = shares.get(name, 0.0) + c / total
    return [(n, s) for n, s in sorted(shares.items(), key=lambda kv: -kv[1])[:k] if s >= 0.02]


def describe(image: CheckedImage) -> Description:
    """OCR text, colours, and what the readers find: a chart's values, a diagram's graph, a
    table's grid or a scene's shapes (tried in that order: the first that finds its kind wins),
    and a form's checkboxes and fields (beside any of those: a form may hold a table)."""
    from .chart import read_chart
    from .diagram import read_diagram
    from .grid import read_grid
    from .marks import read_form
    from .shapes import read_shapes

    lines = ocr_lines(image)
    found = (read_chart(image, lines) or read_diagram(image, lines) or read_grid(lines, image.width)
             or read_shapes(image))  # fmt: skip
    form = read_form(image, lines)
    tables = [r.as_dict() for r in (form, found) if r]
    return Description(image.width, image.height, lines, dominant_colours(image), tables)
