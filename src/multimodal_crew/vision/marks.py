"""Forms read as marks and fields: which checkbox or radio button is marked, what is written where.

1. Marks. Small square boxes are closed frames in the ink (what survives opening the ink with
   short horizontal and vertical lines: ticks and crosses are diagonal and fall away) whose four
   sides are drawn and whose inside is not solid (a chart's legend swatch is solid). Radio
   buttons are round rings with a large hole. Both must be about a text line high, stand free of
   other ink on their left and right, and line up with at least one mark of the same kind and
   size (a lone "o" or "口" inside a word does not). A mark is marked when there is ink inside it
   (a tick, an X, a filled square or dot).
2. Labels. The text right of a mark (or left of it, when most marks are read that way) is its
   option. OCR often reads the mark as a glyph ("口单人间", "O Cash") or runs a heading and an
   option into one line ("房型：口单人间"): such lines are cut at the mark.
3. Groups. Marks on one row, and rows or columns of marks one under the other with no other text
   between them, are one group; its heading is the text on the row left of the first mark
   ("Payment method: [x] Cash ...") or the text just above it ("Room type" over a column).
4. Fields. A box several text heights wide (not a table: no lines inside it, and its label is not
   inside another box) or an underline, with a label left of it on its row or just above it;
   the value is the text in the box or on the line. On a page without marks, only labels ending
   with a colon ("Name:") count, and at least one field must be filled in.

``read_form(image, lines)`` returns ``None`` when none of this is found, so tables, charts,
receipts and signs are left to the other readers.

>>> d = read_form(image, ocr_lines(image)).as_dict()   # doctest: +SKIP
>>> form_text(d)                                        # doctest: +SKIP
'Form read from the image ...\\nRoom type: [x] Single, [ ] Double, [ ] Twin\\nArrival date: 13 June 2025'
>>> form_question_facts(d, "Which option is selected under “Room type”?")   # doctest: +SKIP
['under “Room type” the marked option is: Single (not marked: Double, Twin)']
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

import numpy as np

from .reading import loose_key

__all__ = ["Form", "read_form", "form_text", "form_question_facts", "form_used"]

_GLYPHS = set("口□☐☑☒■○◯〇●◉⊙⦿区回×xXα[]|()√✓✔✗✘")
_ROUNDISH = set("Oo0Q〇○◯")


@dataclass
class _Piece:
    """A piece of OCR text (a whole line, or the part of one left or right of a mark)."""

    text: str
    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    @property
    def x1(self) -> float:
        return self.x + self.w


@dataclass
class _Mark:
    kind: str  # "box" or "radio"
    x0: int
    y0: int
    x1: int
    y1: int
    marked: bool
    label: str = ""

    @property
    def s(self) -> float:
        return (self.x1 - self.x0 + self.y1 - self.y0) / 2

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2


@dataclass
class Option:
    label: str
    marked: bool
    kind: str = "box"  # "box" (a checkbox) or "radio"


@dataclass
class Group:
    heading: str
    options: list[Option]


@dataclass
class Field:
    label: str
    value: str


@dataclass
class Form:
    groups: list[Group] = field(default_factory=list)
    fields: list[Field] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "type": "form",
            "groups": [
                {
                    "heading": g.heading,
                    "options": [{"label": o.label, "marked": o.marked, "kind": o.kind} for o in g.options],
                }  # fmt: skip
                for g in self.groups
            ],
            "fields": [{"label": f.label, "value": f.value} for f in self.fields],
        }


# -- pixels ----------------------------------------------------------------------------------------
def _gray(image) -> np.ndarray:
    return np.asarray(image.image.convert("L"), dtype=np.uint8)


def _ink(gray: np.ndarray) -> np.ndarray:
    return (gray < float(np.median(gray)) * 0.65).astype(np.uint8)


def _side_cover(ink: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> float:
    """The smallest share, over the four sides of a box, of the side's length that is drawn."""
    b = 2
    top = ink[y0 : y0 + b, x0 : x1 + 1].any(axis=0).mean()
    bottom = ink[max(y1 - b + 1, 0) : y1 + 1, x0 : x1 + 1].any(axis=0).mean()
    left = ink[y0 : y1 + 1, x0 : x0 + b].any(axis=1).mean()
    right = ink[y0 : y1 + 1, max(x1 - b + 1, 0) : x1 + 1].any(axis=1).mean()
    return float(min(top, bottom, left, right))


def _stroke(ink: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> int:
    """The width of a box's border, measured on the middle row and column from each side."""
    cy, cx = (y0 + y1) // 2, (x0 + x1) // 2
    runs = []
    for seq in (ink[cy, x0 : x1 + 1], ink[cy, x0 : x1 + 1][::-1], ink[y0 : y1 + 1, cx], ink[y0 : y1 + 1, cx][::-1]):
        n = 0
        while n < len(seq) and seq[n]:
            n += 1
        runs.append(n)
    return max(1, int(np.median(runs)))


def _free_sides(ink: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> bool:
    """No ink in narrow strips just left and right of a mark (letters in a word touch their
    neighbours; a mark stands apart from its label). The strips leave out the top, where a tick
    may overflow the box."""
    s = x1 - x0 + 1
    gap = max(2, round(0.22 * s))
    ya, yb = y0 + round(0.35 * s), y1 - round(0.1 * s)
    left = ink[ya:yb, max(0, x0 - 1 - gap) : max(0, x0 - 1)]
    right = ink[ya:yb, x1 + 2 : x1 + 2 + gap]
    return (left.size == 0 or left.mean() < 0.02) and (right.size == 0 or right.mean() < 0.02)


def _gap_inside(gray: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> bool:
    """A solid-looking square that is a frame around a filled square: on at least three sides,
    going inwards, the grey level rises (the thin gap) and falls again (the fill)."""
    g = gray.astype(int)
    cy, cx, n = (y0 + y1) // 2, (x0 + x1) // 2, max(3, (x1 - x0) // 3)
    seqs = [g[cy, x0 : x0 + n], g[cy, x1 - n + 1 : x1 + 1][::-1], g[y0 : y0 + n, cx], g[y1 - n + 1 : y1 + 1, cx][::-1]]
    found = 0
    for q in seqs:
        if len(q) >= 3:
            k = int(np.argmax(q[1:-1])) + 1
            found += q[k] - max(q[:k].min(), q[k + 1 :].min()) >= 25
    return found >= 3


def _boxes(ink: np.ndarray, gray: np.ndarray, th: float, cv2) -> list[_Mark]:
    k = max(5, round(0.35 * th)) | 1  # odd: an even kernel shifts the opening by a pixel
    frame = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((1, k), np.uint8)) | cv2.morphologyEx(
        ink, cv2.MORPH_OPEN, np.ones((k, 1), np.uint8)
    )
    contours, hier = cv2.findContours(frame, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    out: list[_Mark] = []
    for i, c in enumerate(contours if hier is not None else []):
        if hier[0][i][3] == -1:
            if hier[0][i][2] == -1:  # no hole: a solid square, or a box filled almost to its frame
                x, y, w, h = cv2.boundingRect(c)
                if (0.35 * th <= w <= 1.9 * th and 0.8 <= w / h <= 1.25 and _free_sides(ink, x, y, x + w - 1, y + h - 1)
                        and _gap_inside(gray, x, y, x + w - 1, y + h - 1)):  # fmt: skip
                    out.append(_Mark("box", x, y, x + w - 1, y + h - 1, True))
            continue  # the holes of the frames: a box's inside, whatever a tick does outside it
        x, y, w, h = cv2.boundingRect(c)
        if not (0.35 * th <= w <= 1.9 * th and 0.35 * th <= h <= 1.9 * th and 0.8 <= w / h <= 1.25):
            continue
        x, y, w, h = x + 1, y + 1, w - 2, h - 2  # a hole's contour runs on the ink around it
        cy = y + h // 2
        lw = 0
        while x - lw - 1 >= 0 and ink[cy, x - lw - 1] and lw < 0.3 * w:
            lw += 1
        if lw == 0:
            continue
        x, y, w, h = x - lw, y - lw, w + 2 * lw, h + 2 * lw
        if x < 0 or y < 0 or any(abs(m.x0 - x) < 3 and abs(m.y0 - y) < 3 for m in out):
            continue
        x1, y1 = x + w - 1, y + h - 1
        if _side_cover(ink, x, y, x1, y1) < 0.85 or not _free_sides(ink, x, y, x1, y1):
            continue
        d = lw + 1
        inside = ink[y + d : y1 - d + 1, x + d : x1 - d + 1]
        out.append(_Mark("box", x, y, x1, y1, bool(inside.size and inside.mean() > 0.06)))
    return out


def _radios(ink: np.ndarray, th: float, cv2) -> list[_Mark]:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    out = []
    for i in range(1, n):
        x, y, w, h, px = (int(v) for v in stats[i])
        if not (0.5 * th <= w <= 2.0 * th and 0.5 * th <= h <= 2.0 * th and 0.8 <= w / h <= 1.25):
            continue
        x1, y1 = x + w - 1, y + h - 1
        part = (labels[y : y1 + 1, x : x1 + 1] == i).astype(np.uint8)
        contours, _ = cv2.findContours(part, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        c = max(contours, key=cv2.contourArea)
        area, per = cv2.contourArea(c), cv2.arcLength(c, True)
        if per == 0 or 4 * np.pi * area / per**2 < 0.7 or not 0.8 <= area / (np.pi * (w - 1) * (h - 1) / 4) <= 1.12:
            continue  # not round (a square's area is 4/π of its inscribed ellipse's)
        if _stroke(part, 0, 0, w - 1, h - 1) > max(2, 0.22 * w):
            continue  # a disc, or a thick ring: a letter "o" or "O"
        if not _free_sides(ink, x, y, x1, y1):
            continue
        cy, cx = (h - 1) / 2, (w - 1) / 2
        r = 0.3 * (w + h) / 2
        yy, xx = np.ogrid[0:h, 0:w]
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
        dot = ink[y : y1 + 1, x : x1 + 1][disc]
        out.append(_Mark("radio", x, y, x1, y1, bool(dot.size and dot.mean() > 0.3)))
    return out


def _aligned(marks: list[_Mark]) -> list[_Mark]:
    """Marks that line up with another mark of the same kind and size (same row or column)."""
    keep = []
    for m in marks:
        for n in marks:
            if n is m or n.kind != m.kind or not 0.75 <= n.s / m.s <= 1.33:
                continue
            row = abs(n.cy - m.cy) < 0.4 * m.s and abs(n.cx - m.cx) < 40 * m.s
            col = abs(n.x0 - m.x0) < 0.5 * m.s and abs(n.cy - m.cy) < 12 * m.s
            if row or col:
                keep.append(m)
                break
    return keep


# -- text ------------------------------------------------------------------------------------------
def _weight(ch: str) -> float:
    if ord(ch) >= 0x2E80:
        return 1.0
    if ch == " ":
        return 0.32
    if ch in "il.,:;|!'`I1()[]":
        return 0.32
    if ch in "mwMW@%":
        return 0.9
    if ch.isupper() or ch.isdigit():
        return 0.66
    return 0.56


def _cut(p: _Piece, a: float, b: float, ink: np.ndarray | None = None) -> tuple[_Piece | None, _Piece | None]:
    """The parts of a piece left of x=a and right of x=b (a mark, or a box's edge, lies between).
    OCR may or may not have read the mark as a glyph, and its box may reach past the text: the
    characters are shared out by their widths over the inked stretches left and right of the
    mark; a colon ends a heading run into its first option ("房型：口单人间")."""
    wl, wr = max(0.0, a - p.x), max(0.0, p.x1 - b)
    if ink is not None:
        ya, yb = int(max(0, p.y)), int(p.y + p.h)
        cols_l = np.flatnonzero(ink[ya:yb, int(max(0, p.x)) : int(max(0, a - 1))].any(axis=0))
        cols_r = np.flatnonzero(ink[ya:yb, int(b + 2) : int(p.x1) + 1].any(axis=0))
        wl = float(cols_l[-1] + 1) if cols_l.size else 0.0
        wr = float(int(p.x1) + 1 - int(b + 2) - cols_r[0]) if cols_r.size else 0.0
    colon = re.search(r"[:：]", p.text)
    if wl < 0.3 * p.h:
        lt, rt = "", p.text
    elif wr < 0.3 * p.h:
        lt, rt = p.text, ""
    elif colon and colon.end() < len(p.text):
        lt, rt = p.text[: colon.end()], p.text[colon.end() :]
    else:
        ws = [_weight(c) for c in p.text]
        total, share, pos = sum(ws) or 1.0, wl / (wl + wr), 0.0
        left, right = [], []
        for c, wc in zip(p.text, ws, strict=True):
            (left if (pos + wc / 2) / total < share else right).append(c)
            pos += wc
        lt, rt = "".join(left), "".join(right)
    lt = _strip_glyph(lt[::-1])[::-1].strip()
    rt = _strip_glyph(rt).strip()
    lp = _Piece(lt, p.x, p.y, max(1.0, a - p.x), p.h) if lt else None
    rp = _Piece(rt, b, p.y, max(1.0, p.x1 - b), p.h) if rt else None
    return lp, rp


def _strip_glyph(t: str) -> str:
    """Drop a mark read as a character at the start of ``t`` ("口旅行", "O Cash", "OWindow")."""
    t = t.lstrip()
    if not t:
        return t
    c, nxt = t[0], t[1:2]
    if c in _GLYPHS - set("xX") or (c in _ROUNDISH | set("xX") and (nxt == " " or (nxt.isupper() and
                                                                               not t[1:].isupper()) or
                                                                    (nxt and ord(nxt) >= 0x2E80))):  # fmt: skip
        return t[1:].lstrip()
    return t


def _pieces(lines, marks: list[_Mark], ink: np.ndarray) -> list[_Piece]:
    out = [_Piece(t.text, t.x, t.y, t.w, t.h) for t in lines if t.text.strip()]
    for m in marks:
        nxt = []
        for p in out:
            inside = m.x0 - 2 <= p.x and p.x1 <= m.x1 + 2 and m.y0 - 0.5 * m.s <= p.cy <= m.y1 + 0.5 * m.s
            if inside:
                continue  # the mark itself read as text ("X", "区")
            rows = abs(p.cy - m.cy) < 0.6 * max(p.h, m.s)
            if rows and p.x < m.cx < p.x1:
                a, b = _cut(p, m.x0 - 1, m.x1 + 1, ink)
                nxt += [q for q in (a, b) if q]
            else:
                nxt.append(p)
        out = nxt
    for p in out:  # a label read with its mark but placed just right of it
        p.text = _strip_glyph(p.text) if any(abs(p.x - m.x1) < 0.8 * m.s and abs(p.cy - m.cy) < m.s
                                             for m in marks) else p.text  # fmt: skip
    return [p for p in out if p.text]


def _label_marks(marks: list[_Mark], pieces: list[_Piece], th: float) -> set[int]:
    """Give each mark the text next to it, on the side (right or left) most marks of its row prefer."""
    near: list[tuple[int | None, float, int | None, float]] = []
    for m in marks:
        best_r = best_l = None
        gr = gl = float("inf")
        for i, p in enumerate(pieces):
            if abs(p.cy - m.cy) > 0.6 * max(p.h, m.s):
                continue
            if p.x >= m.x1 - 0.5 * m.s and p.x - m.x1 < min(gr, 2.5 * th):
                best_r, gr = i, p.x - m.x1
            if p.x1 <= m.x0 + 0.5 * m.s and m.x0 - p.x1 < min(gl, 2.5 * th):
                best_l, gl = i, m.x0 - p.x1
        near.append((best_r, gr, best_l, gl))
    votes = [(r is not None and gr <= gl) - (lft is not None and gl < gr) for r, gr, lft, gl in near]
    overall = sum(votes)
    used: set[int] = set()
    for m, (r, _, lft, _) in zip(marks, near, strict=True):
        row = sum(v for n, v in zip(marks, votes, strict=True) if abs(n.cy - m.cy) < 0.5 * m.s)
        i = r if (row or overall) >= 0 else lft  # the side most marks of its row prefer, else of the page
        if i is not None and i not in used:
            m.label = pieces[i].text
            used.add(i)
    return used


def _groups(marks: list[_Mark], pieces: list[_Piece], used: set[int], th: float) -> list[Group]:
    marks = [m for m in marks if m.label]
    free = [p for i, p in enumerate(pieces) if i not in used]
    rows: list[list[_Mark]] = []
    for m in sorted(marks, key=lambda m: m.cy):
        if rows and abs(rows[-1][0].cy - m.cy) < 0.5 * m.s:
            rows[-1].append(m)
        else:
            rows.append([m])
    groups: list[tuple[str, list[_Mark]]] = []
    last_row: list[_Mark] | None = None
    for row in rows:
        row.sort(key=lambda m: m.x0)
        first = row[0]
        lx = min(first.x0, *(p.x for p in pieces if p.text == first.label and abs(p.cy - first.cy) < first.s))
        inline = [p for p in free if abs(p.cy - first.cy) < 0.6 * max(p.h, first.s) and p.x1 <= lx + 2
                  and lx - p.x1 < 8 * th]  # fmt: skip
        if inline:
            groups.append((max(inline, key=lambda p: p.x1).text, row))
            last_row = row
            continue
        between = []
        if last_row is not None:
            top = max(m.y1 for m in last_row)
            between = [p for p in free if top - 2 < p.cy < first.y0 and p.x < max(m.x1 for m in row) + 2 * th]
        gap = first.y0 - max(m.y1 for m in last_row) if last_row else float("inf")
        gx0 = min(m.x0 for _, ms in groups[-1:] for m in ms) if groups else 0
        if groups and not between and gap < 2.5 * th and first.x0 >= gx0 - first.s:
            groups[-1][1].extend(row)
        else:
            above = [p for p in free if first.y0 - 3.2 * th < p.y + p.h <= first.y0 + 2 and p.x < first.x0 + 2 * th
                     and p.x1 > first.x0 - 12 * th]  # fmt: skip
            heading = max(above, key=lambda p: p.y).text if above else ""
            groups.append((heading, row))
        last_row = row
    out = []
    for heading, ms in groups:
        ms = sorted(ms, key=lambda m: (round(m.cy / max(m.s, 1)), m.x0))
        out.append(Group(heading.rstrip(":：").strip(), [Option(m.label, m.marked, m.kind) for m in ms]))
    return [g for g in out if len(g.options) >= 2]


# -- fields ----------------------------------------------------------------------------------------
@dataclass
class _Slot:
    x0: int
    y0: int
    x1: int
    y1: int
    kind: str  # "box" or "line"


def _slots(ink: np.ndarray, th: float, cv2) -> tuple[list[_Slot], list[tuple[int, int, int, int]]]:
    """Field boxes and underlines; also every closed frame found (a label inside one is no label)."""
    hk = max(9, round(2.0 * th)) | 1
    hmask = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((1, hk), np.uint8))
    vk = max(7, round(0.7 * th)) | 1
    vmask = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((vk, 1), np.uint8))
    grid = hmask | vmask
    contours, _ = cv2.findContours(grid, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    slots, frames = [], []
    for c in contours:
        x, y, w, h = cv2.boundingRect(c)
        if w < 3 * th or h < 0.9 * th:
            continue
        x1, y1 = x + w - 1, y + h - 1
        if _side_cover(grid, x, y, x1, y1) < 0.9:
            continue
        frames.append((x, y, x1, y1))
        if h > 4 * th:
            continue
        inner_h = hmask[y + 4 : y1 - 3, x + 4 : x1 - 3]
        inner_v = vmask[y + 4 : y1 - 3, x + 4 : x1 - 3]
        if inner_h.size and (inner_h.sum(axis=1).max() > 0.5 * w or inner_v.sum(axis=0).max() > 0.6 * h):
            continue  # lines inside: a table, not a field
        slots.append(_Slot(x, y, x1, y1, "box"))
    lk = max(13, round(4 * th)) | 1
    long_h = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((1, lk), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(long_h)
    for i in range(1, n):
        x, y, w, h = stats[i][:4]
        if h > 4 or any(f[0] - 2 <= x and x + w <= f[2] + 3 and f[1] - 2 <= y <= f[3] + 2 for f in frames):
            continue
        ends = vmask[max(0, y - 3) : y + h + 3, [max(0, x - 1), min(ink.shape[1] - 1, x + w)]]
        if ends.any():
            continue  # a vertical line at an end: a table rule or an axis
        slots.append(_Slot(int(x), int(y), int(x + w - 1), int(y + h - 1), "line"))
    return slots, frames


def _in_frame(p: _Piece, frames) -> bool:
    return any(f[0] <= p.cx <= f[2] and f[1] <= p.cy <= f[3] for f in frames)


def _split_label(p: _Piece, x: float) -> tuple[_Piece | None, _Piece | None]:
    """A label and its value run together ("金额：￥85.50"): cut after the colon, else at x."""
    m = re.search(r"[:：]", p.text)
    if m and m.end() < len(p.text):
        ws = [_weight(c) for c in p.text]
        at = p.x + p.w * sum(ws[: m.end()]) / max(sum(ws), 1e-6)
        return (_Piece(p.text[: m.end()].strip(), p.x, p.y, at - p.x, p.h),
                _Piece(p.text[m.end() :].strip(), at, p.y, p.x1 - at, p.h))  # fmt: skip
    return _cut(p, x, x)


def _fields(slots: list[_Slot], frames, pieces: list[_Piece], used: set[int], th: float) -> list[tuple[Field, bool]]:
    """The fields, each with whether its label ends with a colon."""
    free = [p for i, p in enumerate(pieces) if i not in used]
    out: list[tuple[Field, bool]] = []
    taken: set[int] = set()
    for s in sorted(slots, key=lambda s: (s.y0, s.x0)):
        if s.kind == "box":
            ya, yb = s.y0, s.y1
        else:
            ya, yb = s.y0 - 1.8 * th, s.y0 + 3
        vals, label = [], None
        for i, p in enumerate(free):
            if i in taken or not ya <= p.cy <= yb:
                continue
            if p.x < s.x0 - 0.3 * th and p.x1 > s.x0 + 0.6 * th:  # label and value read as one line
                a, b = _split_label(p, s.x0)
                if a and b:
                    label, vals = (a, i), [*vals, b]
                continue
            if s.x0 - 4 <= p.cx <= s.x1 + 4:
                vals.append(p)
                taken.add(i)
        if label is not None:
            taken.add(label[1])
            label = label[0]
        else:
            left = [(i, p) for i, p in enumerate(free) if i not in taken and abs(p.cy - (ya + yb) / 2) < 0.6 *
                    (yb - ya) and p.x1 <= s.x0 + 0.3 * th and not _in_frame(p, frames)]  # fmt: skip
            above = [(i, p) for i, p in enumerate(free) if i not in taken and s.y0 - 1.8 * th < p.y + p.h <= s.y0 + 3
                     and abs(p.x - s.x0) < 2 * th and not _in_frame(p, frames)]  # fmt: skip
            if s.kind == "line":
                above = []
            pick = max(left, key=lambda ip: ip[1].x1) if left else (max(above, key=lambda ip: ip[1].y) if above
                                                                     else None)  # fmt: skip
            if pick is None:
                continue
            taken.add(pick[0])
            label = pick[1]
        if not re.search(r"[A-Za-z\u2e80-\u9fff]", label.text):
            continue
        if s.kind == "line" and not vals and not label.text.rstrip().endswith((":", "：")):
            continue
        vals.sort(key=lambda p: (round(p.cy / max(th, 1)), p.x))
        value = " ".join(v.text for v in vals).strip()
        out.append((Field(label.text.rstrip(":：").strip(), value), label.text.rstrip().endswith((":", "："))))
    return out


def read_form(image, lines) -> Form | None:
    """The checkboxes, radio buttons and filled-in fields of a form, or ``None`` if it has none."""
    import cv2

    if not lines:
        return None
    th = float(np.median([t.h for t in lines]))
    if th < 6:
        return None
    gray = _gray(image)
    ink = _ink(gray)
    boxes = _boxes(ink, gray, th, cv2)
    radios = [
        r for r in _radios(ink, th, cv2) if not any(abs(b.cx - r.cx) + abs(b.cy - r.cy) < 0.5 * b.s for b in boxes)
    ]
    marks = _aligned(boxes + radios)
    pieces = _pieces(lines, marks, ink)
    used = _label_marks(marks, pieces, th)
    groups = _groups(marks, pieces, used, th)
    used = {i for i in used if pieces[i].text in {o.label for g in groups for o in g.options}}
    heads = {g.heading for g in groups}
    used |= {i for i, p in enumerate(pieces) if p.text.rstrip(":：").strip() in heads and p.text}
    slots, frames = _slots(ink, th, cv2)
    found = _fields(slots, frames, pieces, used, th)
    if not groups:  # without marks, only labels like "Name:" (a diagram's "Yes" beside a box is no label)
        found = [(f, colon) for f, colon in found if colon]
        if not any(f.value for f, _ in found):
            return None
    return Form(groups, [f for f, _ in found])


# -- what the text model gets ----------------------------------------------------------------------
def form_used(d: dict) -> set[str]:
    """The OCR text this form reading already holds (headings, options, labels and values)."""
    out = {g["heading"] for g in d["groups"]} | {o["label"] for g in d["groups"] for o in g["options"]}
    return {x for x in out | {f["label"] for f in d["fields"]} | {f["value"] for f in d["fields"]} if x}


def form_text(d: dict) -> str:
    out = ["Form read from the image (checkboxes and radio buttons: [x] marked, [ ] not marked; "
           "fields: label: what is written in it):"]  # fmt: skip
    for g in d["groups"]:
        opts = ", ".join(("[x] " if o["marked"] else "[ ] ") + o["label"] for o in g["options"])
        out.append(f"{g['heading'] or '(no heading)'}: {opts}")
    for f in d["fields"]:
        out.append(f"{f['label']}: {f['value'] or '(empty)'}")
    return "\n".join(out)


def _named(names: list[str], question: str) -> list[str]:
    """The names the question mentions: its quoted name first (matched closely, as OCR may
    misread a letter), then names found in it, longest first."""
    q = loose_key(question)
    quoted = re.findall(r"[“\"「『‘']([^”\"」』’']+)[”\"」』’']", question)
    out: list[str] = []
    for qt in quoted:
        kq = loose_key(qt)
        best = max(names, key=lambda n: difflib.SequenceMatcher(None, loose_key(n), kq).ratio(), default=None)
        if best is not None and loose_key(best) and difflib.SequenceMatcher(None, loose_key(best), kq).ratio() >= 0.75:
            out.append(best)
    for n in sorted(names, key=lambda n: -len(loose_key(n))):
        if loose_key(n) and len(loose_key(n)) >= 2 and loose_key(n) in q and n not in out:
            out.append(n)
    return out


_NOT = re.compile(r"\bnot\b|n't|\bun(?:ticked|checked|marked|selected)\b|没有|未|不是", re.I)
_HOW_MANY = re.compile(r"how many|number of (?:boxes|options|items)|几个|几项|多少", re.I)
_CJK = re.compile(r"[\u4e00-\u9fff]")


def form_question_facts(d: dict, question: str) -> list[str]:
    """Sentences on what the question names: a group's marked and unmarked options (the unmarked
    first when the question asks for what is NOT marked; the count when it asks how many), a
    field's value, an option's state. English or Chinese, as the question is."""
    zh = bool(_CJK.search(question))
    neg, count = bool(_NOT.search(question)), bool(_HOW_MANY.search(question))
    out: list[str] = []
    groups = {g["heading"]: g for g in d["groups"] if g["heading"]}
    fields = {f["label"]: f for f in d["fields"] if f["label"]}
    for name in _named([*groups, *fields], question):
        if name in groups:
            out.append(_group_fact(groups[name], zh, neg, count))
        else:
            v = fields[name]["value"]
            if zh:
                out.append(f"“{name}”一栏填写的是：{v}" if v else f"“{name}”一栏是空的（没有填写）")
            else:
                out.append(f"the field “{name}” holds: {v}" if v else f"the field “{name}” is empty (nothing written)")
    quoted = re.search(r"[“\"「『]", question)
    if (
        not out
        and not quoted
        and len(d["groups"]) == 1
        and re.search(r"tick|check|select|chos|mark|勾|选", question, re.I)
    ):
        out.append(_group_fact(d["groups"][0], zh, neg, count))
    options = [o["label"] for g in d["groups"] for o in g["options"]]
    for name in _named(options, question)[:3]:
        for g in d["groups"]:
            for o in g["options"]:
                if o["label"] == name:
                    state = ("已勾选" if zh else "marked") if o["marked"] else ("未勾选" if zh else "not marked")
                    where = f"（在“{g['heading']}”下）" if zh else f" (under “{g['heading']}”)"
                    out.append(f"“{name}”{state}{where}" if zh else f"“{name}” is {state}{where}")
    if count or not out:
        n = sum(o["marked"] for g in d["groups"] for o in g["options"])
        total = sum(len(g["options"]) for g in d["groups"])
        if total:
            out.append(f"整张表中被勾选的框共有：{n} 个（共 {total} 个）" if zh
                       else f"in the whole form the number of marked boxes is: {n} (of {total})")  # fmt: skip
    return out


def _group_fact(g: dict, zh: bool, neg: bool, count: bool) -> str:
    h = g["heading"] or ("（无标题）" if zh else "(no heading)")
    on = [o["label"] for o in g["options"] if o["marked"]]
    off = [o["label"] for o in g["options"] if not o["marked"]]
    sep = "、" if zh else ", "
    none = "无" if zh else "none"
    if count:
        if zh:
            return (
                f"“{h}”下被勾选的选项个数是：{len(on)}（勾选：{sep.join(on) or none}；未勾选：{sep.join(off) or none}）"
            )
        return (f"under “{h}” the number of marked boxes is: {len(on)} (marked: {sep.join(on) or none}; "
                f"not marked: {sep.join(off) or none})")  # fmt: skip
    if neg:
        if zh:
            return f"“{h}”下没有勾选的是：{sep.join(off) or none}（已勾选：{sep.join(on) or none}）"
        return f"under “{h}” the options NOT marked are: {sep.join(off) or none} (marked: {sep.join(on) or none})"
    if zh:
        return f"“{h}”下选中的是：{sep.join(on) or none}（未选中：{sep.join(off) or none}）"
    which = "the marked option is" if len(on) == 1 else "the marked options are"
    return f"under “{h}” {which}: {sep.join(on) or none} (not marked: {sep.join(off) or none})"
