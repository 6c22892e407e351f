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

from .reading import name_key, parse_number

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


def _in(name: str, question: str) -> bool:
    """Does the question name it? A short Latin name must start a word ("Wed" in "Wednesday",
    not "A" in "largest"), a one-letter one must be a word of its own."""
    k = name_key(name)
    if k.isascii() and len(k) <= 3 and k.isalnum():
        end = r"(?![a-z0-9])" if len(k) == 1 else ""
        return bool(re.search(rf"(?<![a-z0-9]){re.escape(k)}{end}", question.lower()))
    return bool(k) and k in name_key(question)


def _by_mention(names: list, question: str, key=lambda n: n) -> list:
    """Names in the order the question mentions them ("how much more is B than A": B, then A)."""
    q = name_key(question)
    return sorted(names, key=lambda n: q.find(name_key(key(n))))


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
            keys |= {name_key(c) for r in [t["header"], *t["rows"]] for c in r if c} | {name_key(t["title"])}
        else:
            keys |= {name_key(x) for x in [*t["categories"], *t["series"], *t.get("ticks", [])]}
            keys |= {name_key(v["label"]) for v in t["values"] if v["label"]}
    keys.discard("")

    def used(text: str) -> bool:
        k = name_key(text)
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
            trend = _shape(pairs, span)
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


def _runs(pairs: list[tuple[str, float]], span: float) -> list[tuple[str, int, int]]:
    """The rises and falls of a sequence as runs (direction, first index, last index); a change
    smaller than 3% of the span is flat and joins its neighbours."""
    runs: list[tuple[str, int, int]] = []
    for k in range(1, len(pairs)):
        d = pairs[k][1] - pairs[k - 1][1]
        way = "flat" if abs(d) <= 0.03 * span else "rises" if d > 0 else "falls"
        if runs and (runs[-1][0] == way or way == "flat"):
            runs[-1] = (runs[-1][0], runs[-1][1], k)
        elif runs and runs[-1][0] == "flat":
            runs[-1] = (way, runs[-1][1], k)
        else:
            runs.append((way, k - 1, k))
    return runs


def _shape(pairs: list[tuple[str, float]], span: float) -> str:
    """ "rises", "falls, then rises", "rises, then falls, then rises", or "stays about the same"."""
    runs = [r for r in _runs(pairs, span or 1) if r[0] != "flat"]
    if not runs:
        return "stays about the same"
    words = [runs[0][0]] + [r[0] for r in runs[1:]]
    text = ", then ".join(words)
    return text + (" steadily" if len(runs) == 1 and len(pairs) > 2 else "")


_MOST = re.compile(r"highest|most|largest|greatest|biggest|maximum|\bmax\b|\bpeak|warmest|hottest|longest|tallest|"
                   r"最高|最多|最大|最长|最贵|最热", re.I)  # fmt: skip
_LEAST = re.compile(r"lowest|least|fewest|smallest|minimum|\bmin\b|coldest|cheapest|shortest|"
                    r"最低|最少|最小|最短|最便宜|最冷", re.I)  # fmt: skip
_TOTAL = re.compile(r"total|sum|overall|combined|altogether|总|合计|一共", re.I)
_NEGATIVE = re.compile(r"negative|below zero|less than zero|under zero|负|亏损|下降", re.I)


_MORE = re.compile(r"\b(?:higher|more|larger|greater|bigger)\b|更高|更多|更大", re.I)
_LESS = re.compile(r"\b(?:lower|less|fewer|smaller)\b|更低|更少|更小", re.I)
_THAN = re.compile(r"\bthan\b|比", re.I)
_RISE = re.compile(r"increase|rise|grow|growth|gain|jump|增长|增加|上升|上涨|增幅", re.I)
_DROP = re.compile(r"decrease|drop|fall|decline|loss|下降|减少|下跌|降幅", re.I)


def _superlative(q: str) -> str:
    """ "largest", "smallest", or "" from the question's words; "which is higher (on Friday)"
    asks the same, a comparison with "than" does not."""
    most, least = _MOST.search(q), _LEAST.search(q)
    if not most and not least and not _THAN.search(q):
        most, least = _MORE.search(q), _LESS.search(q)
    if most and least:
        return "largest" if most.start() < least.start() else "smallest"
    return "largest" if most else "smallest" if least else ""


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
    for m in re.finditer(r"(?<![A-Za-z0-9_.])[-−]?\$?\d[\d,]*(?:\.\d+)?%?", q):
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
    by_series = _series_values(t)
    sup = _superlative(q)
    direct: list[str] = []  # facts that answer the question as asked: they go first
    change = "increase" if _RISE.search(q) else "decrease" if _DROP.search(q) else ""
    if sup and change and len(t["categories"]) >= 3:  # "between which two months did it increase most"
        for s in pick:
            pairs = by_series[s]
            steps = [(f"{a[0]} to {b[0]}", b[1] - a[1]) for a, b in zip(pairs, pairs[1:], strict=False)]
            steps.sort(key=lambda x: -x[1] if change == "increase" else x[1])
            shown = ", ".join(f"{w} {'+' if d >= 0 else ''}{_r(t, d)}" for w, d in steps)
            direct.append(f"{s + ': ' if s else ''}the largest {change} between neighbouring categories is "
                          f"{steps[0][0]} ({'+' if steps[0][1] >= 0 else ''}{_r(t, steps[0][1])}); all changes, "
                          f"ordered: {shown}")  # fmt: skip
        sup = ""
    if sup and len(named) == 1 and len(series) > 1:  # "which class scored highest in Art"
        cell = [(s, v) for s in series for c, v in by_series[s] if c == named[0]]
        direct += _ranked(cell, f"in {named[0]}, the series", sup, lambda v: _r(t, v))
    elif sup and not named:
        total = len(series) > 1 and not named_s and t["kind"] == "bar" and _TOTAL.search(q)
        for s in [] if total else pick:
            direct += _ranked(by_series[s], f"{s + ': ' if s else ''}the category", sup, lambda v: _r(t, v))
        if len(series) > 1 and not named_s and t["kind"] == "bar":
            totals: dict[str, float] = {}
            for v in t["values"]:
                totals[v["category"]] = totals.get(v["category"], 0.0) + v["value"]
            what = "stack total" if t["stacked"] else "total over the series"
            direct += _ranked(list(totals.items()), f"by {what}, the category", sup, lambda v: _r(t, v))
    if len(named) == 1 and not (_THAN.search(q) and len(named_s) >= 2):  # "about how much snow fell on Thursday"
        for s in pick:
            v = next((v for v in t["values"] if v["category"] == named[0] and v["series"] == s), None)
            if v is not None:
                direct.append(f"value of {s + ' at ' if s else ''}{named[0]}: {_value_cell(t, v)}")
    if len(named) >= 2 and t["kind"] == "line":  # a trend over a range: "from February to June"
        order = {c: k for k, c in enumerate(t["categories"])}
        i, j = sorted((order[named[0]], order[named[-1]]))
        for s in pick:
            part = [(c, v) for c, v in by_series[s] if i <= order.get(c, -1) <= j]
            if len(part) >= 2:
                span = max(v for _, v in by_series[s]) - min(v for _, v in by_series[s])
                turns = [part[0]] + [part[r[2]] for r in _runs(part, span or 1) if r[0] != "flat"]
                path = " → ".join(f"{c} {_r(t, v)}" for c, v in dict(turns).items())
                direct.append(f"{s + ': ' if s else ''}from {part[0][0]} to {part[-1][0]} it "
                              f"{_shape(part, span)} ({path})")  # fmt: skip
    out = direct + out
    nums = _question_numbers(q)
    counting = re.search(r"how many|number of|count|几|多少个", q, re.I)
    if counting and (_NEGATIVE.search(q) or nums):
        for s in pick:
            pairs = by_series[s]
            for n in nums or [0.0]:
                over = [c for c, v in pairs if v > n]
                under = [c for c, v in pairs if v < n]
                out.append(f"{s + ': ' if s else ''}{len(over)} above {_fmt(n)}{' (' + ', '.join(over) + ')' if over else ''}"
                           f", {len(under)} below {_fmt(n)}{' (' + ', '.join(under) + ')' if under else ''}")  # fmt: skip
    if len(named) >= 2:
        a, b = named[0], named[1]
        for s in pick:
            va = next((v["value"] for v in t["values"] if v["category"] == a and v["series"] == s), None)
            vb = next((v["value"] for v in t["values"] if v["category"] == b and v["series"] == s), None)
            if va is not None and vb is not None:
                out.append(f"{s + ': ' if s else ''}{a} {_r(t, va)} − {b} {_r(t, vb)} = "
                           f"{_r(t, va - vb)}")  # fmt: skip
    elif len(named_s) >= 2:
        more, less = [], []
        for c in named or t["categories"]:
            va = next((v["value"] for v in t["values"] if v["category"] == c and v["series"] == named_s[0]), None)
            vb = next((v["value"] for v in t["values"] if v["category"] == c and v["series"] == named_s[1]), None)
            if va is not None and vb is not None:
                out.append(f"{c}: {named_s[0]} {_r(t, va)} − {named_s[1]} {_r(t, vb)} = "
                           f"{_r(t, va - vb)}")  # fmt: skip
                (more if va > vb else less if va < vb else []).append(c)
        if not named and more and less:
            out.insert(len(direct), f"{named_s[0]} is larger than {named_s[1]} in: {', '.join(more)}; smaller in: "
                       f"{', '.join(less)}")  # fmt: skip
    return out


def _ranked(pairs: list[tuple[str, float]], what: str, sup: str, show=lambda v: _fmt(round(v, 2))) -> list[str]:
    """ "the largest is X (v), then Y (w)": the answer to a superlative question, named first."""
    if len(pairs) < 2:
        return []
    ordered = sorted(pairs, key=lambda p: -p[1] if sup == "largest" else p[1])
    rest = ", ".join(f"{c} {show(v)}" for c, v in ordered[1:])
    return [f"{what} with the {sup} value is {ordered[0][0]} ({show(ordered[0][1])}); then {rest}"]


_EMPTY = re.compile(r"empty|blank|missing|\bno\b|without|为空|空白|缺少|缺失|没有", re.I)
_UNITS = re.compile(r"[(（][^)）]*[)）]")


def _named_columns(t: dict, q: str) -> list[int]:
    """Columns the question names: by the whole header, else by the most of its words (units in
    brackets left out: "Population (m)" is named by "population"; "Away Won" by "away")."""
    whole = [j for j in range(1, len(t["header"])) if _in(t["header"][j], q)]
    if whole:
        return whole
    score = {}
    for j in range(1, len(t["header"])):
        words = [w for w in _UNITS.sub(" ", t["header"][j]).split() if len(w) > 2 or not w.isascii()]
        score[j] = sum(_in(w, q) for w in words)
    best = max(score.values(), default=0)
    return [j for j, n in score.items() if n == best] if best else []


def _grid_question(t: dict, q: str, nums: list[float]) -> list[str]:
    out = []
    rows = _by_mention([r for r in t["rows"] if r[0] and _in(r[0], q)], q, key=lambda r: r[0])
    cols = _named_columns(t, q)
    num_cols = _numeric(t)
    sup = _superlative(q)
    direct = []
    if sup and not rows:
        for j in [c for c in (cols or num_cols) if c in num_cols]:
            direct += _ranked(_column(t, j), f"{_name(t, j)}: the row", sup)
    if _EMPTY.search(q):
        for j in cols or range(1, len(t["header"])):
            empty = [r[0] for r in t["rows"] if not r[j]]
            if empty and len(empty) < len(t["rows"]):
                direct.append(f"the row(s) with an empty cell in {_name(t, j)}: {', '.join(empty)}")
    out += direct
    for r in rows:
        for j in cols:
            out.append(f"row {r[0]}, {_name(t, j)}: {r[j] or '(empty)'}")
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
    if not rows and len(cols) == 2 and all(j in num_cols for j in cols):  # "which row has less in B than in A"
        a, b = cols
        pairs = [(r[0], parse_number(r[a] or "x"), parse_number(r[b] or "x")) for r in t["rows"]]
        pairs = [(n, x, y) for n, x, y in pairs if x is not None and y is not None and not _TOTAL_ROW.match(n)]
        if pairs:
            diffs = ", ".join(f"{n} {_fmt(y)} − {_fmt(x)} = {_fmt(y - x)}" for n, x, y in pairs)
            out.append(f"{t['header'][b]} − {t['header'][a]} per row: {diffs}; {t['header'][b]} is smaller in: "
                       f"{', '.join(n for n, x, y in pairs if y < x) or 'none'}; larger in: "
                       f"{', '.join(n for n, x, y in pairs if y > x) or 'none'}")  # fmt: skip
    for n in nums:
        for j in [c for c in (cols or num_cols) if c in num_cols]:
            col = _column(t, j)
            over = [c for c, v in col if v > n]
            under = [c for c, v in col if v < n]
            out.append(f"{_name(t, j)}: {len(over)} row(s) above {_fmt(n)}"
                       f"{' (' + ', '.join(over) + ')' if over else ''}, {len(under)} below{' (' + ', '.join(under) + ')' if under else ''}")  # fmt: skip
    return out
