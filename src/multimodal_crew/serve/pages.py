"""The page image behind a citation, with the quote highlighted.

>>> img = render_page(Path("knowledge/contract.pdf"), 2, "must replace the door sensors of elevator B")  # doctest: +SKIP
>>> img.found, img.rects, len(img.png) > 0
(True, [(73.1, 458.4, 1051.6, 487.9), (73.1, 488.6, 251.2, 518.1)], True)

Why not ``page.search_for(quote)``: it copes with line breaks, a hyphen at a line end and case (MuPDF
1.26), but misses a quote whose ligatures (ﬁ), quote marks or CJK punctuation differ from the PDF's,
one copied with the hyphen kept ("mainte- nance"), and one crossing a page. Here both the page and the
quote are *folded* to their letters and digits only (NFKD, case-folded, everything else dropped), with
each folded character of the page mapped back to the box of the glyph it came from. The quote is then
a plain substring search in that stream, and its glyph boxes merged per line are the highlight.

This is deliberately more lenient than ``knowledge.text.locate`` (which keeps word boundaries), so a
quote ``ask`` verified against a page's text is always found on that page's image: the stream holds
the same characters as ``page.get_text("text")``, the text the knowledge store keeps. CJK text needs
no word boundaries either.

A table row quoted as ``knowledge.tables`` writes it (``label | header: value | ...``, kept after the page's
text) is not a run of the page's text: its label and each of its values, on the label's line, are
highlighted instead.

A quote that crosses a page break is split where a line at the end of one page meets a line at the
start of the next (a running footer or header of up to ``EDGE`` characters may sit between). Each page highlights its
part; ``continues`` and ``continued`` say that there is more on the next or previous page.

Highlights are drawn on the rendered pixels (a multiply blend with yellow, like a highlighter pen,
so the text stays black); the PDF is only read, never changed. Every error a user can cause (no such
file, not a PDF, corrupt, encrypted, no such page) is one ``InputError`` line naming file and page.

PyMuPDF is not thread-safe, so every use of it here holds ``PYMUPDF_LOCK``, the one lock that
``knowledge.loaders`` (ingestion, on the server's queue worker) also holds per page it reads: concurrent
requests get their page images one at a time (~60 ms each), between the pages an ingest reads. The
PyMuPDF objects are released inside the lock too (``_render`` returns plain values). The document is opened per call: measured on 30 real
pages, opening costs under 1 ms of the ~60 ms an image takes (bench/page_render.py), so a cache of
open documents would buy nothing and would serve a replaced file stale.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pymupdf

from multimodal_crew.errors import InputError
from multimodal_crew.knowledge.loaders import PYMUPDF_LOCK
from multimodal_crew.knowledge.text import locate

__all__ = ["PageImage", "render_page", "fold", "PYMUPDF_LOCK", "EDGE"]

EDGE = 300  # folded characters (a footer, a header) allowed between a quote's part and the page break
MIN_PART = 2  # folded characters of a page-crossing quote that must be on each page (one stray "a" is no match)
MAX_QUOTE = 5_000  # characters; a citation quotes a sentence or two, and the search is quadratic at worst
MAX_PIXELS = 16_000_000  # a poster-sized page is rendered at a lower zoom rather than as a 200 MB pixmap
_TINT = np.array([1.0, 0.9, 0.2])  # multiply blend: white -> yellow, black text stays black
_FLAGS = pymupdf.TEXTFLAGS_TEXT  # the flags page.get_text("text") uses, so the characters are the same

Rect = tuple[float, float, float, float]


@dataclass(frozen=True)
class PageImage:
    """A rendered page: PNG bytes, and where the quote is highlighted in PNG pixel coordinates."""

    png: bytes
    page: int  # 1-based, as Citation.page
    found: bool  # (part of) the quote was located and highlighted on this page
    rects: list[Rect] = field(default_factory=list)  # x0, y0, x1, y1 in pixels of the PNG
    continues: bool = False  # the quote goes on at the top of the next page
    continued: bool = False  # the quote started at the bottom of the previous page
    width: int = 0  # PNG size in pixels
    height: int = 0


@dataclass(frozen=True)
class _Stream:
    """A page's letters and digits, folded, with the line and glyph box each one came from."""

    text: str
    lines: list[int]
    boxes: list[Rect]
    edges: dict[int, tuple[Rect, Rect]]  # line -> boxes of its first and last visible glyph (punctuation too)


def fold(text: str) -> str:
    """``text`` as letters and digits only: NFKD (ligatures, full-width forms, accents split off),
    case-folded, everything else dropped. ``fold("The ﬁrst “Co-op”,\\n Ａ1")`` is ``"thefirstcoopa1"``."""
    return "".join(_fold_char(ch) for ch in text)


def _fold_char(ch: str) -> str:
    if ch.isascii():
        return ch.lower() if ch.isalnum() else ""
    return "".join(c for c in unicodedata.normalize("NFKD", ch.casefold()) if c.isalnum())


def render_page(
    pdf_path: Path, page: int, quote: str = "", *, zoom: float = 2.0, page_text: str | None = None
) -> PageImage:
    """Page ``page`` (1-based) of ``pdf_path`` as a PNG at ``zoom`` (2.0: 1,224 x 1,584 pixels for a
    Letter page), with ``quote`` highlighted wherever it is found on the page.

    ``page_text``, the page's text as the knowledge store keeps it, is optional: when the quote occurs
    more than once, the occurrence ``locate`` finds in it (the one a citation's offsets point at) is
    the one highlighted. Raises ``InputError`` for a missing, non-PDF, corrupt or encrypted file and
    for a page out of range.
    """
    path = Path(pdf_path)
    if isinstance(page, bool) or not isinstance(page, int):
        raise InputError(f"cannot show {path.name}: the page must be a whole number, not {page!r}")
    if isinstance(zoom, bool) or not isinstance(zoom, (int, float)) or not 0 < zoom <= 8:
        raise InputError(f"cannot show {path.name} page {page}: zoom must be above 0 and at most 8, not {zoom!r}")
    if len(quote) > MAX_QUOTE:
        raise InputError(f"cannot show {path.name} page {page}: the quote is longer than {MAX_QUOTE} characters")
    with PYMUPDF_LOCK:
        doc = _open(path, page)
        try:
            return _render(doc, page, quote, page_text, zoom)
        except (RuntimeError, ValueError) as e:  # MuPDF errors on a damaged page
            raise InputError(f"cannot show {path.name} page {page}: corrupt PDF page ({_short(e)})") from None
        finally:
            doc.close()


def _render(doc: pymupdf.Document, page: int, quote: str, page_text: str | None, zoom: float) -> PageImage:
    """The highlighted image of page ``page`` of the open ``doc``. The caller holds PYMUPDF_LOCK; the
    page and pixmap are freed when this returns, still inside it."""
    pg = doc[page - 1]
    parts, continues, continued = _find(doc, page - 1, quote, page_text)
    zoom = min(zoom, (MAX_PIXELS / max(pg.rect.width * pg.rect.height, 1.0)) ** 0.5)
    pix = pg.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), alpha=False)
    rects = _to_pixels(parts, pg, zoom, pix)
    _highlight(pix, rects)
    return PageImage(pix.tobytes("png"), page, bool(rects), rects, continues, continued, pix.width, pix.height)


def _open(path: Path, page: int) -> pymupdf.Document:
    """The opened document, after checking that ``page`` exists; the caller closes it. Holds PYMUPDF_LOCK."""

    def refuse(reason: str) -> InputError:
        return InputError(f"cannot show {path.name} page {page}: {reason}")

    if not path.exists():
        raise refuse("file not found")
    if not path.is_file():  # a folder, or a FIFO that would block the read below
        raise refuse("not a regular file")
    try:
        with path.open("rb") as f:
            head = f.read(1024)
    except OSError as e:
        raise refuse(f"cannot read the file ({e.strerror or e})") from None
    if b"%PDF-" not in head:
        raise refuse(f"not a PDF (the content starts with {head[:8]!r})")
    pymupdf.TOOLS.mupdf_display_errors(False)
    pymupdf.TOOLS.mupdf_display_warnings(False)
    try:
        doc = pymupdf.open(path, filetype="pdf")
    except Exception:  # noqa: BLE001 - pymupdf raises several types for damaged files (and names the path)
        raise refuse("corrupt PDF (MuPDF cannot open it; a damaged or truncated file?)") from None
    locked, count = doc.needs_pass, doc.page_count
    if locked or not 1 <= page <= count:
        doc.close()
        if locked:
            raise refuse("encrypted PDF (it needs a password)")
        raise refuse(f"no such page (the PDF has {count} page{'s' if count != 1 else ''})")
    return doc


def _stream(pg: pymupdf.Page) -> _Stream:
    """The folded letters and digits of a page in reading order, each with its line and glyph box."""
    text: list[str] = []
    lines: list[int] = []
    boxes: list[Rect] = []
    edges: dict[int, tuple[Rect, Rect]] = {}
    line_no = 0
    for block in pg.get_text("rawdict", flags=_FLAGS)["blocks"]:
        for line in block.get("lines", ()):
            line_no += 1
            for span in line["spans"]:
                for ch in span["chars"]:
                    if not ch["c"].isspace():
                        edges[line_no] = (edges.get(line_no, (ch["bbox"],))[0], ch["bbox"])
                    for c in _fold_char(ch["c"]):
                        text.append(c)
                        lines.append(line_no)
                        boxes.append(ch["bbox"])
    return _Stream("".join(text), lines, boxes, edges)


def _find(doc: pymupdf.Document, index: int, quote: str, page_text: str | None) -> tuple[list[Rect], bool, bool]:
    """The quote's boxes on page ``index`` (0-based), merged per line, in page coordinates; and
    whether it continues on the next page / started on the previous one."""
    q = fold(quote)
    if not q:
        return [], False, False
    here = _stream(doc[index])
    at = _occurrence(here.text, q, page_text, quote)
    if at >= 0:
        return _merge(here, at, at + len(q)), False, False
    if " | " in quote:  # a table row (knowledge.tables): its label and its values, on one line of the page
        rects = _row(here, quote)
        if rects:
            return rects, False, False
    if index + 1 < doc.page_count:
        split = _split(here, _stream(doc[index + 1]), q)
        if split:
            end, _, cut = split
            return _merge(here, end - cut, end), True, False
    if index > 0:
        split = _split(_stream(doc[index - 1]), here, q)
        if split:
            _, start, cut = split
            return _merge(here, start, start + len(q) - cut), False, True
    return [], False, False


def _row(s: _Stream, quote: str) -> list[Rect]:
    """The boxes of a table row's label and of each of its values (``label | header: value | ...``, as
    ``knowledge.tables`` writes rows). Of the label's occurrences, the one with the most of the row's values
    beside it on its line is taken (a ``Services`` under net sales, not the one under cost of sales).
    [] when the label is not on the page."""
    label, *cells = quote.split(" | ")
    values = [v for v in (fold(c.rsplit(": ", 1)[-1]) for c in cells) if v]
    best: tuple[int, list[Rect]] = (-1, [])
    for name in dict.fromkeys((label, label.rsplit(": ", 1)[-1])):  # the section ("Net sales:") may be lines above
        q = fold(name)
        at = s.text.find(q) if q else -1
        while at >= 0:
            rects = _merge(s, at, at + len(q))
            top, bottom = rects[-1][1], rects[-1][3]
            found = 0
            for v in values:
                k = s.text.find(v, at + len(q))
                while k >= 0:
                    box = s.boxes[k]
                    if abs((box[1] + box[3]) / 2 - (top + bottom) / 2) <= (bottom - top) / 2:
                        rects += _merge(s, k, k + len(v))
                        found += 1
                        break
                    k = s.text.find(v, k + 1)
            if found > best[0]:
                best = (found, rects)
            at = s.text.find(q, at + 1)
    return best[1]


def _occurrence(stream: str, q: str, page_text: str | None, quote: str) -> int:
    """Where ``q`` starts in ``stream`` (-1: nowhere): the first occurrence, or with ``page_text`` the
    one nearest to where ``locate`` puts the quote in it."""
    at = stream.find(q)
    span = locate(quote, page_text) if page_text and at >= 0 else None
    if span is None:
        return at
    hint = len(fold(page_text[: span[0]]))
    best = at
    while at >= 0:
        if abs(at - hint) < abs(best - hint):
            best = at
        at = stream.find(q, at + 1)
    return best


def _split(before: _Stream, after: _Stream, q: str) -> tuple[int, int, int] | None:
    """Where ``q`` crosses the break between two pages: ``(end, start, cut)``, with ``q[:cut]`` ending a
    line at ``end`` in ``before``, at most ``EDGE`` characters (a footer) from its end, and ``q[cut:]``
    starting a line at ``start`` in ``after``, at most ``EDGE`` characters (a header) from its start.
    Each part has at least ``MIN_PART`` characters; the largest ``cut`` wins. None when the quote does not
    cross this break, or lies wholly at the end of ``before`` or the start of ``after``."""
    a, b, n = before.text, after.text, len(q)
    if a.find(q, max(0, len(a) - EDGE - n)) >= 0 or b.find(q, 0, EDGE + n) >= 0:
        return None
    longest = _longest(lambda k: q[:k] in a, n - MIN_PART)
    shortest = n - _longest(lambda k: q[n - k :] in b, n - MIN_PART)
    for cut in range(longest, max(shortest, MIN_PART) - 1, -1):
        end = _ending_a_line(before, q[:cut])
        start = _starting_a_line(after, q[cut:]) if end is not None else None
        if start is not None:
            return end, start, cut
    return None


def _ending_a_line(s: _Stream, part: str) -> int | None:
    """The end of the last occurrence of ``part`` in ``s`` that ends a line within ``EDGE`` of the end."""
    lo = max(0, len(s.text) - EDGE - len(part))
    at = s.text.rfind(part, lo)
    while at >= 0:
        end = at + len(part)
        if end == len(s.text) or s.lines[end] != s.lines[end - 1]:
            return end
        at = s.text.rfind(part, lo, end - 1)
    return None


def _starting_a_line(s: _Stream, part: str) -> int | None:
    """The start of the first occurrence of ``part`` in ``s`` that starts a line within ``EDGE`` of the start."""
    hi = EDGE + len(part)
    at = s.text.find(part, 0, hi)
    while at >= 0:
        if at == 0 or s.lines[at] != s.lines[at - 1]:
            return at
        at = s.text.find(part, at + 1, hi)
    return None


def _longest(holds, limit: int) -> int:
    """The largest k in 0..limit with ``holds(k)``, for a ``holds`` true up to some k and false after."""
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if holds(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _merge(s: _Stream, start: int, end: int) -> list[Rect]:
    """The union of the glyph boxes of ``s.text[start:end]``, one rectangle per line. Where the quote
    goes on to the next line, the line's trailing punctuation (a hyphen, a comma) is included, and so
    is the leading punctuation (an opening quote mark) of the line it goes on to."""
    out: list[Rect] = []
    line = None
    for i in range(start, end):
        if s.lines[i] != line:
            if line is not None:
                out[-1] = _union(out[-1], s.edges[line][1])
                out.append(_union(s.boxes[i], s.edges[s.lines[i]][0]))
            else:
                out.append(s.boxes[i])
            line = s.lines[i]
        else:
            out[-1] = _union(out[-1], s.boxes[i])
    return out


def _union(a: Rect, b: Rect) -> Rect:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _to_pixels(rects: list[Rect], pg: pymupdf.Page, zoom: float, pix: pymupdf.Pixmap) -> list[Rect]:
    """Page rectangles as pixel rectangles of ``pix`` (rotation and zoom applied, clipped, rounded)."""
    m = pg.rotation_matrix * pymupdf.Matrix(zoom, zoom)
    out: list[Rect] = []
    for r in rects:
        p = pymupdf.Rect(r) * m
        x0, y0 = max(p.x0 - pix.x, 0.0), max(p.y0 - pix.y, 0.0)
        x1, y1 = min(p.x1 - pix.x, float(pix.width)), min(p.y1 - pix.y, float(pix.height))
        if x1 > x0 and y1 > y0:
            out.append((round(x0, 1), round(y0, 1), round(x1, 1), round(y1, 1)))
    return out


def _highlight(pix: pymupdf.Pixmap, rects: list[Rect]) -> None:
    """Tint ``rects`` of the RGB pixmap yellow in place, like a highlighter: multiply, so text stays legible."""
    if not rects:
        return
    samples = pix.samples_mv
    rows = np.frombuffer(samples, dtype=np.uint8).reshape(pix.height, pix.stride)
    img = rows[:, : pix.width * pix.n].reshape(pix.height, pix.width, pix.n)
    for x0, y0, x1, y1 in rects:
        box = img[int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1)), :3]
        box[...] = (box * _TINT).astype(np.uint8)


def _short(e: Exception) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text[:160]
