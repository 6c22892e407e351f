"""Check that every number in a text is in, or exactly derivable from, a set of facts.

A written number is accepted when some allowed value, rounded to the number of
decimals it was written with, equals it. So ``3412.5`` matches an average of
3412.47, ``3,412`` matches 3412, but ``3400`` does not match 3412.

>>> unsupported_numbers("Berlin had 1,234 users (12.5%).", {1234, 12.46})
[]
>>> unsupported_numbers("Berlin had 1,300 users.", {1234})
['1,300']
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable

__all__ = ["NUMBER", "derived_values", "number_values", "unsupported_numbers"]

# 1,234,567 | 1234.5 | .5 ; a leading minus only when not part of a date or range like 2024-01-31
NUMBER = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?![\w])")


def _candidates(text: str) -> Iterable[str]:
    for m in NUMBER.finditer(text):
        tok = m.group(0)
        if not tok or tok in {"-", "."} or not any(ch.isdigit() for ch in tok):
            continue
        # "2024-01-31": the "-01" is a date part, not a negative number
        if tok.startswith("-") and m.start() > 0 and text[m.start() - 1].isdigit():
            tok = tok[1:]
        yield tok


def _matches(token: str, allowed: Iterable[float]) -> bool:
    clean = token.replace(",", "")
    try:
        value = float(clean)
    except ValueError:
        return True  # not a number after all
    decimals = len(clean.split(".")[1]) if "." in clean else 0
    return any(round(float(a), decimals) == round(value, decimals) for a in allowed)


def unsupported_numbers(text: str, allowed: Iterable[float]) -> list[str]:
    """The numbers written in ``text`` that no allowed value explains, in order of appearance."""
    allowed = list(allowed)
    allowed_abs = allowed + [abs(a) for a in allowed]
    return [tok for tok in _candidates(text) if not _matches(tok.lstrip("-"), allowed_abs)]


def number_values(text: str) -> set[float]:
    """The values of the numbers written in ``text`` (``(1,234)`` and ``1,234`` both give 1234.0), with
    the whole numbers 0 to 10, which an answer may count with on its own ("2 options")."""
    out = {float(k) for k in range(11)}
    for tok in _candidates(text):
        try:
            out.add(float(tok.replace(",", "")))
        except ValueError:
            continue
    return out


def derived_values(values: dict[str, float], totals: Iterable[float]) -> set[float]:
    """Values exactly derivable from a table: the cells, their sum, pairwise differences,
    ratios, and each total's share of the grand total in percent."""
    cells = set(values.values())
    totals = list(totals)
    grand = sum(totals)
    out = set(cells) | {grand, len(totals)}
    for a, b in itertools.permutations(totals, 2):
        out.add(a - b)
        if b:
            out.add(a / b)
            out.add(100.0 * (a - b) / b)
    if grand:
        out |= {100.0 * t / grand for t in totals}
    return out
