"""Table rows of a PDF page, read from its layout: each row with its label and its columns' headers.

In a financial statement the extracted text puts a row's label, its numbers and the column headers
(``Three Months Ended`` / ``December 31,`` / ``2022``) on separate lines, far apart. Here the words'
coordinates give them back their table:

* words on one baseline form a line; a line whose right part holds numbers is a data row, its left part
  the row's label; a short label-only line ending in ``:`` (``Net sales:``) heads the indented rows below it;
* the numbers' right edges (figures are right-aligned) cluster into columns;
* the lines just above the first row that lie over the columns are the header: each phrase goes to the
  column under it, a phrase spanning several columns (``Three Months Ended``) goes to each of them;
* a line of text that runs into the columns without numbers ends the table.

Each row becomes one line, ``label | header: value | header: value``; ``rows_block`` appends them to the
page's text, so a citation can quote a row and is checked against the page like any sentence.
PyMuPDF's ``find_tables`` was tried on the SEC filings: it split the header off and shifted cells between
columns, and took ~130 ms per page against ~5 ms here.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

__all__ = ["ROWS_HEADING", "off_period_cells", "row_cells", "rows_block", "table_rows"]

ROWS_HEADING = "Table rows (label | column: value):"

_NUMBER = re.compile(r"^\(?-?\$?\d[\d,]*(\.\d+)?\)?%?$|^\(?\$?\.\d+\)?%?$")
_DASH = {"—", "–", "-", "—%"}
_Y_TOL = 2.5  # points: words whose vertical centres are this close share a line
_X_TOL = 12.0  # points: right edges this close are one column
_PHRASE_GAP = 6.0  # points: a wider gap between header words starts another phrase
_LABEL_GAP = 12.0  # points: a row's first number lies at least this far right of its label


@dataclass
class _Line:
    y: float
    words: list[tuple[float, float, str]] = field(default_factory=list)  # (x0, x1, text), left to right

    @property
    def x0(self) -> float:
        return self.words[0][0]

    @property
    def x1(self) -> float:
        return self.words[-1][1]

    def text(self) -> str:
        return " ".join(w[2] for w in self.words)


def _lines(words: list[tuple]) -> list[_Line]:
    lines: list[_Line] = []
    for x0, y0, x1, y1, text, *_ in sorted(words, key=lambda w: ((w[1] + w[3]) / 2, w[0])):
        y = (y0 + y1) / 2
        if lines and abs(lines[-1].y - y) <= _Y_TOL:
            lines[-1].words.append((x0, x1, text))
        else:
            lines.append(_Line(y, [(x0, x1, text)]))
    for line in lines:
        line.words.sort()
    return lines


def _is_value(text: str) -> bool:
    return bool(_NUMBER.match(text)) or text in _DASH


def _split(line: _Line, label_limit: float) -> tuple[list[tuple[float, float, str]], list[tuple[float, float, str]]]:
    """(label words, value cells): values are the numbers (a ``$`` joins the number after it; the cell's
    x0 stays the number's own, as figures are right-aligned and ``$`` signs left-aligned) right of the
    label; the label is every word before the first value. A line has no values when its label starts
    right of ``label_limit`` (a header's ``December 31,``), when its first number follows the label at a
    word's spacing (prose), when it has no real number, or when words follow its numbers (a footer)."""
    label: list[tuple[float, float, str]] = []
    values: list[tuple[float, float, str]] = []
    dollar = False
    for x0, x1, text in line.words:
        if text == "$" and label:
            dollar = True
            continue
        if _is_value(text) and label:
            values.append((x0, x1, ("$" if dollar else "") + text))
            dollar = False
        elif not values:
            label.append((x0, x1, text))
            dollar = False
        elif any(ch.isalpha() for ch in text):
            return line.words, []
        else:  # a footnote mark, "%": part of the last value
            px0, _, ptext = values[-1]
            values[-1] = (px0, x1, f"{ptext} {text}")
    if (
        not label
        or not values
        or label[0][0] > label_limit
        or values[0][0] - label[-1][1] < _LABEL_GAP
        or not any(any(ch.isdigit() for ch in v[2]) for v in values)
    ):
        return line.words, []
    return label, values


def _phrases(line: _Line) -> list[tuple[float, float, str]]:
    out: list[tuple[float, float, str]] = []
    for x0, x1, text in line.words:
        if out and x0 - out[-1][1] <= _PHRASE_GAP:
            out[-1] = (out[-1][0], x1, f"{out[-1][2]} {text}")
        else:
            out.append((x0, x1, text))
    return out


def _columns(rows: list[list[tuple[float, float, str]]]) -> list[list[float]]:
    """Columns as [x0, x1] spans, from the value cells' right edges, left to right."""
    cols: list[list[float]] = []
    for cell in sorted((c for r in rows for c in r), key=lambda c: c[1]):
        if cols and abs(cell[1] - cols[-1][1]) <= _X_TOL:
            cols[-1][0] = min(cols[-1][0], cell[0])
            cols[-1][1] = max(cols[-1][1], cell[1])
        else:
            cols.append([cell[0], cell[1]])
    return cols


def _column_of(cell: tuple[float, float, str], cols: list[list[float]]) -> int:
    return min(range(len(cols)), key=lambda k: abs(cols[k][1] - cell[1]))


def _headers(above: list[_Line], cols: list[list[float]]) -> list[str]:
    """Each column's header from the lines above the first row (given nearest first). The x axis is cut
    halfway between the columns' centres. A phrase as wide as the columns' spacing or wider
    (``Three Months Ended``) heads every column it reaches into; a narrower one heads the column its centre
    lies over, or both neighbours when its centre sits on the cut between them (a ``June 30,`` centred
    over two years). A column that a line gives nothing, right of one it gives a phrase, takes that phrase
    too: a spanning heading narrower than the spacing (``Three Months Ended`` over ``2023 2022``) is
    centred left of the cut. Notes in parentheses (``(In millions)``, ``(unaudited)``) head no column."""
    centres = [(c0 + c1) / 2 for c0, c1 in cols]
    cuts = [-1e9] + [(a + b) / 2 for a, b in itertools.pairwise(centres)] + [1e9]
    pitch = min((b - a for a, b in itertools.pairwise(centres)), default=1e9)
    parts: list[list[str]] = [[] for _ in cols]
    for line in above:
        got: dict[int, str | None] = dict.fromkeys(range(len(cols)))
        for x0, x1, text in _phrases(line):
            if text.startswith("("):
                continue
            width, mid = max(x1 - x0, 1.0), (x0 + x1) / 2
            if width >= 0.9 * pitch:
                over = [k for k in range(len(cols)) if min(x1, cuts[k + 1]) - max(x0, cuts[k]) >= 0.1 * width]
            else:
                over = [k for k in range(len(cols)) if cuts[k] - 0.15 * pitch <= mid <= cuts[k + 1] + 0.15 * pitch]
            for k in over:
                got[k] = text
        own = {k for k, g in got.items() if g is not None}
        for k in range(1, len(cols)):
            if k not in own and k - 1 in own:
                got[k] = got[k - 1]
        for k, text in got.items():
            if text is not None:
                parts[k].insert(0, text)
    return [" ".join(p) for p in parts]


def table_rows(words: list[tuple]) -> list[str]:
    """The page's table rows, ``label | header: value | ...``, from ``page.get_text("words")``."""
    lines = _lines(words)
    if not lines:
        return []
    limit = 0.45 * max(w[2] for w in words)  # a row's label starts in the left part of the page
    out: list[str] = []
    k = 0
    while k < len(lines):
        label, values = _split(lines[k], limit)
        if not (label and values):
            k += 1
            continue
        # a table starts here: collect its rows until a line of text runs into its columns
        start = k
        rows: list[tuple[int, list, list]] = []
        first_value_x = min(v[0] for v in values)
        while k < len(lines):
            label, values = _split(lines[k], limit)
            if values and label:
                rows.append((k, label, values))
                first_value_x = min(first_value_x, *(v[0] for v in values))
            elif values or lines[k].x1 > first_value_x - 4:
                break
            k += 1
        cols = _columns([r[2] for r in rows])
        while start > 0 and lines[start - 1].x1 < first_value_x - 4 and lines[start - 1].text().endswith(":"):
            start -= 1  # a section heading just above the first row ("Net sales:") belongs to the table
        section, section_x, wrapped, wrapped_x = "", 0.0, "", 0.0
        above: list[_Line] = []
        j, skipped = start - 1, 0
        while j >= 0 and len(above) < 5 and not _split(lines[j], limit)[1]:
            if lines[j].x0 >= first_value_x - 120:
                above.append(lines[j])  # over the columns: a header line
            elif lines[j].x1 < first_value_x - 4 and len(lines[j].text()) <= 40 and skipped < 3 and not above:
                # a short heading left of the columns, between the header and the rows ("ASSETS",
                # "Operating Income (Loss)"): the header is above it; right above the rows it names them
                if j == start - 1 and not lines[start].text().endswith(":") and not lines[j].text().startswith("("):
                    section, section_x = lines[j].text().rstrip(":") + ":", lines[j].x0
                skipped += 1
            else:
                break
            j -= 1
        heads = _headers(above, cols)
        row_index = {r[0]: r for r in rows}
        for i in range(start, k):
            if i not in row_index:
                text = lines[i].text()
                if text.endswith(":"):
                    section, section_x, wrapped = text, lines[i].x0, ""
                else:  # a label too long for its line: it goes on in the next row's label
                    wrapped, wrapped_x = text, lines[i].x0
                continue
            _, label_words, cells = row_index[i]
            name, x = " ".join(w[2] for w in label_words).rstrip(":"), label_words[0][0]
            if wrapped and name[:1].islower():
                name, x = f"{wrapped} {name}", wrapped_x
            wrapped = ""
            if section and x > section_x + 2:
                name = f"{section} {name}"
            else:
                section = ""
            parts = [name]
            for cell in cells:
                head = heads[_column_of(cell, cols)]
                parts.append(f"{head}: {cell[2]}" if head else cell[2])
            out.append(" | ".join(parts))
        k = max(k, start + 1)
    return out


def rows_block(words: list[tuple]) -> str:
    """The rows as a block to append to the page's text ("" for a page without a table)."""
    rows = table_rows(words)
    return f"\n\n{ROWS_HEADING}\n" + "\n".join(rows) + "\n" if rows else ""


_MONTHS = "january february march april may june july august september october november december".split()
_DATE = re.compile(
    r"\b(jan|feb|mar|apr|may|jun|jul|aug|sept?|oct|nov|dec)[a-z]*\.?\s+(\d{1,2}),?\s+(\d{4})\b", re.IGNORECASE
)
_LENGTH = re.compile(r"\b(three|six|nine|twelve)\s+months\b|\b(quarter)\b", re.IGNORECASE)


def _period(text: str) -> tuple[set[tuple[int, int, int]], set[str]]:
    """The dates (year, month, day) and period lengths ("three", "six", ...; a quarter is "three") a
    text names."""
    dates = {(int(y), [m[:3] for m in _MONTHS].index(mo[:3].lower()) + 1, int(d)) for mo, d, y in _DATE.findall(text)}
    lengths = {(a or "three").lower() for a, b in _LENGTH.findall(text)}
    return dates, lengths


def row_cells(quote: str) -> list[tuple[str, str]] | None:
    """A quoted table row's ``(column header, value)`` cells (``label | header: value | ...``), or None
    when the quote is no row with headed cells."""
    parts = [p.strip() for p in quote.split(" | ")]
    cells = [tuple(p.rsplit(": ", 1)) for p in parts[1:] if ": " in p]
    return cells or None  # type: ignore[return-value]


def off_period_cells(quote: str, question: str) -> list[tuple[str, str]]:
    """The cells of a quoted row whose column is for another period than the one the question names: a
    header with dates, none of them the question's (``July 1, 2023`` for a question about April 1, 2023),
    or another length (``Six Months Ended`` for "three months ended" or "quarter ended"). Empty when the
    question names no date or the quote is no row."""
    dates, lengths = _period(question)
    cells = row_cells(quote)
    if not dates or not cells:
        return []
    out = []
    for head, value in cells:
        hd, hl = _period(head)
        if (hd and not hd & dates) or (lengths and hl and not hl & lengths):
            out.append((head, value))
    return out
