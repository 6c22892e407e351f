"""What the readers found in an image, as text for the text model: one dispatch on each
reading's ``type`` (``chart`` and ``table``: facts.py; ``diagram``: diagram.py; ``shapes``:
shapes.py; ``form``: marks.py).

Readings travel as plain dicts in the ``see`` result (``tables``); everything that shows them
(the description, the question's facts, ``mmcrew see --show-table``) goes through here.
"""

from __future__ import annotations

import re

from . import diagram as _diagram
from . import facts as _facts
from . import marks as _marks
from . import shapes as _shapes
from .reading import name_key

__all__ = ["reading_text", "reading_facts", "question_facts", "reading_rows", "used_text", "measured_answer"]

_TABLES = ("chart", "table")


def reading_text(t: dict) -> str:
    if t["type"] == "form":
        return _marks.form_text(t)
    if t["type"] == "shapes":
        return (f"Shapes measured in the picture ({len(t['shapes'])} of flat colour; centre x,y in pixels of a "
                f"{t['width']}x{t['height']} image, y grows downwards):")  # fmt: skip
    return _diagram.diagram_text(t) if t["type"] == "diagram" else _facts.table_text(t)


def reading_facts(t: dict) -> list[str]:
    if t["type"] == "form":
        return []  # the form's text says it all; the question's facts pick out what it asks
    if t["type"] == "shapes":
        return _shapes.shape_facts(t, "")
    return _diagram.diagram_facts(t) if t["type"] == "diagram" else _facts.facts(t)


def question_facts(question: str, tables: list[dict]) -> list[str]:
    out = _facts.question_facts(question, [t for t in tables if t["type"] in _TABLES])
    for t in tables:
        if t["type"] == "diagram":
            out += _diagram.diagram_question_facts(t, question)
        elif t["type"] == "form":
            out += _marks.form_question_facts(t, question)
        elif t["type"] == "shapes":  # what the question asks about; the counts are in the description
            general = set(_shapes.shape_facts(t, ""))
            out += [f for f in _shapes.shape_facts(t, question) if f not in general]
    return out


def reading_rows(t: dict) -> tuple[str, list[str], list[list[str]]]:
    """(title, header, rows) for printing."""
    if t["type"] == "form":
        rows = [[g["heading"], o["label"], "marked" if o["marked"] else ""] for g in t["groups"] for o in g["options"]]
        rows += [[f["label"], f["value"] or "(empty)", "field"] for f in t["fields"]]
        return "form", ["group or field", "option or value", ""], rows
    if t["type"] == "shapes":
        rows = [[x["kind"], x["colour"], f"{x['cx']},{x['cy']}", f"{x['w']}x{x['h']}"] for x in t["shapes"]]
        return "shapes", ["kind", "colour", "centre", "box"], rows
    if t["type"] != "diagram":
        return _facts.table_rows(t)
    if t["kind"] == "timeline":
        return "timeline", ["year", "event"], [list(e) for e in t["events"]]
    if t["kind"] == "layers":
        return "layers, top to bottom", ["position", "layer"], [[str(i), n] for i, n in enumerate(t["nodes"], 1)]
    return "diagram", ["from", "to", "how", "label"], [[e["from"], e["to"], e["how"], e["label"]] for e in t["edges"]]


def used_text(tables: list[dict]):
    """A test of OCR text: is it already in one of these readings?"""
    base = _facts.used_text([t for t in tables if t["type"] in _TABLES])
    keys = {name_key(x) for t in tables if t["type"] == "diagram" for x in _diagram.diagram_used(t)}
    keys |= {name_key(x) for t in tables if t["type"] == "form" for x in _marks.form_used(t)}
    keys.discard("")

    def used(text: str) -> bool:
        k = name_key(text)
        return base(text) or (bool(k) and (k in keys or any(k in u for u in keys if len(k) >= 3)))

    return used


_PARENS = re.compile(r"\([^()]*\)|（[^（）]*）")


def _tail(fact: str) -> str:
    """The part of a fact that answers: after "in short:" or "the outcome is", else after the last
    ':' or '=' of its first clause (asides in brackets left out)."""
    for mark in ("in short:", "the outcome is "):
        if mark in fact:
            return fact.rsplit(mark, 1)[1]
    first = re.split(r"[;；]", _PARENS.sub("", fact), maxsplit=1)[0]
    parts = re.split(r"[:：=]", first)
    return parts[-1] if len(parts) > 1 else ""


def _pick(tail: str, choices: list[str]) -> str | None:
    t = name_key(tail).strip(",，.。")
    if not t:
        return None
    same = [c for c in choices if name_key(c) == t]
    if len(same) == 1:
        return same[0]
    inside = [c for c in choices if name_key(c) and name_key(c) in t]  # "the red circle, 40 px away"
    if len(inside) == 1:
        return inside[0]
    around = [c for c in choices if len(t) >= 3 and t in name_key(c)]  # "to the left of": "It is to the left of it"
    return around[0] if len(around) == 1 and not inside else None


def measured_answer(question: str, tables: list[dict], choices: list[str]) -> tuple[str, str] | None:
    """The option the readings' facts about this question name, with the fact, when they name
    exactly one (facts that name different options, or several at once, give ``None``; so does a
    question offline mode answers with low confidence, such as a count of overlapping shapes)."""
    from .limits import offline_limit

    if offline_limit(question, tables):
        return None
    picked: dict[str, str] = {}
    for fact in question_facts(question, tables):
        c = _pick(_tail(fact), choices)
        if c is not None:
            picked.setdefault(c, fact)
    return next(iter(picked.items())) if len(picked) == 1 else None
