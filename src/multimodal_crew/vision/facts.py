"""Facts computed in code from a chart's table or a table's grid, for the text model to use.

A 1.5B model compares and subtracts numbers badly, so the comparisons are done here, as
``calculate`` does for documents: largest and smallest per series or column, totals of stacked
bars, changes between neighbouring points, and, from the question itself, the cells it names,
their differences and counts over the thresholds it mentions. Each fact names the values it
came from, so the model (and the person reading the rationale) can check it.

Charts and grids travel as plain dicts (``Chart.as_dict()``, ``Grid.as_dict()``): they are part
of the ``see`` result.
"""

from __future__ import annotations

import re

from .reading import parse_number

__all__ = ["table_text", "table_rows", "facts", "question_facts", "used_text"]

_TOTAL_ROW = re.compile(r"^(total|sum|subtotal|sub-total|grand total|tax|vat|合计|总计|小计|总额|税)\b", re.I)


def _fmt(v: float) -> str:
    if abs(v - round(v)) < 1e-9:
        return f"{round(v):,}" if abs(v) >= 10000 else str(round(v))
    return f"{v:,.2f}".rstrip("0").rstrip(".")


def _step(t: dict) -> float:
    """The precision a chart's measurements carry: the decimal place of their uncertainty."""
    import math

    unc = max((v["uncertainty"] for v in t.get("values", []) if v["how"] == "measured"), default=0)
    return 10 ** math.floor(math.log10(unc)) if unc > 0 else 0.01


def _r(t: dict, v: float) -> str:
    """A chart value shown to the precision measured (labels keep their own digits)."""
    step = _step(t)
    return _fmt(round(round(v / step) * step, 6))


def _key(s: str) -> str:
    return re.sub(r"[\s:：]+", "", s).lower()


def _in(name: str, question: str) -> bool:
    k = _key(name)
    return bool(k) and k in _key(question)


def _by_mention(names: list, question: str, key=lambda n: n) -> list:
    """Names in the order the question mentions them ("how much more is B than A": B, then A)."""
    q = _key(question)
    return sorted(names, key=lambda n: q.find(_key(key(n))))


# -- charts ----------------------------------------------------------------------------------------
def _series_values(chart: dict) -> dict[str, list[tuple[str, float]]]:
    out: dict[str, list[tuple[str, float]]] = {}
    for v in chart["values"]:
        out.setdefault(v["series"], []).append((v["category"], v["value"]))
    return out


def used_text(tables: list[dict]):
    """A test of OCR text: is it already in one of these charts or grids (axis and category
    labels, value labels, series names, cells)?"""
    keys: set[str] = set()
    for t in tables:
        if t["type"] == "table":
            keys |= {_key(c) for r in [t["header"], *t["rows"]] for c in r if c} | {_key(t["title"])}
        else:
            keys |= {_key(x) for x in [*t["categories"], *t["series"], *t.get("ticks", [])]}
            keys |= {_key(v["label"]) for v in t["values"] if v["label"]}
    keys.discard("")

    def used(text: str) -> bool:
        k = _key(text)
        return bool(k) and (k in keys or any(k in u for u in keys if len(k) >= 3))

    return used


def _value_cell(t: dict, v: dict) -> str:
    if v["how"] == "label":
        return _fmt(round(v["value"], 6))
    return f"≈{_r(t, v['value'])}"


def table_text(t: dict) -> str:
    """A chart's values or a table's grid as a Markdown table, with what it is."""
    if t["type"] == "table":
        head = f"Table read as a grid ({len(t['rows'])} rows" + (f', title "{t["title"]}"' if t["title"] else "")
        lines = ["| " + " | ".join(h.replace("|", "/") for h in t["header"]) + " |", "|" + "---|" * len(t["header"])]
        lines += ["| " + " | ".join((c or "(empty)").replace("|", "/") for c in r) + " |" for r in t["rows"]]
        return head + "; (empty) marks an empty cell):\n" + "\n".join(lines)
    series = list(dict.fromkeys(v["series"] for v in t["values"]))
    kind = f"{t['orientation']} {'stacked ' if t['stacked'] else ''}{t['kind']} chart"
    look = "; ".join(f"{s or 'the values'}: {t['series'].get(s, '')}" for s in series)
    unc = max((v["uncertainty"] for v in t["values"] if v["how"] == "measured"), default=0)
    head = [f"Chart read by measurement ({kind}). Series: {look}."]
    if unc:
        head[0] += (f" A plain number is a printed value label; ≈ is measured from the "
                    f"{'bars' if t['kind'] == 'bar' else 'line'} (±{_r(t, unc)}).")  # fmt: skip
    names = [s or "value" for s in series]
    head.append("| category | " + " | ".join(names) + " |")
    head.append("|---|" + "---|" * len(names))
    for c in t["categories"]:
        cells = []
        for s in series:
            v = next((v for v in t["values"] if v["category"] == c and v["series"] == s), None)
            cells.append(_value_cell(t, v) if v else "(none)")
        head.append(f"| {c} | " + " | ".join(cells) + " |")
    if t["notes"]:
        head.append("Checks of labels against the measurement: " + "; ".join(t["notes"]) + ".")
    return "\n".join(head)


def table_rows(t: dict) -> tuple[str, list[str], list[list[str]]]:
    """(title, header, rows) for printing: a chart as category × series with how each value was
    obtained, a table as its grid."""
    if t["type"] == "table":
        return (t["title"] or "table", t["header"], [[c or "(empty)" for c in r] for r in t["rows"]])
    rows = []
    for v in t["values"]:
        how = f"label {v['label']} (measured {_fmt(round(v['measured'], 2))})" if v["how"] == "label" else (
            f"measured ±{_fmt(round(v['uncertainty'], 2))}")  # fmt: skip
        rows.append([v["category"], v["series"] or "-", _fmt(round(v["value"], 2)), how])
    kind = f"{t['orientation']} {'stacked ' if t['stacked'] else ''}{t['kind']} chart"
    return kind, ["category", "series", "value", "how"], rows


def facts(t: dict) -> list[str]:
    """Comparisons that do not depend on the question."""
    return _chart_facts(t) if t["type"] == "chart" else _grid_facts(t)


def _extremes(pairs: list[tuple[str, float]], what: str, show=lambda v: _fmt(round(v, 2))) -> list[str]:
    if len(pairs) < 2:
        return []
    hi = max(pairs, key=lambda p: p[1])
    lo = min(pairs, key=lambda p: p[1])
    ordered = ", ".join(f"{c} {show(v)}" for c, v in sorted(pairs, key=lambda p: -p[1]))
    return [f"{what}: largest {hi[0]} ({show(hi[1])}), smallest {lo[0]} ({show(lo[1])}); "
            f"from largest to smallest: {ordered}"]  # fmt: skip


def _chart_facts(t: dict) -> list[str]:
    out = []
    by_series = _series_values(t)
    for s, pairs in by_series.items():
        out += _extremes(pairs, f"{s}" if s else "values", lambda v: _r(t, v))
        if t["kind"] == "line" and len(pairs) >= 3:
            steps = [(a[0], b[0], b[1] - a[1]) for a, b in zip(pairs, pairs[1:], strict=False)]
            up = max(steps, key=lambda x: x[2])
            down = min(steps, key=lambda x: x[2])
            change = ", ".join(f"{a}→{b} {'+' if d >= 0 else ''}{_r(t, d)}" for a, b, d in steps)
            first, last = pairs[0][1], pairs[-1][1]
            span = max(v for _, v in pairs) - min(v for _, v in pairs) or 1
            down_text = f", largest decrease {down[0]}→{down[1]} ({_r(t, down[2])})" if down[2] < 0 else ", no decrease"
            trend = (
                ("rises" if last > first else "falls")
                if abs(last - first) > 0.1 * span
                else "ends about where it starts"
            )
            out.append(f"{s or 'the line'}: changes {change}; largest increase {up[0]}→{up[1]} "
                       f"({'+' if up[2] >= 0 else ''}{_r(t, up[2])}){down_text}; overall it {trend} ({_r(t, first)} to "
                       f"{_r(t, last)})")  # fmt: skip
    if len(by_series) > 1 and t["kind"] == "bar":
        totals: dict[str, float] = {}
        for v in t["values"]:
            totals[v["category"]] = totals.get(v["category"], 0.0) + v["value"]
        label = "stack totals (all series)" if t["stacked"] else "totals over the series"
        out += _extremes(list(totals.items()), label, lambda v: _r(t, v))
        per = []
        for c in t["categories"]:  # which series is larger in each category
            cell = [(v["series"], v["value"]) for v in t["values"] if v["category"] == c]
            if len(cell) > 1:
                per.append(f"{c} {max(cell, key=lambda p: p[1])[0]}")
        if per:
            out.append("the largest series in each category: " + ", ".join(per))
    return out


def _numeric(t: dict) -> list[int]:
    cols = []
    for j in range(1, len(t["header"])):
        filled = [r[j] for r in t["rows"] if r[j]]
        if len(filled) >= 2 and sum(parse_number(c) is not None for c in filled) >= 0.75 * len(filled):
            cols.append(j)
    return cols


def _name(t: dict, j: int) -> str:
    h = t["header"][j]
    return h if h.startswith("column ") else f"column {h}"


def _column(t: dict, j: int, totals: bool = False) -> list[tuple[str, float]]:
    out = []
    for r in t["rows"]:
        n = parse_number(r[j]) if r[j] else None
        if n is not None and (totals or not _TOTAL_ROW.match(r[0].strip())):
            out.append((r[0] or "(empty)", n))
    return out


def _grid_facts(t: dict) -> list[str]:
    out = []
    for j in _numeric(t):
        out += _extremes(_column(t, j), f"{_name(t, j)}")
        empty = [r[0] for r in t["rows"] if not r[j]]
        if empty:
            out.append(f"{_name(t, j)} is empty in the row(s): {', '.join(empty)}")
    for j in range(1, len(t["header"])):
        if j not in _numeric(t):
            empty = [r[0] for r in t["rows"] if not r[j]]
            if empty and len(empty) < len(t["rows"]):
                out.append(f"{_name(t, j)} is empty in the row(s): {', '.join(empty)}")
    return out


# -- from the question -----------------------------------------------------------------------------
_COLOUR_WORDS = {
    "red": "red", "orange": "orange", "yellow": "yellow", "green": "green", "blue": "blue", "purple": "purple",
    "pink": "pink", "brown": "brown", "grey": "grey", "gray": "grey", "black": "black", "cyan": "cyan",
    "teal": "cyan", "olive": "olive", "红": "red", "橙": "orange", "黄": "yellow", "绿": "green", "蓝": "blue",
    "紫": "purple", "粉": "pink", "棕": "brown", "灰": "grey", "黑": "black", "青": "cyan",
}  # fmt: skip
_STYLE_WORDS = {
    "dashed": "dashed",
    "dotted": "dotted",
    "solid": "solid",
    "虚线": "dashed",
    "点线": "dotted",
    "实线": "solid",
}


def _question_numbers(q: str) -> list[float]:
    out = []
    for m in re.finditer(r"(?<![\w.])[-−]?\$?\d[\d,]*(?:\.\d+)?%?", q):
        n = parse_number(m.group())
        if n is not None and not (1900 <= n <= 2100 and float(n).is_integer()):  # years are names, not thresholds
            out.append(n)
    return out


def question_facts(question: str, tables: list[dict]) -> list[str]:
    """Facts about what the question names: cells, their differences, counts over its numbers,
    and which series has the colour or line style it mentions."""
    out: list[str] = []
    nums = _question_numbers(question)
    for t in tables:
        if t["type"] == "chart":
            out += _chart_question(t, question)
        else:
            out += _grid_question(t, question, nums)
    return out


def _chart_question(t: dict, q: str) -> list[str]:
    out = []
    ql = q.lower()
    for word, colour in _COLOUR_WORDS.items():
        if re.search(rf"\b{word}\b" if word.isascii() else word, ql):
            hits = [s for s, look in t["series"].items() if re.search(rf"\b{colour}\b", look)]
            if hits:
                out.append(
                    f"the {colour} {t['kind']}s are the series: {', '.join(s or '(the only series)' for s in hits)}"
                )
    for word, style in _STYLE_WORDS.items():
        if word in ql:
            hits = [s for s, look in t["series"].items() if f" {style} line" in look]
            if hits:
                out.append(f"the {style} line is the series: {', '.join(hits)}")
    named = _by_mention([c for c in t["categories"] if _in(c, q)], q)
    series = list(dict.fromkeys(v["series"] for v in t["values"]))
    named_s = _by_mention([s for s in series if s and _in(s, q)], q)
    pick = named_s or series
    if len(named) >= 2:
        a, b = named[0], named[1]
        for s in pick:
            va = next((v["value"] for v in t["values"] if v["category"] == a and v["series"] == s), None)
            vb = next((v["value"] for v in t["values"] if v["category"] == b and v["series"] == s), None)
            if va is not None and vb is not None:
                out.append(f"{s + ': ' if s else ''}{a} {_r(t, va)} − {b} {_r(t, vb)} = "
                           f"{_r(t, va - vb)}")  # fmt: skip
    elif len(named_s) >= 2:
        for c in named or t["categories"]:
            va = next((v["value"] for v in t["values"] if v["category"] == c and v["series"] == named_s[0]), None)
            vb = next((v["value"] for v in t["values"] if v["category"] == c and v["series"] == named_s[1]), None)
            if va is not None and vb is not None:
                out.append(f"{c}: {named_s[0]} {_r(t, va)} − {named_s[1]} {_r(t, vb)} = "
                           f"{_r(t, va - vb)}")  # fmt: skip
    return out


def _grid_question(t: dict, q: str, nums: list[float]) -> list[str]:
    out = []
    rows = _by_mention([r for r in t["rows"] if r[0] and _in(r[0], q)], q, key=lambda r: r[0])
    # a column is named by its header, or by the last word of a merged header ("Score Away": "Away")
    cols = [j for j in range(1, len(t["header"])) if _in(t["header"][j], q)
            or (len(t["header"][j].split()) > 1 and len(t["header"][j].split()[-1]) > 2 and _in(t["header"][j].split()[-1], q))]  # fmt: skip
    for r in rows:
        for j in cols:
            out.append(f"row {r[0]}, {_name(t, j)}: {r[j] or '(empty)'}")
    num_cols = _numeric(t)
    for j in cols:
        if j in num_cols and len(rows) >= 2:
            a, b = parse_number(rows[0][j] or "x"), parse_number(rows[1][j] or "x")
            if a is not None and b is not None:
                out.append(f"{_name(t, j)}: {rows[0][0]} {_fmt(a)} − {rows[1][0]} {_fmt(b)} = {_fmt(a - b)}")
    if len(rows) == 1 and len(cols) >= 2:
        a, b = parse_number(rows[0][cols[0]] or "x"), parse_number(rows[0][cols[1]] or "x")
        if a is not None and b is not None:
            out.append(f"row {rows[0][0]}: {t['header'][cols[0]]} {_fmt(a)} − {t['header'][cols[1]]} {_fmt(b)} = "
                       f"{_fmt(a - b)}")  # fmt: skip
    for n in nums:
        for j in [c for c in (cols or num_cols) if c in num_cols]:
            col = _column(t, j)
            over = [c for c, v in col if v > n]
            under = [c for c, v in col if v < n]
            out.append(f"{_name(t, j)}: {len(over)} row(s) above {_fmt(n)}"
                       f"{' (' + ', '.join(over) + ')' if over else ''}, {len(under)} below{' (' + ', '.join(under) + ')' if under else ''}")  # fmt: skip
    return out
