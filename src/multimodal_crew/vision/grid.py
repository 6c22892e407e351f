"""Tables read as grids: OCR boxes clustered into rows and columns by their coordinates.

Rows are boxes whose vertical centres agree; columns are the x ranges that the boxes of many
rows cover, split where almost no row has text (counted over the header and body rows only: a
title or a row of merged headers would join columns). A lone box above the header that starts
over the first column is a title. A box spanning several columns in the top rows
is a merged header: its text is put before each spanned column's own header ("Score Home").
A missing cell is kept as an empty cell, never dropped, so every value stays under its header.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .reading import parse_number, text_rows

__all__ = ["Grid", "read_grid"]


@dataclass
class Grid:
    title: str
    header: list[str]
    rows: list[list[str]]  # "" for an empty cell

    def as_dict(self) -> dict:
        return {"type": "table", "title": self.title, "header": self.header, "rows": self.rows}


def _columns(rows: list[list], width: int) -> list[tuple[int, int]]:
    """x ranges covered by the text of enough rows; gaps are where at most one row has text."""
    cover = np.zeros(width + 2, dtype=int)
    for r in rows:
        seen = np.zeros(width + 2, dtype=bool)
        for t in r:
            seen[max(0, int(t.x)) : min(width + 1, int(t.x + t.w) + 1)] = True
        cover += seen
    need = max(2, int(0.25 * len(rows)))
    on = cover >= need
    cols, start = [], None
    for x, v in enumerate(list(on) + [False]):
        if v and start is None:
            start = x
        elif not v and start is not None:
            cols.append((start, x))
            start = None
    # columns closer than a character are one (a wide gap inside a cell is not a column)
    merged: list[tuple[int, int]] = []
    for c in cols:
        if merged and c[0] - merged[-1][1] < 6:
            merged[-1] = (merged[-1][0], c[1])
        else:
            merged.append(c)
    return merged


def _full_rows(rows: list[list]) -> list[list]:
    """The rows that hold a box per column, or nearly (the header and the body): a title or a
    row of merged headers has fewer, wider boxes whose extent would make columns of its own
    where it overlaps the header below it."""
    most = max(len(r) for r in rows)
    return [r for r in rows if len(r) >= 2 and len(r) >= 0.6 * most]


def _spanned(t, cols) -> list[int]:
    a, b = t.x, t.x + t.w
    hits = [k for k, (c0, c1) in enumerate(cols) if min(b, c1) - max(a, c0) > 0.3 * min(c1 - c0, b - a)]
    if not hits:  # in a gap: the nearest column
        hits = [int(np.argmin([min(abs(a - c1), abs(b - c0)) for c0, c1 in cols]))]
    return hits


def read_grid(lines, width: int) -> Grid | None:
    """The table in a list of OCR boxes, or None when they do not form one (2+ columns, 2+ body
    rows, and most rows with text in 2+ columns)."""
    if len(lines) < 6:
        return None
    rows = text_rows(lines)
    cols = _columns(_full_rows(rows), width)
    if len(cols) < 2:
        cols = _columns(rows, width)
    if len(cols) < 2:
        return None
    cells: list[list[str]] = []
    spans: list[list[tuple[list[int], str]]] = []
    for r in rows:
        line = [""] * len(cols)
        span = []
        for t in r:
            hit = _spanned(t, cols)
            span.append((hit, t.text))
            k = hit[0]
            line[k] = f"{line[k]} {t.text}".strip()
        cells.append(line)
        spans.append(span)
    # titles and group headers: rows above the first row with text in 2+ columns
    first = next((k for k, r in enumerate(cells) if sum(1 for c in r if c) >= 2), None)  # the header row
    if first is None or len(cells) - first < 3:
        return None

    def filled(r: list[str]) -> int:
        return sum(1 for c in r if c)

    while (first + 3 < len(cells) and filled(cells[first]) < filled(cells[first + 1])
           and all(parse_number(c) is None for c in cells[first + 1] if c)):  # fmt: skip
        first += 1  # the row above the header row is a row of merged (group) headers
    title, group = "", [""] * len(cols)
    for k in range(first):
        boxes = rows[k]
        lone_left = len(cols) > 2 and spans[k][0][0][0] == 0  # a merged header stands over data columns, not names
        if len(boxes) == 1 and (_is_title(boxes, rows[first:]) or len(spans[k][0][0]) >= len(cols) - 1 or lone_left):
            title = f"{title} {boxes[0].text}".strip()
            continue
        for t in boxes:  # a merged header: over the columns it is centred on
            for j in _centred_over(t, _extents(rows[first:], cols)):
                group[j] = f"{group[j]} {t.text}".strip()
    if any(parse_number(c) is not None for c in cells[first] if c):  # no header row (a receipt)
        header, body = [f"{g} column {j + 1}".strip() for j, g in enumerate(group)], cells[first:]
    else:
        header = [f"{g} {h}".strip() if g and g != h else h for g, h in zip(group, cells[first], strict=True)]
        body = cells[first + 1 :]
    if len(body) < 2 or sum(1 for r in body if filled(r) >= 2) < 0.6 * len(body):
        return None
    if not any(header):
        return None
    header = [h or f"column {k + 1}" for k, h in enumerate(header)]
    return Grid(title, header, body)


def _extents(rows: list[list], cols: list[tuple[int, int]]) -> list[tuple[float, float]]:
    """Each column's extent over the header and body boxes in it: wider than the column found
    from the body when the header is left-aligned and the numbers right-aligned."""
    ext = [(float(c0), float(c1)) for c0, c1 in cols]
    for r in rows:
        for t in r:
            hit = _spanned(t, cols)
            if len(hit) == 1:
                k = hit[0]
                ext[k] = (min(ext[k][0], t.x), max(ext[k][1], t.x + t.w))
    return ext


def _centred_over(t, cols: list[tuple[float, float]]) -> list[int]:
    """The run of 1-3 neighbouring columns (their extents) whose middle is nearest the box's
    centre."""
    cx = t.x + t.w / 2
    best, pick = None, [0]
    for n in (1, 2, 3):
        for k in range(len(cols) - n + 1):
            c0, c1 = cols[k][0], cols[k + n - 1][1]
            if not (c0 - 5 <= cx <= c1 + 5):
                continue
            off = abs((c0 + c1) / 2 - cx) / max(1.0, c1 - c0) + 0.08 * n  # prefer the narrower run on a tie
            if best is None or off < best:
                best, pick = off, list(range(k, k + n))
    return pick


def _is_title(first: list, rest: list[list]) -> bool:
    """A lone first box taller than the rows below it (a larger font) is a title."""
    return first[0].h > 1.15 * float(np.median([t.h for r in rest for t in r]))
