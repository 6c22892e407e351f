"""What the vision readers share: numbers as printed, colour names as a question would say
them, and OCR boxes grouped into rows."""

from __future__ import annotations

import re

__all__ = ["parse_number", "colour_name", "hex_colour", "text_rows", "name_key", "loose_key"]

_NUM = re.compile(r"^[-−–+]?[$€£¥]?\d[\d,]*(?:\.\d+)?(?:%|[kKMB])?$|^[-−–+]?[$€£¥]?\.\d+%?$")
_SUFFIX = {"k": 1e3, "K": 1e3, "M": 1e6, "B": 1e9}  # "40k", "$1.2M", "3B"
# a Chinese cell's number with its unit: "1.2万" (ten thousand), "3亿", "89元", "￥45", "96％"
_ZH = re.compile(r"^([-−－]?)[¥￥]?(\d[\d,，]*(?:\.\d+)?)(万|亿)?(?:元|人|个|件|家|台|次|分|[%％])?$")
_SCALE = {"万": 1e4, "亿": 1e8}


def parse_number(text: str) -> float | None:
    """``"1,250"``, ``"−3.5"``, ``"$40"``, ``"12%"``, ``"40k"``, ``"$1.2M"`` as floats, and Chinese ones with their unit:
    ``"1.2万"`` is 12000, ``"89元"`` 89; anything else ``None``."""
    t = text.strip().replace(" ", "")
    if len(t) > 1 and t[0] in "%％" and t[1].isdigit():  # "%96": OCR put the sign first
        t = t[1:] + "%"
    if not _NUM.match(t):
        m = _ZH.match(t)
        if not m or not any("\u4e00" <= ch <= "\u9fff" or ch in "￥％" for ch in t):
            return None
        sign, digits, scale = m.group(1), m.group(2).replace(",", "").replace("，", ""), m.group(3)
        return (-1 if sign else 1) * float(digits) * _SCALE.get(scale or "", 1)
    t = t.replace(",", "").replace("−", "-").replace("–", "-").rstrip("%").lstrip("+")
    t = re.sub(r"[$€£¥]", "", t)
    scale = _SUFFIX.get(t[-1], 1) if t else 1
    try:
        return float(t[:-1] if scale != 1 else t) * scale
    except ValueError:
        return None


def colour_name(rgb) -> str:
    """A plain colour name by hue, saturation and lightness (what a question would call it)."""
    r, g, b = (int(c) / 255 for c in rgb[:3])
    hi, lo = max(r, g, b), min(r, g, b)
    light, sat = (hi + lo) / 2, hi - lo
    if sat < 0.12:
        return "black" if hi < 0.25 else "white" if lo > 0.9 else "grey"
    if hi == r:
        hue = (60 * (g - b) / sat) % 360
    elif hi == g:
        hue = 60 * (b - r) / sat + 120
    else:
        hue = 60 * (r - g) / sat + 240
    if (hue < 15 or hue >= 335) and hi < 0.7 and sat / hi < 0.6:
        name = "brown"  # a dull dark red (matplotlib's tab:brown), not a deep red (#8b0000)
    elif hue < 15 or hue >= 335:
        name = "pink" if light > 0.7 else "red"
    elif hue < 45:
        name = "brown" if hi < 0.6 else "orange"
    elif hue < 70:
        name = "olive" if hi < 0.8 and sat > 0.3 and g < 0.8 else "yellow"
    elif hue < 160:
        name = "green"
    elif hue < 195:
        name = "cyan"
    elif hue < 255:
        name = "blue"
    elif hue < 290:
        name = "purple"
    else:
        name = "pink" if light > 0.6 else "purple"
    if name in ("blue", "green", "red", "purple") and light > 0.72:
        name = "light " + name
    elif name in ("blue", "green") and hi < 0.45:
        name = "dark " + name
    return name


def hex_colour(rgb) -> str:
    return "#" + "".join(f"{int(c):02x}" for c in rgb[:3])


def text_rows(lines: list) -> list[list]:
    """Group boxes whose vertical centres are within half a line height, then sort each row by x."""
    rows: list[list] = []
    for t in sorted(lines, key=lambda t: t.y + t.h / 2):
        centre = t.y + t.h / 2
        if rows:
            last = rows[-1]
            ref = sum(u.y + u.h / 2 for u in last) / len(last)
            if abs(centre - ref) <= max(4, 0.5 * min(t.h, max(u.h for u in last))):
                last.append(t)
                continue
        rows.append([t])
    return [sorted(r, key=lambda t: t.x) for r in rows]


def name_key(s: str) -> str:
    """A name as compared with the question: without spaces and colons (OCR drops spaces), lower case."""
    return re.sub(r"[\s:：]+", "", s).lower()


def loose_key(s: str) -> str:
    """``name_key`` also without quotes, brackets and punctuation ("“Paid?” is Yes", a box's "Paid?")."""
    return re.sub(r"[\s\"'“”‘’「」『』:：?？。.,，()（）]+", "", s).lower()
