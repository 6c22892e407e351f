"""Render vision set 2, a HELD-OUT evaluation set: images with known answers, ScienceQA item shape.

This set exists to test whether the vision code generalises to images of the same kinds
it was developed on (``bench/make_vision_set.py``) but drawn differently. It is held out:
never tune prompts, parsers, thresholds or any other code on these items or images;
only run the evaluation on it and report the figures.

What it renders (other layouts, fonts, colours, sizes, wording and seeds than set 1):

* bar charts (matplotlib): vertical and horizontal, single, grouped (2-3 series with a
  legend inside, below or outside the plot) and stacked; all, some or no value labels;
* line charts: one to three lines with colours, line styles and markers, axes that do not
  start at zero, labels on all, some or no points;
* tables (PIL and matplotlib): 3-6 columns, merged header cells, empty cells, grid /
  rules / outer / no borders, zebra stripes, different alignments;
* receipts and menus, signs (some rotated by a few degrees), forms, labelled diagrams
  (org charts, cycles, decision flowcharts, timelines, layer profiles);
* perception: counting overlapping shapes, relative positions in a drawn scene.

Chinese items (category suffix ``_zh``) use WenQuanYi Zen Hei
(``apt-get install fonts-wqy-zenhei``). Liberation Sans is used where it is installed
(DejaVu Sans Condensed otherwise), so images can differ slightly between machines.

Writes ``<out>/images/*.png`` and ``<out>/items.jsonl`` with one
``{image, question, choices, answer, category[, truth]}`` per line; ``truth`` (charts only)
holds the exact plotted values. Deterministic (fixed seeds), offline.

    python bench/make_vision_set2.py [--out bench/data/vision_new]
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import logging
import math
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from matplotlib.transforms import Bbox  # noqa: E402
from PIL import Image, ImageDraw, ImageFont, ImageOps  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "data" / "vision_new"
SEED = "vision-set-2/held-out/k7"
ZH_FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
ZH_FAMILY = "WenQuanYi Zen Hei"

CATEGORIES = {
    "bar_chart",
    "line_chart",
    "table",
    "receipt",
    "sign",
    "form",
    "diagram",
    "perception_count",
    "perception_spatial",
}
CATEGORIES |= {f"{c}_zh" for c in CATEGORIES}

# ----------------------------------------------------------------------------- fonts


def _font_files() -> dict[str, str]:
    files: dict[str, str] = {}
    for p in Path(matplotlib.get_data_path(), "fonts", "ttf").glob("*.ttf"):
        files[p.name] = str(p)
    for root in ("/usr/share/fonts", "/usr/local/share/fonts"):
        for p in sorted(Path(root).rglob("*.tt[fc]")) if Path(root).is_dir() else []:
            files[p.name] = str(p)
    return files


_FILES = _font_files()


def _pick_file(*names: str) -> str:
    for n in names:
        if n in _FILES:
            return _FILES[n]
    raise SystemExit(f"none of the fonts {names} is installed")


PIL_FONTS = {
    "sans": _pick_file("DejaVuSans.ttf"),
    "sans_bold": _pick_file("DejaVuSans-Bold.ttf"),
    "serif": _pick_file("DejaVuSerif.ttf"),
    "serif_bold": _pick_file("DejaVuSerif-Bold.ttf"),
    "serif_italic": _pick_file("DejaVuSerif-Italic.ttf", "DejaVuSerif.ttf"),
    "mono": _pick_file("DejaVuSansMono.ttf"),
    "mono_bold": _pick_file("DejaVuSansMono-Bold.ttf"),
    "cond": _pick_file("LiberationSans-Regular.ttf", "DejaVuSansCondensed.ttf", "DejaVuSans.ttf"),
    "cond_bold": _pick_file("LiberationSans-Bold.ttf", "DejaVuSansCondensed-Bold.ttf", "DejaVuSans-Bold.ttf"),
}
HAS_LIBERATION = "LiberationSans-Regular.ttf" in _FILES
# matplotlib families: (family, stretch)
MPL_FAMILIES = [("DejaVu Sans", "normal"), ("DejaVu Serif", "normal"), ("DejaVu Sans Mono", "normal")]
MPL_FAMILIES.append(("Liberation Sans", "normal") if HAS_LIBERATION else ("DejaVu Sans", "condensed"))


def _need_zh() -> None:
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)  # WQY has weight 500 only
    if not Path(ZH_FONT).exists():
        raise SystemExit(f"{ZH_FONT} is missing: apt-get install fonts-wqy-zenhei")
    if not any(f.name == ZH_FAMILY for f in font_manager.fontManager.ttflist):
        font_manager.fontManager.addfont(ZH_FONT)


@functools.cache
def pfont(kind: str, size: int) -> ImageFont.FreeTypeFont:
    """PIL font: a PIL_FONTS key, or zh / zh_mono / zh_sharp (faces of the WenQuanYi collection)."""
    if kind.startswith("zh"):
        index = {"zh": 0, "zh_mono": 1, "zh_sharp": 2}[kind.split("_bold")[0]]
        return ImageFont.truetype(ZH_FONT, size, index=index)
    return ImageFont.truetype(PIL_FONTS[kind], size)


def bold(kind: str) -> str:
    if kind.startswith("zh"):
        return kind
    base = kind.split("_")[0]
    return f"{base}_bold" if f"{base}_bold" in PIL_FONTS else kind


# ----------------------------------------------------------------------------- helpers


def T(zh: bool, en: str, cn: str) -> str:
    return cn if zh else en


def snap(v: float, res: float) -> float:
    return round(round(v / res) * res, 6)


def fmt(v: float, dec: int, comma: bool = False) -> str:
    return f"{v:,.{dec}f}" if comma else f"{v:.{dec}f}"


def _norm(s: str) -> str:
    return " ".join(str(s).split()).casefold()


def pick(rng: random.Random, right, pool: Sequence, n: int = 4, shuffle_pool: bool = True) -> tuple[list[str], int]:
    """The right answer plus up to n-1 distinct distractors, shuffled."""
    right = str(right)
    pool = [str(p) for p in pool]
    if shuffle_pool:
        pool = rng.sample(pool, len(pool))
    picks, seen = [right], {_norm(right)}
    for p in pool:
        if len(picks) == n:
            break
        if _norm(p) not in seen:
            picks.append(p)
            seen.add(_norm(p))
    assert len(picks) >= 3, (right, pool)
    rng.shuffle(picks)
    return picks, picks.index(right)


def num_choices(
    rng: random.Random,
    right: float,
    gap: float,
    lo: float,
    hi: float,
    res: float,
    dec: int,
    pool: Sequence[float] = (),
) -> tuple[list[str], int]:
    """Numeric choices: pairwise at least ``gap`` and 15 % (relative) apart, all in [lo, hi]."""

    def ok(c: float, chosen: list[float]) -> bool:
        return all(abs(c - x) >= gap - 1e-9 and abs(c - x) >= 0.15 * max(abs(c), abs(x)) - 1e-9 for x in chosen)

    cands = list(pool)
    rng.shuffle(cands)
    extra = [right + s * gap * f for s in (-3, -2, -1, 1, 2, 3) for f in (1.0, 1.15, 1.35, 1.6)]
    rng.shuffle(extra)
    chosen = [right]
    for c in cands + extra:
        c = snap(c, res)
        if lo <= c <= hi and ok(c, chosen):
            chosen.append(c)
        if len(chosen) == 4:
            break
    assert len(chosen) >= 3, (right, gap, lo, hi)
    strs = [fmt(c, dec) for c in chosen]
    assert len(set(strs)) == len(strs)
    right_s = strs[0]
    rng.shuffle(strs)
    return strs, strs.index(right_s)


def spread(rng: random.Random, n: int, lo: float, hi: float, gap: float, res: float) -> list[float]:
    """n values in [lo, hi], pairwise at least ``gap - res`` apart, shuffled."""
    span = hi - lo - (n - 1) * gap
    assert span > 0, (n, lo, hi, gap)
    base = sorted(rng.uniform(0, span) for _ in range(n))
    vals = [snap(lo + b + k * gap, res) for k, b in enumerate(base)]
    rng.shuffle(vals)
    return vals


def canvas(w: int, h: int, bg="white") -> tuple[Image.Image, ImageDraw.ImageDraw]:
    img = Image.new("RGB", (w, h), bg)
    return img, ImageDraw.Draw(img)


def tilt(img: Image.Image, angle: float, bg, pad: int = 30) -> Image.Image:
    base = Image.new("RGB", (img.width + 2 * pad, img.height + 2 * pad), bg)
    base.paste(img, (pad, pad))
    return base.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=bg)


def arrow(d: ImageDraw.ImageDraw, p0, p1, fill="black", width: int = 3, head: int = 12) -> None:
    (x0, y0), (x1, y1) = p0, p1
    ang = math.atan2(y1 - y0, x1 - x0)
    bx, by = x1 - head * math.cos(ang), y1 - head * math.sin(ang)
    d.line((x0, y0, bx, by), fill=fill, width=width)
    left = (bx + head * 0.55 * math.sin(ang), by - head * 0.55 * math.cos(ang))
    right = (bx - head * 0.55 * math.sin(ang), by + head * 0.55 * math.cos(ang))
    d.polygon([(x1, y1), left, right], fill=fill)


class Builder:
    def __init__(self, out: Path):
        self.out = out
        self.images = out / "images"
        self.images.mkdir(parents=True, exist_ok=True)
        for old in self.images.glob("*.png"):
            old.unlink()
        self.items: list[dict] = []
        self.seq = 0

    def next_name(self) -> str:
        self.seq += 1
        return f"v2_{self.seq:03d}"

    def save_pil(self, img: Image.Image, name: str) -> None:
        img = img.convert("RGB")
        assert 240 <= img.width <= 1400 and 150 <= img.height <= 1400, (name, img.size)
        img.save(self.images / f"{name}.png", optimize=True)

    def save_fig(self, fig, name: str, dpi: int, crop: bool = False) -> None:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", pad_inches=0.15, facecolor="white")
        plt.close(fig)
        buf.seek(0)
        img = Image.open(buf).convert("RGB")
        if crop:  # drop the empty axes area around a table
            x0, y0, x1, y1 = ImageOps.invert(img).getbbox()
            img = img.crop((max(0, x0 - 24), max(0, y0 - 24), min(img.width, x1 + 24), min(img.height, y1 + 24)))
        self.save_pil(img, name)

    def add(self, cat: str, name: str, question: str, choices: list[str], answer: int, truth: dict | None = None):
        assert cat in CATEGORIES, cat
        assert 3 <= len(choices) <= 4, choices
        assert all(isinstance(c, str) and c.strip() for c in choices), choices
        assert len({_norm(c) for c in choices}) == len(choices), choices
        assert 0 <= answer < len(choices)
        assert (self.images / f"{name}.png").exists()
        it = {
            "image": f"images/{name}.png",
            "question": question,
            "choices": choices,
            "answer": answer,
            "category": cat,
        }
        if truth is not None:
            it["truth"] = truth
        self.items.append(it)


# ----------------------------------------------------------------------------- chart styling

COLOURS = {  # distinct hues, used when a question names the colour
    "blue": ("#1f5fbf", "蓝色"),
    "orange": ("#f08a24", "橙色"),
    "green": ("#2e9e44", "绿色"),
    "red": ("#d62f2f", "红色"),
    "purple": ("#7b4fc0", "紫色"),
    "grey": ("#8a8a8a", "灰色"),
}
FILLS = ["#2a9d8f", "#e76f51", "#264653", "#c9a227", "#6a4c93", "#8ab17d", "#b5651d", "#457b9d", "#c44569", "#3d5a80"]
FIGS = [  # width px, height px, dpi (before the tight crop, which takes off about a tenth)
    (600, 430, 80),
    (680, 460, 100),
    (780, 500, 120),
    (860, 540, 100),
    (940, 580, 110),
    (1040, 620, 120),
    (580, 440, 72),
    (1100, 640, 125),
    (660, 480, 96),
    (820, 560, 150),
    (740, 480, 90),
]
BAR_SCALES = [  # axis top, tick step, value resolution, decimals
    (100, 20, 1, 0),
    (1000, 250, 10, 0),
    (50, 10, 1, 0),
    (200, 50, 5, 0),
    (5000, 1000, 50, 0),
    (40, 5, 0.5, 1),
    (500, 100, 5, 0),
    (60, 15, 1, 0),
]
SHARE_SCALES = [(1.0, 0.5, 0.01, 2), (1.0, 0.2, 0.01, 2)]
LINE_SCALES = [  # bottom, top, tick step, resolution, decimals
    (40, 100, 10, 1, 0),
    (200, 500, 50, 5, 0),
    (0.4, 1.0, 0.1, 0.01, 2),
    (5, 25, 5, 0.5, 1),
    (1000, 2500, 250, 10, 0),
    (0, 60, 10, 1, 0),
    (20, 80, 20, 1, 0),
    (300, 900, 100, 5, 0),
    (10, 40, 5, 0.5, 1),
]


def _tick_dec(step: float) -> int:
    s = f"{step:g}"
    return len(s.split(".")[1]) if "." in s else 0


def pt(size: float, dpi: int, min_px: float = 10.5) -> float:
    """A font size in points, at least ``min_px`` pixels high at this dpi."""
    return max(size, min_px * 72 / dpi)


def chart_rc(rng: random.Random, zh: bool, k: int, dpi: int) -> dict:
    fam, stretch = MPL_FAMILIES[k % len(MPL_FAMILIES)]
    rc = {
        "font.family": [ZH_FAMILY] if zh else [fam],
        "font.stretch": stretch,
        "font.size": pt(rng.choice([9, 10, 11]), dpi, 11.5),
        "axes.unicode_minus": False,
    }
    return rc


def _boxes(r, artists) -> list[Bbox]:
    return [a.get_window_extent(r) for a in artists]


def settle_legend(fig, leg, obstacles: Callable, grow: Callable[[], None], tries: int = 10) -> None:
    """Grow the axis (or move the legend) until the legend overlaps none of the obstacles."""
    for _ in range(tries):
        fig.canvas.draw()
        r = fig.canvas.get_renderer()
        lb = leg.get_window_extent(r).padded(3)
        if not any(lb.overlaps(o) for o in obstacles(r)):
            return
        grow()
    raise AssertionError("the legend still overlaps the plot")


def slant_crowded_ticks(fig, ax) -> None:
    """Rotate the x tick labels when neighbours touch."""
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(r) for t in ax.get_xticklabels() if t.get_text()]
    if any(a.x1 + 4 > b.x0 for a, b in zip(boxes, boxes[1:], strict=False)):
        for t in ax.get_xticklabels():
            t.set_rotation(30)
            t.set_ha("right")


def place_legend(rng, fig, ax, where: str, nser: int, dpi: int, obstacles, grow_top):
    fs = pt(rng.choice([8, 9, 10]), dpi)
    if where == "outside right":
        return ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=fs, frameon=rng.random() < 0.5)
    if where == "below":
        state = {"y": -0.12}
        leg = ax.legend(
            loc="upper center", bbox_to_anchor=(0.5, state["y"]), ncol=nser, fontsize=fs, frameon=rng.random() < 0.4
        )

        def lower():
            state["y"] -= 0.05
            leg.set_bbox_to_anchor((0.5, state["y"]), transform=ax.transAxes)

        def ticks(r):
            arts = list(ax.get_xticklabels()) + [ax.xaxis.label]
            return [b for b in _boxes(r, arts) if b.width > 0]

        settle_legend(fig, leg, ticks, lower)
        return leg
    leg = ax.legend(loc=where, fontsize=fs, framealpha=1.0)
    settle_legend(fig, leg, obstacles, grow_top)
    return leg


# ----------------------------------------------------------------------------- bar charts

BAR1 = {
    False: [
        dict(t="Library loans by genre", noun="genre", m="number of loans", n="Loans",
             cats=["Fiction", "History", "Science", "Poetry", "Travel", "Comics", "Cookery"]),
        dict(t="Average commute time (minutes)", noun="city", m="average commute time", n="Minutes",
             cats=["Oslo", "Lima", "Perth", "Quito", "Turin", "Dakar", "Hanoi"]),
        dict(t="Tickets sold per weekday", noun="day", m="number of tickets sold", n="Tickets", ordered=True,
             cats=["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]),
        dict(t="Share of households owning each device", noun="device", m="share of households", n="Share",
             share=True, cats=["Phone", "Tablet", "Laptop", "Desktop", "Smart TV", "E-reader"]),
        dict(t="Revenue by region", noun="region", m="revenue", n="Revenue",
             cats=["North", "South", "East", "West", "Central", "Coastal"]),
        dict(t="Trees planted per park", noun="park", m="number of trees planted", n="Trees",
             cats=["Elm Park", "Riverside", "Hilltop", "Old Mill", "Bayview", "Greenway", "Fernhill"]),
        dict(t="Monthly energy use by appliance", noun="appliance", m="energy use", n="Energy",
             cats=["Fridge", "Heater", "Washer", "Oven", "Dryer", "Lighting"]),
    ],
    True: [
        dict(t="各城市年降水量", noun="城市", m="降水量", n="降水量",
             cats=["北京", "上海", "广州", "深圳", "成都", "杭州", "武汉"]),
        dict(t="各部门员工人数", noun="部门", m="员工人数", n="人数",
             cats=["市场部", "技术部", "财务部", "客服部", "行政部", "法务部"]),
        dict(t="各品牌市场占有率", noun="品牌", m="市场占有率", n="占有率", share=True,
             cats=["星辰", "远航", "青松", "蓝海", "晨光", "金桥"]),
        dict(t="电子产品月销量", noun="产品", m="销量", n="销量",
             cats=["手机", "电脑", "平板", "耳机", "手表", "音箱"]),
    ],
}  # fmt: skip
BARN = {
    False: [
        dict(t="Customer survey by age group", noun="age group", m="number of responses", sw="answer",
             cats=["18-24", "25-34", "35-44", "45-54", "55+"], ordered=True,
             series=["Yes", "No", "Unsure"], extra=["Skipped"]),
        dict(t="Orders by channel", noun="quarter", m="number of orders", sw="channel",
             cats=["Q1", "Q2", "Q3", "Q4"], ordered=True,
             series=["Online", "In store", "Phone"], extra=["Catalogue"]),
        dict(t="Electricity generation by source", noun="country", m="generation", sw="source",
             cats=["Norway", "Chile", "Kenya", "Spain", "Japan"],
             series=["Solar", "Wind", "Hydro"], extra=["Nuclear"]),
        dict(t="Commuters by mode of transport", noun="district", m="number of commuters", sw="mode",
             cats=["Harbor", "Uptown", "Midtown", "Westfield", "Lakeside"],
             series=["Cars", "Bikes", "Buses"], extra=["Trams"]),
        dict(t="Course enrolment", noun="course", m="enrolment", sw="year",
             cats=["Art", "Biology", "Chemistry", "Drama", "Economics"],
             series=["2023", "2024", "2025"], extra=["2022"]),
        dict(t="Units produced per shift", noun="production line", m="output", sw="shift",
             cats=["Line A", "Line B", "Line C", "Line D", "Line E"], ordered=True,
             series=["Morning", "Evening", "Night"], extra=["Weekend"]),
        dict(t="Museum visitors", noun="museum", m="number of visitors", sw="visitor group",
             cats=["Modern Art", "Nature", "Science", "Maritime", "Textiles"],
             series=["Adults", "Children", "Seniors"], extra=["Students"]),
    ],
    True: [
        dict(t="线上与线下销售额", noun="季度", m="销售额", sw="渠道",
             cats=["一季度", "二季度", "三季度", "四季度"], ordered=True,
             series=["线上", "线下", "批发"], extra=["代理"]),
        dict(t="各年级学生人数", noun="年级", m="人数", sw="类别",
             cats=["一年级", "二年级", "三年级", "四年级", "五年级"], ordered=True,
             series=["男生", "女生", "转学生"], extra=["留级生"]),
        dict(t="各地区发电量构成", noun="地区", m="发电量", sw="类型",
             cats=["华北", "华东", "华南", "西南", "西北"],
             series=["火电", "水电", "风电"], extra=["核电"]),
    ],
}  # fmt: skip

# orientation, layout, number of series, value labels, legend, question
BAR_SPECS = {
    False: [
        ("v", "single", 1, "all", None, "max"),
        ("h", "single", 1, "none", None, "min"),
        ("v", "single", 1, "none", None, "value"),
        ("h", "single", 1, "some", None, "value"),
        ("v", "grouped", 2, "none", "upper right", "colour"),
        ("v", "grouped", 3, "none", "below", "series_max"),
        ("h", "grouped", 2, "all", "outside right", "value"),
        ("v", "stacked", 3, "none", "upper left", "total_max"),
        ("h", "stacked", 2, "none", "below", "colour"),
        ("v", "single", 1, "all", None, "diff"),
        ("h", "single", 1, "none", None, "diff"),
        ("v", "grouped", 3, "none", "outside right", "value"),
        ("v", "stacked", 2, "some", "upper right", "total_min"),
        ("v", "single", 1, "some", None, "max"),
        ("h", "grouped", 3, "none", "lower right", "series_max"),
        ("v", "single", 1, "none", None, "value"),
        ("h", "stacked", 3, "none", "outside right", "total_max"),
        ("v", "grouped", 2, "some", "upper left", "compare"),
    ],
    True: [
        ("v", "single", 1, "all", None, "max"),
        ("h", "single", 1, "none", None, "value"),
        ("v", "grouped", 2, "none", "upper right", "colour"),
        ("v", "stacked", 3, "none", "below", "total_max"),
        ("h", "grouped", 3, "some", "outside right", "series_max"),
        ("v", "single", 1, "some", None, "diff"),
        ("h", "stacked", 2, "none", "lower right", "colour"),
        ("v", "single", 1, "none", None, "min"),
    ],
}


def _split(rng: random.Random, total: float, k: int, res: float, min_part: float) -> list[float]:
    for _ in range(200):
        w = [rng.uniform(0.5, 1.5) for _ in range(k)]
        parts = [snap(total * x / sum(w), res) for x in w[:-1]]
        parts.append(snap(total - sum(parts), res))
        if min(parts) >= min_part:
            return parts
    raise AssertionError("cannot split a stack")


def _margin(vals: Sequence[float], which: str = "max") -> float:
    s = sorted(vals, reverse=(which == "max"))
    return abs(s[0] - s[1])


def bar_item(b: Builder, rng: random.Random, k: int, zh: bool) -> None:
    cat_name = "bar_chart_zh" if zh else "bar_chart"
    orient, layout, nser, labels, legend_at, qk = BAR_SPECS[zh][k]
    # pick the theme by the running count of this layout
    same = [s for s in BAR_SPECS[zh][:k] if (s[1] == "single") == (layout == "single")]
    themes = BAR1[zh] if layout == "single" else BARN[zh]
    theme = themes[(len(same) + (2 if zh else 0)) % len(themes)]
    if theme.get("share"):
        top, step, res, dec = SHARE_SCALES[k % 2]
    else:
        top, step, res, dec = BAR_SCALES[(k * 3 + (5 if zh else 0)) % len(BAR_SCALES)]
    stacked = layout == "stacked"
    if layout == "single":
        ncat = rng.randint(5, 7) if orient == "h" else rng.randint(4, 6)
    elif layout == "grouped":
        ncat = rng.randint(3, 5) if nser == 3 else rng.randint(4, 5)
    else:
        ncat = rng.randint(4, 5)
    if theme.get("ordered"):
        s0 = rng.randint(0, len(theme["cats"]) - ncat)
        cats = theme["cats"][s0 : s0 + ncat]
    else:
        cats = rng.sample(theme["cats"], ncat)
    names = [theme["n"]] if layout == "single" else theme["series"][:nser]
    hi_frac = 0.86 if labels != "none" else 0.95
    target_s = rng.choice(names)
    target_c = rng.randrange(ncat)

    vals: dict[str, list[float]] = {}
    for _attempt in range(2000):
        if layout == "single":
            vals = {names[0]: spread(rng, ncat, 0.08 * top, hi_frac * top, 0.12 * top + res, res)}
        elif layout == "grouped":
            vals = {s: [snap(rng.uniform(0.08, hi_frac) * top, res) for _ in cats] for s in names}
        else:
            totals = spread(rng, ncat, 0.3 * top, hi_frac * top, 0.07 * top + res, res)
            parts = [_split(rng, t, nser, res, 0.07 * top) for t in totals]
            vals = {s: [parts[c][j] for c in range(ncat)] for j, s in enumerate(names)}
        if qk == "series_max" and _margin(vals[target_s]) < 0.13 * top:
            continue
        if qk in ("total_max", "total_min") and _margin(totals, qk[-3:]) < 0.13 * top:
            continue
        if qk == "compare" and _margin([vals[s][target_c] for s in names]) < 0.13 * top:
            continue
        if qk == "value" and vals[target_s][target_c] < 0.15 * top:
            continue
        break
    else:
        raise AssertionError("no bar values satisfy the question")

    colour_names = rng.sample(list(COLOURS), nser) if layout != "single" else []
    colours = [COLOURS[c][0] for c in colour_names] or [FILLS[(k * 7 + (3 if zh else 0)) % len(FILLS)]]
    W, H, dpi = FIGS[(k * 5 + (2 if zh else 0)) % len(FIGS)]
    if orient == "h":
        H = int(H * 1.1)
    if legend_at == "outside right":
        W = int(W * 0.85)
    unlabelled: set[tuple[int, int]] = set()
    with plt.rc_context(chart_rc(rng, zh, k, dpi)):
        fig, ax = plt.subplots(figsize=(W / dpi, H / dpi), dpi=dpi)
        xs = list(range(ncat))
        bw = rng.uniform(0.55, 0.8) if layout != "grouped" else 0.82 / nser
        edge = rng.choice([None, "black", "white"])
        base = [0.0] * ncat
        patches, texts = [], []
        lab_fs = pt(8 if layout == "grouped" else rng.choice([8, 9, 10]), dpi)
        for j, s in enumerate(names):
            v = vals[s]
            pos = [x + (j - (nser - 1) / 2) * bw for x in xs] if layout == "grouped" else xs
            kw = dict(color=colours[j], edgecolor=edge, linewidth=0.8 if edge else 0, label=s)
            if orient == "v":
                bars = ax.bar(pos, v, bw, bottom=base if stacked else None, **kw)
            else:
                bars = ax.barh(pos, v, bw, left=base if stacked else None, **kw)
            patches.extend(bars)
            for i in range(ncat):
                show = labels == "all" or (labels == "some" and rng.random() < 0.5)
                if not show:
                    unlabelled.add((j, i))
                    continue
                txt = fmt(v[i], dec)
                if stacked:
                    mid = base[i] + v[i] / 2
                    xy = (pos[i], mid) if orient == "v" else (mid, pos[i])
                    texts.append(ax.text(*xy, txt, ha="center", va="center", color="white", fontsize=lab_fs))
                elif orient == "v":
                    texts.append(ax.text(pos[i], v[i] + 0.012 * top, txt, ha="center", va="bottom", fontsize=lab_fs))
                else:
                    texts.append(ax.text(v[i] + 0.012 * top, pos[i], txt, ha="left", va="center", fontsize=lab_fs))
            if stacked:
                base = [base[i] + v[i] for i in range(ncat)]
        set_lim = ax.set_ylim if orient == "v" else ax.set_xlim
        get_lim = ax.get_ylim if orient == "v" else ax.get_xlim
        set_lim(0, top)
        vaxis = ax.yaxis if orient == "v" else ax.xaxis
        vaxis.set_major_locator(matplotlib.ticker.MultipleLocator(step))
        td = _tick_dec(step)
        vaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda t, _p, td=td: f"{t:.{td}f}"))
        if orient == "v":
            ax.set_xticks(xs, cats)
        else:
            ax.set_yticks(xs, cats)
            if rng.random() < 0.5:
                ax.invert_yaxis()
        if rng.random() < 0.55:
            ax.grid(axis="y" if orient == "v" else "x", linestyle=rng.choice(["-", "--", ":"]), alpha=0.5)
            ax.set_axisbelow(True)
        if rng.random() < 0.5:
            ax.spines[["top", "right"]].set_visible(False)
        ax.set_title(theme["t"], fontsize=pt(rng.choice([11, 12, 13]), dpi, 13), loc=rng.choice(["center", "left"]))
        if rng.random() < 0.4:
            (ax.set_ylabel if orient == "v" else ax.set_xlabel)(theme["m"] if zh else theme["m"].capitalize())
        slant_crowded_ticks(fig, ax)
        if legend_at:

            def grow(get_lim=get_lim, set_lim=set_lim):
                set_lim(0, get_lim()[1] + step)

            place_legend(rng, fig, ax, legend_at, nser, dpi, lambda r: _boxes(r, patches + texts), grow)
        axis_top = get_lim()[1]
        b.save_fig(fig, name := b.next_name(), dpi)

    R = axis_top
    assert R <= 1.6 * top, "axis grew too much"
    noun, m = theme["noun"], theme["m"]
    totals = [sum(vals[s][i] for s in names) for i in range(ncat)]
    v0 = vals[names[0]]
    if qk in ("max", "min"):
        assert _margin(v0, qk) >= 0.08 * R
        idx = v0.index(max(v0) if qk == "max" else min(v0))
        word = T(zh, "highest" if qk == "max" else "lowest", "最高" if qk == "max" else "最低")
        q = T(zh, f"Which {noun} has the {word} {m}?", f"哪个{noun}的{m}{word}？")
        ch, a = pick(rng, cats[idx], [c for c in cats if c != cats[idx]])
    elif qk == "value":
        s = target_s
        j = names.index(s)
        i = target_c
        if labels == "some":  # ask about an unlabelled bar where there is one
            free = [i2 for i2 in range(ncat) if (j, i2) in unlabelled and vals[s][i2] >= 0.15 * top]
            i = rng.choice(free) if free else i
        v = vals[s][i]
        if layout == "single":
            q = T(zh, f"About how large is the {m} for {cats[i]}?", f"{cats[i]}的{m}大约是多少？")
        else:
            q = T(zh, f"What is the {s} value for {cats[i]}, approximately?", f"{cats[i]}的“{s}”数值大约是多少？")
        others = [x for x in vals[s] if x != v]
        ch, a = num_choices(rng, v, 0.15 * R, res, R * 1.1, res, dec, others)
    elif qk == "diff":
        pairs = [(i, j) for i in range(ncat) for j in range(ncat) if v0[i] - v0[j] >= 0.15 * top]
        i, j = rng.choice(pairs)
        d = snap(v0[i] - v0[j], res)
        q = T(
            zh,
            f"How much higher is the {m} of {cats[i]} than that of {cats[j]}?",
            f"{cats[i]}的{m}比{cats[j]}多多少？",
        )
        ch, a = num_choices(rng, d, 0.15 * R, res, R, res, dec, [v0[i], v0[j]])
    elif qk == "colour":
        j = names.index(target_s)
        cname = colour_names[j]
        what = "segments" if stacked else "bars"
        q = T(
            zh,
            f"Which {theme['sw']} is shown by the {cname} {what}?",
            f"图中{COLOURS[cname][1]}的{'色块' if stacked else '柱子'}代表哪个{theme['sw']}？",
        )
        ch, a = pick(rng, target_s, [s for s in names if s != target_s] + theme["extra"], shuffle_pool=False)
    elif qk == "series_max":
        sv = vals[target_s]
        assert _margin(sv) >= 0.08 * R
        idx = sv.index(max(sv))
        q = T(
            zh,
            f"For {target_s}, which {noun} has the highest value?",
            f"在“{target_s}”这一系列中，哪个{noun}的数值最高？",
        )
        ch, a = pick(rng, cats[idx], [c for c in cats if c != cats[idx]])
    elif qk == "compare":
        col = [vals[s][target_c] for s in names]
        assert _margin(col) >= 0.08 * R
        best = names[col.index(max(col))]
        q = T(
            zh,
            f"For {cats[target_c]}, which {theme['sw']} has the larger bar?",
            f"在{cats[target_c]}，哪个{theme['sw']}的柱子更高？",
        )
        ch, a = pick(rng, best, [s for s in names if s != best] + theme["extra"], shuffle_pool=False)
    elif qk in ("total_max", "total_min"):
        which = "max" if qk == "total_max" else "min"
        assert _margin(totals, which) >= 0.08 * R
        idx = totals.index(max(totals) if which == "max" else min(totals))
        word = T(zh, "largest" if which == "max" else "smallest", "最高" if which == "max" else "最低")
        q = T(zh, f"Which {noun} has the {word} total {m}?", f"哪个{noun}的{m}总计{word}？")
        ch, a = pick(rng, cats[idx], [c for c in cats if c != cats[idx]])
    else:
        raise ValueError(qk)
    truth = {
        "kind": "bar",
        "orientation": "vertical" if orient == "v" else "horizontal",
        "stacked": stacked,
        "categories": cats,
        "series": {s: vals[s] for s in names},
    }
    b.add(cat_name, name, q, ch, a, truth)


# ----------------------------------------------------------------------------- line charts

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
LINE_THEMES = {
    False: [
        dict(t="Monthly sign-ups", x="month", xs=MONTHS, m="number of sign-ups", n="Sign-ups",
             series=["Basic plan", "Pro plan", "Team plan"], extra=["Free plan"]),
        dict(t="Average house price (thousand $)", x="year", xs=[str(y) for y in range(2012, 2025)],
             m="average price", n="Price", series=["Downtown", "Suburbs", "Rural"], extra=["Harbourside"]),
        dict(t="Reservoir water level (m)", x="week", xs=[f"Wk {w}" for w in range(1, 13)], m="water level",
             n="Level", series=["North basin", "South basin", "East basin"], extra=["West basin"]),
        dict(t="Daily bus riders (thousands)", x="month",
             xs=["January", "February", "March", "April", "May", "June", "July", "August", "September"],
             m="number of riders", n="Riders", series=["Route 4", "Route 9", "Route 15"], extra=["Route 22"]),
        dict(t="Quarterly app downloads (thousands)", x="quarter",
             xs=[f"Q{q} '{y}" for y in (21, 22, 23) for q in (1, 2, 3, 4)],
             m="number of downloads", n="Downloads", series=["Android", "iOS", "Web"], extra=["Desktop"]),
    ],
    True: [
        dict(t="网站月访问量（万次）", x="月份", xs=[f"{i}月" for i in range(1, 13)], m="访问量", n="访问量",
             series=["手机端", "电脑端", "平板端"], extra=["小程序"]),
        dict(t="工厂年产量（万件）", x="年份", xs=[f"{y}年" for y in range(2013, 2025)], m="产量", n="产量",
             series=["一厂", "二厂", "三厂"], extra=["四厂"]),
        dict(t="水库水位（米）", x="周", xs=[f"第{w}周" for w in range(1, 13)], m="水位", n="水位",
             series=["北库", "南库", "东库"], extra=["西库"]),
    ],
}  # fmt: skip
# number of lines, marker, point labels, legend, question
LINE_SPECS = {
    False: [
        (1, "o", "all", None, "max_x"),
        (1, None, "none", None, "trend"),
        (1, "s", "none", None, "value"),
        (2, "o", "none", "upper left", "style"),
        (3, None, "none", "below", "colour"),
        (2, "^", "some", "outside right", "max_increase"),
        (3, "o", "none", "upper right", "highest_at"),
        (1, "D", "some", None, "max_increase"),
        (2, None, "none", "upper right", "trend"),
        (1, "o", "all", None, "min_x"),
        (3, None, "none", "outside right", "value"),
        (1, None, "none", None, "trend"),
    ],
    True: [
        (1, "o", "all", None, "max_x"),
        (2, None, "none", "upper left", "style"),
        (1, None, "none", None, "trend"),
        (3, "s", "none", "below", "highest_at"),
        (1, "o", "some", None, "max_increase"),
        (2, "^", "none", "outside right", "value"),
    ],
}
STYLE_NAMES = {"-": ("solid", "实线"), "--": ("dashed", "虚线"), ":": ("dotted", "点线"), "-.": ("dash-dot", "点划线")}
TRENDS = ["rise", "fall", "flat", "peak"]
TREND_TEXT = {
    "rise": ("It rises overall", "整体上升"),
    "fall": ("It falls overall", "整体下降"),
    "flat": ("It stays roughly level", "基本持平"),
    "peak": ("It rises, then falls", "先上升后下降"),
}
PLURAL = {"month": "months", "year": "years", "week": "weeks", "quarter": "quarters"}


def _walk(rng: random.Random, n: int, b: float, t: float, res: float) -> list[float]:
    R = t - b
    lo, hi = b + 0.07 * R, t - 0.07 * R
    v = rng.uniform(lo + 0.2 * R, hi - 0.2 * R)
    out = []
    for _ in range(n):
        out.append(snap(v, res))
        v += rng.uniform(-0.25, 0.25) * R
        v = 2 * hi - v if v > hi else 2 * lo - v if v < lo else v  # bounce off the limits
    return out


def _trend(rng: random.Random, kind: str, n: int, b: float, t: float, res: float) -> list[float]:
    R = t - b
    lo, hi = b + 0.08 * R, t - 0.1 * R
    if kind in ("rise", "fall"):
        start, end = rng.uniform(lo, lo + 0.2 * R), rng.uniform(hi - 0.2 * R, hi)
        inc = [rng.uniform(0.3, 1.0) for _ in range(n - 1)]
        vals = [start]
        for x in inc:
            vals.append(vals[-1] + (end - start) * x / sum(inc))
        vals = [snap(v, res) for v in vals]
        return vals if kind == "rise" else vals[::-1]
    if kind == "flat":
        c = rng.uniform(lo + 0.3 * R, hi - 0.3 * R)
        return [snap(c + rng.uniform(-0.025, 0.025) * R, res) for _ in range(n)]
    p = rng.randint(n // 3, n - 1 - n // 3)
    peak = rng.uniform(hi - 0.1 * R, hi)
    a0, a1 = rng.uniform(lo, lo + 0.25 * R), rng.uniform(lo, lo + 0.25 * R)
    up = [a0 + (peak - a0) * i / p for i in range(p + 1)]
    down = [peak + (a1 - peak) * i / (n - 1 - p) for i in range(1, n - p)]
    return [snap(v + rng.uniform(-0.02, 0.02) * R * (0 < i < n - 1), res) for i, v in enumerate(up + down)]


def _points_boxes(ax, lines, r) -> list[Bbox]:
    out = []
    for ln in lines:
        xs, ys = ln.get_xdata(), ln.get_ydata()
        for i in range(len(xs) - 1):
            for f in (0.0, 0.2, 0.4, 0.6, 0.8):
                x, y = ax.transData.transform((xs[i] + f * (xs[i + 1] - xs[i]), ys[i] + f * (ys[i + 1] - ys[i])))
                out.append(Bbox.from_bounds(x - 3, y - 3, 6, 6))
        x, y = ax.transData.transform((xs[-1], ys[-1]))
        out.append(Bbox.from_bounds(x - 3, y - 3, 6, 6))
    return out


def line_item(b: Builder, rng: random.Random, k: int, zh: bool) -> None:
    cat_name = "line_chart_zh" if zh else "line_chart"
    nser, marker, labels, legend_at, qk = LINE_SPECS[zh][k]
    theme = LINE_THEMES[zh][(k + (1 if zh else 0)) % len(LINE_THEMES[zh])]
    bot, top, step, res, dec = LINE_SCALES[(k * 4 + (3 if zh else 0)) % len(LINE_SCALES)]
    R0 = top - bot
    npts = rng.randint(6, min(10, len(theme["xs"])))
    s0 = rng.randint(0, len(theme["xs"]) - npts)
    xs = theme["xs"][s0 : s0 + npts]
    names = [theme["n"]] if nser == 1 else theme["series"][:nser]
    target = rng.choice(names)
    tj = rng.randrange(npts)
    trend_kind = TRENDS[(k + (2 if zh else 0)) % 4] if qk == "trend" else None
    for _attempt in range(3000):
        vals = {s: _walk(rng, npts, bot, top, res) for s in names}
        if trend_kind:
            vals[target] = _trend(rng, trend_kind, npts, bot, top, res)
        v = vals[target]
        if qk in ("max_x", "min_x") and _margin(v, "max" if qk == "max_x" else "min") < 0.12 * R0:
            continue
        if qk == "max_increase":
            inc = [v[i + 1] - v[i] for i in range(npts - 1)]
            if max(inc) <= 0.15 * R0 or _margin(inc) < 0.12 * R0:
                continue
        if qk == "highest_at" and _margin([vals[s][tj] for s in names]) < 0.12 * R0:
            continue
        break
    else:
        raise AssertionError("no line values satisfy the question")

    cnames = rng.sample(list(COLOURS), nser)
    same_colour = qk == "style" and k % 2 == 1
    styles = ["-", "--"] if zh and qk == "style" else rng.sample(["-", "--", ":", "-."], nser)
    if nser == 1:
        styles = [rng.choice(["-", "-", "--"])]
    W, H, dpi = FIGS[(k * 3 + (6 if zh else 1)) % len(FIGS)]
    if legend_at == "outside right":
        W = int(W * 0.85)
    unlabelled: set[int] = set()
    with plt.rc_context(chart_rc(rng, zh, k + 1, dpi)):
        fig, ax = plt.subplots(figsize=(W / dpi, H / dpi), dpi=dpi)
        px = list(range(npts))
        lines, texts = [], []
        for j, s in enumerate(names):
            colour = "#333333" if same_colour else COLOURS[cnames[j]][0]
            mk = marker if marker and (nser == 1 or j % 2 == 0 or marker == "o") else None
            (ln,) = ax.plot(
                px, vals[s], linestyle=styles[j], color=colour, marker=mk, linewidth=2.2, markersize=5, label=s
            )
            lines.append(ln)
            if nser == 1:
                for i, y in enumerate(vals[s]):
                    if labels == "all" or (labels == "some" and i % 2 == (k % 2)):
                        texts.append(
                            ax.annotate(
                                fmt(y, dec),
                                (i, y),
                                textcoords="offset points",
                                xytext=(0, 7),
                                ha="center",
                                fontsize=pt(8.5, dpi),
                            )
                        )
                    else:
                        unlabelled.add(i)
        ax.set_ylim(bot, top)
        ax.yaxis.set_major_locator(matplotlib.ticker.MultipleLocator(step))
        td = _tick_dec(step)
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda t, _p, td=td: f"{t:.{td}f}"))
        ax.set_xticks(px, xs)
        ax.set_xlim(-0.4, npts - 0.6)
        if rng.random() < 0.6:
            ax.grid(axis=rng.choice(["y", "both"]), linestyle=rng.choice(["-", ":"]), alpha=0.45)
        if rng.random() < 0.5:
            ax.spines[["top", "right"]].set_visible(False)
        ax.set_title(theme["t"], fontsize=pt(rng.choice([11, 12, 13]), dpi, 13))
        if rng.random() < 0.5:
            ax.set_xlabel(theme["x"] if zh else theme["x"].capitalize())
        slant_crowded_ticks(fig, ax)
        if legend_at:

            def grow(ax=ax):
                lo_, hi_ = ax.get_ylim()
                ax.set_ylim(lo_, hi_ + step)

            place_legend(
                rng, fig, ax, legend_at, nser, dpi, lambda r: _points_boxes(ax, lines, r) + _boxes(r, texts), grow
            )
        ylo, yhi = ax.get_ylim()
        b.save_fig(fig, name := b.next_name(), dpi)

    R = yhi - ylo
    assert R <= 1.8 * R0
    v = vals[target]
    x_word = theme["x"]
    m = theme["m"]
    of = "" if nser == 1 else T(zh, f" for {target}", f"“{target}”")
    if qk in ("max_x", "min_x"):
        which = "max" if qk == "max_x" else "min"
        assert _margin(v, which) >= 0.08 * R
        idx = v.index(max(v) if which == "max" else min(v))
        word = T(zh, "highest" if which == "max" else "lowest", "最高" if which == "max" else "最低")
        q = T(zh, f"In which {x_word} was the {m} {word}?", f"{m}在哪个{x_word}{word}？")
        ch, a = pick(rng, xs[idx], [x for x in xs if x != xs[idx]])
    elif qk == "trend":
        span = f" from {xs[0]} to {xs[-1]}"
        q = T(
            zh,
            f"How does the {m}{of} change{span}?",
            f"从{xs[0]}到{xs[-1]}，{of}{m}总体上如何变化？",
        )
        right = TREND_TEXT[trend_kind][zh]
        ch, a = pick(rng, right, [TREND_TEXT[t][zh] for t in TRENDS if t != trend_kind])
    elif qk == "value":
        i = rng.choice(sorted(unlabelled)) if unlabelled else tj
        val = v[i]
        q = T(zh, f"Approximately what is the {m}{of} in {xs[i]}?", f"{xs[i]}{of}的{m}大约是多少？")
        ch, a = num_choices(rng, val, 0.15 * R, max(res, ylo - 0.3 * R), yhi + 0.3 * R, res, dec, v)
    elif qk == "max_increase":
        inc = [v[i + 1] - v[i] for i in range(npts - 1)]
        assert _margin(inc) >= 0.08 * R and max(inc) > 0
        idx = inc.index(max(inc))
        pairs = [T(zh, f"{xs[i]} to {xs[i + 1]}", f"{xs[i]}到{xs[i + 1]}") for i in range(npts - 1)]
        q = T(
            zh,
            f"Between which two consecutive {PLURAL.get(x_word, x_word)} did the {m}{of} increase the most?",
            f"{of}{m}在哪两个相邻的{x_word}之间增长最多？",
        )
        ch, a = pick(rng, pairs[idx], [p for p in pairs if p != pairs[idx]])
    elif qk == "style":
        j = names.index(target)
        sname = STYLE_NAMES[styles[j]][zh]
        q = T(zh, f"Which series is drawn with a {sname} line?", f"哪个系列用{sname}表示？")
        ch, a = pick(rng, target, [s for s in names if s != target] + theme["extra"], shuffle_pool=False)
    elif qk == "colour":
        j = names.index(target)
        q = T(zh, f"Which series is the {cnames[j]} line?", f"{COLOURS[cnames[j]][1]}的线代表哪个系列？")
        ch, a = pick(rng, target, [s for s in names if s != target] + theme["extra"], shuffle_pool=False)
    elif qk == "highest_at":
        col = [vals[s][tj] for s in names]
        assert _margin(col) >= 0.08 * R
        best = names[col.index(max(col))]
        q = T(zh, f"Which series has the highest value in {xs[tj]}?", f"在{xs[tj]}，哪个系列的数值最高？")
        ch, a = pick(rng, best, [s for s in names if s != best] + theme["extra"], shuffle_pool=False)
    else:
        raise ValueError(qk)
    truth = {
        "kind": "line",
        "orientation": "vertical",
        "stacked": False,
        "categories": xs,
        "series": {s: vals[s] for s in names},
    }
    b.add(cat_name, name, q, ch, a, truth)


# ----------------------------------------------------------------------------- tables


def N(lo: float, hi: float, res: float, dec: int = 0, comma: bool = False) -> dict:
    return {"t": "num", "lo": lo, "hi": hi, "res": res, "dec": dec, "comma": comma}


def S(*pool: str) -> dict:
    return {"t": "text", "pool": list(pool)}


TABLE_THEMES = {
    False: [
        dict(t="Coastal towns: climate summary", head="Town", noun="town",
             rows=["Brixham", "Tenby", "Whitby", "Oban", "Portree", "Looe", "Dingle", "Cromer"],
             cols=[("Jan temp (°C)", N(1, 9, 0.1, 1)), ("Jul temp (°C)", N(14, 24, 0.1, 1)),
                   ("Rainfall (mm)", N(600, 1800, 10)), ("Sunny days", N(40, 120, 1))]),
        dict(t="Warehouse stock", head="Item", noun="item",
             rows=["Hex bolt", "Wing nut", "Hinge", "Bracket", "Washer", "Rivet", "Spring", "Clamp"],
             cols=[("In stock", N(20, 900, 1)), ("Unit price ($)", N(0.2, 12, 0.05, 2)),
                   ("Supplier", S("Acme", "Borel", "Kato", "Nordin", "Vega")), ("Reorder level", N(50, 400, 10))]),
        dict(t="Exam results", head="Student", noun="student",
             rows=["Amara", "Bruno", "Chloe", "Dmitri", "Esme", "Farid", "Greta", "Hiro"],
             groups=[("Scores", ["Math", "Physics", "Chemistry", "Biology"])], spec=N(35, 100, 1)),
        dict(t="Units sold per store", head="Store", noun="store",
             rows=["Riverside", "Old Town", "Airport", "Harbour", "Campus", "Station"],
             groups=[("2023", ["H1", "H2"]), ("2024", ["H1", "H2"])], spec=N(100, 990, 1)),
        dict(t="Departures board", head="Train", noun="train",
             rows=["IC 204", "RE 17", "IC 311", "EX 9", "RE 52", "IC 118", "EX 40"],
             cols=[("Destination", S("Basel", "Lyon", "Graz", "Ghent", "Parma", "Brno", "Kiel")),
                   ("Platform", N(1, 14, 1)), ("Delay (min)", N(2, 45, 1))]),
        dict(t="Nutrition per 100 g", head="Food", noun="food",
             rows=["Oats", "Lentils", "Almonds", "Spinach", "Salmon", "Tofu", "Quinoa", "Rice"],
             cols=[("Energy (kcal)", N(20, 600, 1)), ("Protein (g)", N(1, 30, 0.1, 1)),
                   ("Fat (g)", N(0.2, 50, 0.1, 1)), ("Fibre (g)", N(0.1, 15, 0.1, 1))]),
        dict(t="Branch libraries", head="Branch", noun="branch",
             rows=["Central", "Northgate", "Millbrook", "Eastfield", "Southport", "Kingsway"],
             cols=[("Books", N(5000, 90000, 100, 0, True)), ("Members", N(300, 9000, 10, 0, True)),
                   ("Opened", N(1905, 2015, 1))]),
        dict(t="Hotel rates", head="Hotel", noun="hotel",
             rows=["The Larch", "Seaview Inn", "Hotel Aurora", "Parkside", "The Granary", "Bell House"],
             cols=[("Stars", N(2, 5, 1))],
             groups=[("Rate per night ($)", ["Weekday", "Weekend"])], spec=N(60, 420, 5)),
        dict(t="League table", head="Team", noun="team",
             rows=["Falcons", "Rovers", "Wanderers", "Athletic", "United", "Harriers", "Comets"],
             cols=[("Won", N(2, 24, 1)), ("Drawn", N(1, 12, 1)), ("Lost", N(1, 20, 1)), ("Points", N(10, 80, 1))]),
    ],
    True: [
        dict(t="主要城市基本情况", head="城市", noun="城市",
             rows=["北京", "上海", "广州", "深圳", "重庆", "成都", "西安", "南京"],
             cols=[("人口（万）", N(800, 3200, 1)), ("面积（平方公里）", N(2000, 16000, 10)),
                   ("地铁线路（条）", N(5, 28, 1))]),
        dict(t="期末考试成绩", head="姓名", noun="学生",
             rows=["王芳", "李强", "张伟", "刘洋", "陈静", "杨帆", "赵磊"],
             groups=[("成绩", ["语文", "数学", "英语", "物理"])], spec=N(40, 100, 1)),
        dict(t="商品库存表", head="商品", noun="商品",
             rows=["牙刷", "毛巾", "洗发水", "香皂", "纸巾", "牙膏", "洗衣液"],
             cols=[("库存（件）", N(10, 600, 1)), ("单价（元）", N(2, 60, 0.5, 1)),
                   ("供应商", S("华丰", "永利", "金星", "宏达", "顺安"))]),
        dict(t="月度收支情况（万元）", head="月份", noun="月份",
             rows=["1月", "2月", "3月", "4月", "5月", "6月"],
             groups=[("2023年", ["收入", "支出"]), ("2024年", ["收入", "支出"])], spec=N(20, 99, 1)),
        dict(t="航班信息", head="航班", noun="航班",
             rows=["CA1501", "MU5137", "CZ3101", "HU7605", "ZH9811", "3U8881"],
             cols=[("目的地", S("成都", "昆明", "西安", "厦门", "青岛", "大连")), ("登机口", N(1, 60, 1)),
                   ("延误（分钟）", N(3, 90, 1))]),
    ],
}  # fmt: skip
PLURAL_NOUN = {"branch": "branches"}
TABLE_KINDS = ["col_max", "cell", "count_over", "diff", "empty"]
TABLE_STYLES = [
    dict(border="grid", zebra=False, font="sans", hfill="#dce6f2", htext="black", align="r", size=17),
    dict(border="rules", zebra=True, font="serif", hfill=None, htext="black", align="c", size=18),
    dict(border="none", zebra=True, font="cond", hfill="#2f3e46", htext="white", align="l", size=16),
    dict(border="outer", zebra=False, font="mono", hfill="#f3e9d2", htext="black", align="r", size=15),
    dict(border="grid", zebra=True, font="serif", hfill="#e8e8e8", htext="black", align="c", size=20),
    dict(border="rules", zebra=False, font="cond", hfill=None, htext="#1b3a6b", align="r", size=19),
]


def _table_data(rng: random.Random, theme: dict, k: int) -> tuple[list[str], list[dict], list[list]]:
    nrows = rng.randint(4, min(8, len(theme["rows"])))
    rows = rng.sample(theme["rows"], nrows) if k % 3 else theme["rows"][:nrows]
    plain = list(theme.get("cols", []))
    groups = theme.get("groups", [])
    n_group_cols = sum(len(g[1]) for g in groups)
    max_plain = 5 - n_group_cols
    if plain:
        keep = rng.randint(max(1, 2 - n_group_cols), min(len(plain), max_plain))
        idx = sorted(rng.sample(range(len(plain)), keep))
        plain = [plain[i] for i in idx]
    cols = [dict(head=h, q=h, spec=sp, group=None) for h, sp in plain]
    subs = [s for _, ss in groups for s in ss]
    for g, ss in groups:
        for s in ss:
            unique = subs.count(s) == 1
            q = (
                s
                if unique
                else (f"{g}{s}" if theme["head"] in ("月份", "城市", "姓名", "商品", "航班") else f"{g} {s}")
            )
            cols.append(dict(head=s, q=q, spec=theme["spec"], group=g))
    data: list[list] = [[None] * len(cols) for _ in rows]
    for c, col in enumerate(cols):
        sp = col["spec"]
        if sp["t"] == "num":
            steps = int(round((sp["hi"] - sp["lo"]) / sp["res"]))
            picks = rng.sample(range(steps + 1), len(rows))
            for r, p in enumerate(picks):
                data[r][c] = snap(sp["lo"] + p * sp["res"], sp["res"])
        else:
            pool = sp["pool"]
            vals = rng.sample(pool, len(rows)) if len(pool) >= len(rows) else [rng.choice(pool) for _ in rows]
            for r, v in enumerate(vals):
                data[r][c] = v
    assert 3 <= len(cols) + 1 <= 6
    return rows, cols, data


def _cell_text(col: dict, v) -> str:
    if v is None:
        return ""
    sp = col["spec"]
    return fmt(v, sp["dec"], sp["comma"]) if sp["t"] == "num" else str(v)


def _threshold(a: float, b: float, dec: int) -> float:
    """A round number strictly between a < b."""
    for p in range(6, -dec - 1, -1):
        step = 10.0**p
        for mult in (1, 2, 5):
            t = math.ceil((a + 1e-9) / (step * mult)) * step * mult
            if a < t < b:
                return round(t, dec)
    t = round((a + b) / 2, dec)
    assert a < t < b
    return t


def table_question(rng, kind: str, zh: bool, theme: dict, rows, cols, data):
    numeric = [c for c, col in enumerate(cols) if col["spec"]["t"] == "num"]
    noun = theme["noun"]
    c = rng.choice(numeric)
    col = cols[c]
    dec = col["spec"]["dec"]
    comma = col["spec"]["comma"]
    present = [r for r in range(len(rows)) if data[r][c] is not None]
    cname = col["q"]
    if kind == "col_max":
        best = max(present, key=lambda r: data[r][c])
        q = T(zh, f"Which {noun} has the highest value in the “{cname}” column?", f"哪个{noun}的“{cname}”最高？")
        return q, *pick(rng, rows[best], [rows[r] for r in range(len(rows)) if r != best])
    if kind == "cell":
        r = rng.choice(present)
        q = T(
            zh,
            f"What value does the table give for {rows[r]} in the “{cname}” column?",
            f"{rows[r]}的“{cname}”是多少？",
        )
        right = _cell_text(col, data[r][c])
        return q, *pick(rng, right, [_cell_text(col, data[x][c]) for x in present if x != r])
    if kind == "count_over":
        vs = sorted(data[r][c] for r in present)
        n = len(vs)
        cnt = rng.choice([x for x in range(1, n) if vs[n - x] - vs[n - x - 1] > 1.5 * 10**-dec])
        thr = _threshold(vs[n - cnt - 1], vs[n - cnt], dec)
        assert sum(v > thr for v in vs) == cnt
        thr_s = fmt(thr, dec if thr != int(thr) else 0, comma)
        q = T(
            zh,
            f"How many {PLURAL_NOUN.get(noun, noun + 's')} have a value above {thr_s} in the “{cname}” column?",
            f"“{cname}”超过{thr_s}的{noun}有几个？",
        )
        wrong = [x for x in (cnt - 1, cnt + 1, cnt + 2, cnt - 2, n) if x >= 0 and x != cnt]
        return q, *pick(rng, cnt, wrong, shuffle_pool=False)
    if kind == "diff":
        r1, r2 = rng.sample(present, 2)
        if data[r1][c] < data[r2][c]:
            r1, r2 = r2, r1
        d = data[r1][c] - data[r2][c]
        q = T(
            zh,
            f"By how much does the “{cname}” value of {rows[r1]} exceed that of {rows[r2]}?",
            f"{rows[r1]}的“{cname}”比{rows[r2]}高多少？",
        )
        others = {abs(data[x][c] - data[y][c]) for x in present for y in present if x < y}
        others |= {data[r1][c], data[r2][c]}
        pool = [fmt(v, dec, comma) for v in sorted(others, key=lambda v: abs(v - d)) if abs(v - d) > 1e-9]
        return q, *pick(rng, fmt(d, dec, comma), pool[:6])
    raise ValueError(kind)  # "empty" is asked by _empty_question


def render_table_pil(title: str, head_cells, n_head: int, body, aligns, style: dict, zh: bool) -> Image.Image:
    size = style["size"]
    fk = ("zh_sharp" if style["font"] in ("mono", "cond") else "zh") if zh else style["font"]
    f, fb = pfont(fk, size), pfont(bold(fk), size)
    pad = int(size * 0.7)
    ncols = len(aligns)
    widths = [0.0] * ncols
    for row in body:
        for c, s in enumerate(row):
            widths[c] = max(widths[c], f.getlength(s) + 2 * pad)
    for _r, c, _rs, cs, s in head_cells:
        if cs == 1:
            widths[c] = max(widths[c], fb.getlength(s) + 2 * pad)
    for _r, c, _rs, cs, s in head_cells:
        if cs > 1:
            have, need = sum(widths[c : c + cs]), fb.getlength(s) + 2 * pad
            for x in range(c, c + cs):
                widths[x] += max(0.0, need - have) / cs
    rh = int(size * 2.0)
    margin = 22
    title_h = int(size * 2.4)
    W = int(sum(widths)) + 2 * margin
    H = 2 * margin + title_h + rh * (n_head + len(body))
    bg = "white" if not style.get("paper") else style["paper"]
    img, d = canvas(max(W, int(f.getlength(title)) + 2 * margin), H, bg)
    xs = [margin + sum(widths[:c]) for c in range(ncols + 1)]
    ys = [margin + title_h + rh * i for i in range(n_head + len(body) + 1)]
    line = "#444444"
    d.text((xs[0], margin + title_h * 0.4), title, font=pfont(bold(fk), size + 3), fill="black", anchor="lm")
    if style["hfill"]:
        d.rectangle((xs[0], ys[0], xs[-1], ys[n_head]), fill=style["hfill"])
    for r in range(len(body)):
        if style["zebra"] and r % 2 == 1:
            d.rectangle((xs[0], ys[n_head + r], xs[-1], ys[n_head + r + 1]), fill="#eef2f7")
    for r, c, rs, cs, s in head_cells:
        d.text(((xs[c] + xs[c + cs]) / 2, (ys[r] + ys[r + rs]) / 2), s, font=fb, fill=style["htext"], anchor="mm")
    for r, row in enumerate(body):
        cy = (ys[n_head + r] + ys[n_head + r + 1]) / 2
        for c, s in enumerate(row):
            if not s:
                continue
            al = aligns[c]
            if al == "l":
                d.text((xs[c] + pad, cy), s, font=f, fill="black", anchor="lm")
            elif al == "r":
                d.text((xs[c + 1] - pad, cy), s, font=f, fill="black", anchor="rm")
            else:
                d.text(((xs[c] + xs[c + 1]) / 2, cy), s, font=f, fill="black", anchor="mm")
    border = style["border"]
    if border == "grid":
        for r, c, rs, cs, _s in head_cells:
            d.rectangle((xs[c], ys[r], xs[c + cs], ys[r + rs]), outline=line, width=1)
        for r in range(len(body)):
            for c in range(ncols):
                d.rectangle((xs[c], ys[n_head + r], xs[c + 1], ys[n_head + r + 1]), outline=line, width=1)
        d.rectangle((xs[0], ys[0], xs[-1], ys[-1]), outline="black", width=2)
    elif border == "rules":
        d.line((xs[0], ys[0], xs[-1], ys[0]), fill="black", width=2)
        for r, c, rs, cs, _s in head_cells:
            if cs > 1:
                d.line((xs[c] + 6, ys[r + rs], xs[c + cs] - 6, ys[r + rs]), fill=line, width=1)
        d.line((xs[0], ys[n_head], xs[-1], ys[n_head]), fill="black", width=1)
        d.line((xs[0], ys[-1], xs[-1], ys[-1]), fill="black", width=2)
    elif border == "outer":
        d.rectangle((xs[0], ys[0], xs[-1], ys[-1]), outline="black", width=2)
        d.line((xs[0], ys[n_head], xs[-1], ys[n_head]), fill="black", width=2)
    return img


def table_item(b: Builder, rng: random.Random, k: int, zh: bool) -> None:
    cat_name = "table_zh" if zh else "table"
    themes = TABLE_THEMES[zh]
    theme = themes[(k * 2 + (1 if zh else 0)) % len(themes)] if zh else themes[k % len(themes)]
    kind = TABLE_KINDS[(k + k // 5 + (3 if zh else 0)) % len(TABLE_KINDS)]
    style = dict(TABLE_STYLES[(k + (2 if zh else 0)) % len(TABLE_STYLES)])
    use_mpl = (k % 5 == 3) and not theme.get("groups")
    for _attempt in range(50):
        rows, cols, data = _table_data(rng, theme, k)
        if sum(col["spec"]["t"] == "num" for col in cols) >= 1:
            break
    numeric = [c for c, col in enumerate(cols) if col["spec"]["t"] == "num"]
    # empty cells: exactly one in the asked column for "empty"; elsewhere only in other columns
    qrng = random.Random(rng.random())
    if kind == "empty":
        c = qrng.choice(numeric)
        data[rng.randrange(len(rows))][c] = None
        if len(cols) > 1 and rng.random() < 0.6:
            other = rng.choice([x for x in range(len(cols)) if x != c])
            data[rng.randrange(len(rows))][other] = None
        q, ch, a = _empty_question(rng, zh, theme, rows, cols, data, c)
    else:
        # choose the question first, then maybe blank a cell in another column
        state = qrng.getstate()
        q, ch, a = table_question(qrng, kind, zh, theme, rows, cols, data)
        asked = [c for c in range(len(cols)) if cols[c]["q"] in q]
        free = [c for c in range(len(cols)) if c not in asked]
        if free and rng.random() < 0.5:
            c2 = rng.choice(free)
            data[rng.randrange(len(rows))][c2] = None
            qrng.setstate(state)
            q2, ch2, a2 = table_question(qrng, kind, zh, theme, rows, cols, data)
            assert (q2, ch2, a2) == (q, ch, a)
    body = [[rows[r]] + [_cell_text(cols[c], data[r][c]) for c in range(len(cols))] for r in range(len(rows))]
    aligns = ["l"] + [style["align"] if col["spec"]["t"] == "num" else "l" for col in cols]
    groups = [col["group"] for col in cols]
    if any(groups):
        cells = [(0, 0, 2, 1, theme["head"])]
        c = 0
        while c < len(cols):
            g = groups[c]
            if g is None:
                cells.append((0, c + 1, 2, 1, cols[c]["head"]))
                c += 1
                continue
            span = 1
            while c + span < len(cols) and groups[c + span] == g:
                span += 1
            cells.append((0, c + 1, 1, span, g))
            for x in range(c, c + span):
                cells.append((1, x + 1, 1, 1, cols[x]["head"]))
            c += span
        n_head = 2
    else:
        cells = [(0, 0, 1, 1, theme["head"])] + [(0, c + 1, 1, 1, col["head"]) for c, col in enumerate(cols)]
        n_head = 1
    name = b.next_name()
    if use_mpl:
        _render_table_mpl(b, name, rng, theme["t"], [theme["head"]] + [col["head"] for col in cols], body, zh, k)
    else:
        b.save_pil(render_table_pil(theme["t"], cells, n_head, body, aligns, style, zh), name)
    b.add(cat_name, name, q, ch, a)


def _empty_question(rng, zh, theme, rows, cols, data, c):
    noun = theme["noun"]
    cname = cols[c]["q"]
    empties = [r for r in range(len(rows)) if data[r][c] is None]
    assert len(empties) == 1
    q = T(zh, f"Which {noun} has no entry in the “{cname}” column?", f"哪个{noun}的“{cname}”一栏是空的？")
    ch, a = pick(rng, rows[empties[0]], [rows[r] for r in range(len(rows)) if r != empties[0]])
    return q, ch, a


def _render_table_mpl(b: Builder, name: str, rng, title: str, header: list[str], body, zh: bool, k: int) -> None:
    with plt.rc_context(chart_rc(rng, zh, k + 2, 100)):
        ncol = len(header)
        fig, ax = plt.subplots(figsize=(1.6 * ncol, 0.45 * (len(body) + 2) + 0.5), dpi=110)
        ax.axis("off")
        stripe = rng.choice(["#f1f6ee", "#fdf3e7", "#eef0fa"])
        colours = [[stripe if r % 2 else "white" for _ in header] for r in range(len(body))]
        tab = ax.table(
            cellText=body,
            colLabels=header,
            cellLoc=rng.choice(["center", "right"]),
            loc="center",
            cellColours=colours,
            colColours=[rng.choice(["#c9d6ea", "#d9ead3", "#f4cccc"])] * ncol,
        )
        tab.auto_set_font_size(False)
        tab.set_fontsize(13)
        tab.scale(1, 1.5)
        tab.auto_set_column_width(list(range(ncol)))
        for (r, _c), cell in tab.get_celld().items():
            cell.set_edgecolor("#777777")
            if r == 0:
                cell.get_text().set_weight("bold")
        ax.set_title(title, fontsize=15, pad=2)
        b.save_fig(fig, name, 110, crop=True)


# ----------------------------------------------------------------------------- receipts and menus


def money(c: int) -> str:
    return f"{c / 100:.2f}"


EN_GROCERIES = [
    ("Oat milk 1L", 189, 265), ("Sourdough loaf", 320, 450), ("Free-range eggs x6", 249, 329),
    ("Cheddar 200g", 275, 399), ("Bananas 1kg", 99, 149), ("Greek yoghurt", 145, 210),
    ("Olive oil 500ml", 549, 799), ("Basmati rice 1kg", 219, 289), ("Tomatoes", 130, 199),
    ("Dark chocolate", 185, 260), ("Ground coffee", 429, 599), ("Apple juice", 165, 235),
]  # fmt: skip
EN_DISHES = [
    "Roast squash soup", "Chicken katsu", "Mushroom risotto", "Fish tacos", "Lamb tagine",
    "Caesar salad", "Beef burger", "Sticky toffee pudding", "Lemon tart", "Sparkling water",
    "House lemonade", "Pad thai",
]  # fmt: skip
ZH_GROCERIES = ["牛奶", "面包", "鸡蛋", "苹果", "大米", "酸奶", "矿泉水", "饼干", "香蕉", "食用油", "挂面", "白糖"]


def receipt_item(b: Builder, rng: random.Random, k: int, zh: bool) -> None:
    cat = "receipt_zh" if zh else "receipt"
    layouts = ["till", "menu", "till", "menu"] if zh else ["till", "bill", "menu", "till", "bill", "menu"]
    layout = layouts[k % len(layouts)]
    name = b.next_name()
    fn = {"till": _till, "bill": _bill, "menu": _menu}[layout]
    img, q, ch, a = fn(rng, k, zh)
    if k in (3, 5) and not zh or (zh and k == 2):
        img = tilt(img, rng.choice([-3, -2, 2, 3]), rng.choice(["#8d8a84", "#6f5b4b", "#4d5a63"]))
    b.save_pil(img, name)
    b.add(cat, name, q, ch, a)


def _till(rng: random.Random, k: int, zh: bool):
    n = rng.randint(4, 6)
    if zh:
        names = rng.sample(ZH_GROCERIES, n)
        lines = [(nm, rng.randint(1, 3), rng.randrange(150, 2500, 10)) for nm in names]
    else:
        picks = rng.sample(EN_GROCERIES, n)
        lines = [(nm, rng.choice([1, 1, 1, 2, 3]), rng.randint(lo, hi)) for nm, lo, hi in picks]
    sub = sum(q * p for _, q, p in lines)
    rate = rng.choice([5, 7, 8, 10]) if not zh else 0
    tax = round(sub * rate / 100)
    total = sub + tax
    paid = next(x for x in (500, 1000, 2000, 5000, 10000, 20000, 30000, 50000, 100000) if x > total + 100)
    change = paid - total
    width = rng.randint(360, 430)
    fk = "zh_mono" if zh else "mono"
    fs = rng.choice([14, 15, 16])
    f, fb = pfont(fk, fs), pfont(bold(fk), fs + 4)
    H = 190 + (len(lines) * (2 if not zh else 1)) * (fs + 9) + 170
    img, d = canvas(width, H, rng.choice(["#fffef8", "#ffffff", "#fbf9f1"]))
    y = 18
    store = (
        rng.choice(["家家福超市", "好又多便利店", "华联生活超市"])
        if zh
        else rng.choice(["GREENLEAF MARKET", "HARBOR FOODS", "NORTHSIDE GROCER", "PINE & CO. DELI"])
    )
    d.text((width / 2, y), store, font=fb, fill="black", anchor="mt")
    y += fs + 16
    date = f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}  {rng.randint(8, 21):02d}:{rng.randint(0, 59):02d}"
    d.text((width / 2, y), date, font=f, fill="black", anchor="mt")
    y += fs + 12
    L, Rx = 16, width - 16

    def rule(y):
        for x in range(L, Rx, 8):
            d.line((x, y, x + 4, y), fill="black", width=1)

    rule(y)
    y += 10
    if zh:
        for label, x, anc in (("商品", L, "la"), ("数量", L + 150, "la"), ("单价", Rx - 80, "ra"), ("金额", Rx, "ra")):
            d.text((x, y), label, font=f, fill="black", anchor=anc)
        y += fs + 8
    for nm, qn, p in lines:
        if zh:
            d.text((L, y), nm, font=f, fill="black")
            d.text((L + 150, y), str(qn), font=f, fill="black")
            d.text((Rx - 80, y), money(p), font=f, fill="black", anchor="ra")
            d.text((Rx, y), money(qn * p), font=f, fill="black", anchor="ra")
            y += fs + 9
        else:
            d.text((L, y), nm.upper(), font=f, fill="black")
            if qn > 1:
                y += fs + 5
                d.text((L + 24, y), f"{qn} @ {money(p)}", font=f, fill="black")
            d.text((Rx, y), money(qn * p), font=f, fill="black", anchor="ra")
            y += fs + 9
    rule(y)
    y += 10
    rows = (
        [("合计", total), ("实收", paid), ("找零", change)]
        if zh
        else [("SUBTOTAL", sub), (f"TAX {rate}%", tax), ("TOTAL", total), ("CASH", paid), ("CHANGE", change)]
    )
    for label, v in rows:
        big = label in ("TOTAL", "合计")
        ff = pfont(bold(fk), fs + 2) if big else f
        d.text((L, y), label, font=ff, fill="black")
        d.text((Rx, y), money(v), font=ff, fill="black", anchor="ra")
        y += fs + 10
    y += 8
    d.text((width / 2, y), "谢谢惠顾" if zh else "THANK YOU - PLEASE COME AGAIN", font=f, fill="black", anchor="mt")
    y += fs + 14
    for x in range(width // 2 - 110, width // 2 + 110, 3):
        if rng.random() < 0.6:
            d.line((x, y, x, y + 36), fill="black", width=rng.choice([1, 2]))
    img = img.crop((0, 0, width, min(H, y + 50)))
    kind = ["total", "change", "qty", "unit", "tax"][k % 5] if not zh else ["change", "qty", "total", "unit"][k % 4]
    if kind == "qty" and not any(qn > 1 for _, qn, _ in lines):
        kind = "total"
    multi = [ln for ln in lines if ln[1] > 1]
    if kind == "total":
        q = T(zh, "What is the total amount due on this receipt?", "这张小票的合计金额是多少？")
        ch, a = pick(
            rng, money(total), [money(sub), money(paid), money(total + 100), money(change)], shuffle_pool=False
        )
    elif kind == "change":
        q = T(zh, "How much change did the customer get?", "顾客找零多少元？")
        ch, a = pick(rng, money(change), [money(total), money(paid - sub), money(change + 50), money(paid)])
    elif kind == "tax":
        q = "How much tax was charged?"
        ch, a = pick(
            rng, money(tax), [money(sub), money(tax + 35), money(round(sub * (rate + 2) / 100)), money(rate * 100)]
        )
    elif kind == "qty":
        nm, qn, p = rng.choice(multi)
        q = T(zh, f"How many units of “{nm}” were bought?", f"“{nm}”买了几件？")
        ch, a = pick(rng, qn, [x for x in range(1, 7) if x != qn], shuffle_pool=True)
    else:
        nm, qn, p = rng.choice(multi or lines)
        q = T(zh, f"What is the unit price of “{nm}”?", f"“{nm}”的单价是多少元？")
        ch, a = pick(rng, money(p), [money(qn * p + (0 if qn > 1 else 50)), money(p + 30), money(total)])
    return img, q, ch, a


def _bill(rng: random.Random, k: int, zh: bool):
    n = rng.randint(4, 6)
    dishes = rng.sample(EN_DISHES, n)
    prices = spread(rng, n, 350, 2450, 150, 5)
    prices = [int(p) for p in prices]
    guests = rng.randint(2, 6)
    table_no = rng.randint(3, 28)
    sub = sum(prices)
    rate = rng.choice([10, 12.5, 15])
    service = round(sub * rate / 100)
    total = sub + service
    W = rng.randint(520, 600)
    fk = "serif"
    fs = rng.choice([17, 18])
    f, fb = pfont(fk, fs), pfont("serif_bold", fs + 8)
    cur = rng.choice(["£", "€", "$"])
    H = 240 + n * (fs + 14) + 170
    img, d = canvas(W, H, "#fdfaf3")
    d.rectangle((8, 8, W - 8, H - 8), outline="#7a5c3a", width=2)
    d.text(
        (W / 2, 30),
        rng.choice(["The Copper Kettle", "Olive & Thyme", "Bistro Lumière"]),
        font=fb,
        fill="#3b2a1a",
        anchor="mt",
    )
    d.text((W / 2, 74), f"Table {table_no}   ·   Guests {guests}   ·   Server: {rng.choice(['Ana', 'Tomás', 'Priya'])}",
           font=pfont("serif_italic", fs - 2), fill="#3b2a1a", anchor="mt")  # fmt: skip
    y = 120
    d.line((30, y, W - 30, y), fill="#7a5c3a", width=1)
    y += 14
    for dish, p in zip(dishes, prices, strict=True):
        d.text((40, y), dish, font=f, fill="black")
        d.text((W - 40, y), f"{cur}{money(p)}", font=f, fill="black", anchor="ra")
        y += fs + 14
    d.line((30, y, W - 30, y), fill="#7a5c3a", width=1)
    y += 14
    for label, v in (("Subtotal", sub), (f"Service charge ({rate:g}%)", service), ("Total to pay", total)):
        ff = pfont("serif_bold", fs) if label.startswith("Total") else f
        d.text((40, y), label, font=ff, fill="black")
        d.text((W - 40, y), f"{cur}{money(v)}", font=ff, fill="black", anchor="ra")
        y += fs + 14
    img = img.crop((0, 0, W, y + 30))
    d = ImageDraw.Draw(img)
    d.rectangle((8, 8, W - 9, y + 21), outline="#7a5c3a", width=2)
    kind = ["service", "dish", "guests", "priciest"][k % 4] if k < 4 else ["priciest", "service"][k % 2]
    if kind == "service":
        q = "How much is the service charge on this bill?"
        ch, a = pick(
            rng, f"{cur}{money(service)}", [f"{cur}{money(x)}" for x in (sub, total, service + 150, rate * 100)]
        )
    elif kind == "dish":
        i = rng.randrange(n)
        q = f"How much did the {dishes[i]} cost?"
        ch, a = pick(rng, f"{cur}{money(prices[i])}", [f"{cur}{money(p)}" for p in prices if p != prices[i]])
    elif kind == "guests":
        q = "How many guests does the bill say were at the table?"
        ch, a = pick(rng, guests, [x for x in (2, 3, 4, 5, 6, table_no) if x != guests])
    else:
        i = prices.index(max(prices))
        q = "Which item on the bill is the most expensive?"
        ch, a = pick(rng, dishes[i], [x for x in dishes if x != dishes[i]])
    return img, q, ch, a


MENU_EN = {
    "Coffee & Tea": ["Espresso", "Flat white", "Cortado", "Chai latte", "Matcha", "Earl Grey", "Mocha"],
    "Bakery": ["Croissant", "Cinnamon bun", "Banana bread", "Scone", "Almond tart", "Brownie"],
    "Lunch": ["Soup of the day", "Halloumi wrap", "Club sandwich", "Quiche", "Falafel bowl", "Jacket potato"],
}
MENU_ZH = {
    "凉菜": ["拍黄瓜", "凉拌木耳", "口水鸡", "夫妻肺片", "皮蛋豆腐"],
    "热菜": ["宫保鸡丁", "鱼香肉丝", "红烧肉", "麻婆豆腐", "清蒸鲈鱼", "回锅肉"],
    "主食": ["米饭", "扬州炒饭", "牛肉面", "葱油饼", "水饺"],
    "饮品": ["豆浆", "酸梅汤", "柠檬茶", "椰汁", "绿茶"],
}


def _menu(rng: random.Random, k: int, zh: bool):
    src = MENU_ZH if zh else MENU_EN
    secs = rng.sample(list(src), 3)
    menu = {s: rng.sample(src[s], rng.randint(3, 4)) for s in secs}
    all_items = [it for s in secs for it in menu[s]]
    ranges = {"凉菜": (12, 38, 1), "热菜": (28, 128, 1), "主食": (3, 40, 1), "饮品": (5, 30, 1),
              "Coffee & Tea": (220, 560, 10), "Bakery": (200, 620, 10), "Lunch": (650, 1450, 10)}  # fmt: skip
    for _attempt in range(500):
        prices = []
        for sec in secs:
            lo, hi, res = ranges[sec]
            prices += [int(p) for p in spread(rng, len(menu[sec]), lo, hi, 2.5 * res, res)]
        if len(set(prices)) == len(prices):
            break
    else:
        raise AssertionError("menu prices are not distinct")
    price = dict(zip(all_items, prices, strict=True))
    show = (lambda c: f"¥{c}") if zh else (lambda c: money(c))
    two_col = k % 2 == 0
    fk = ("zh" if k % 2 else "zh_sharp") if zh else ("cond" if two_col else "serif")
    fs = rng.choice([17, 18, 19])
    f, fh = pfont(fk, fs), pfont(bold(fk), fs + 3)
    bg, ink, accent = rng.choice(
        [("#1f2a24", "#f4efe2", "#e3b95b"), ("#fffaf0", "#2b2b2b", "#b33a3a"), ("#f2f6fa", "#1b2838", "#2a6f97")]
    )
    col_w = 330
    W = 2 * col_w + 60 if two_col else col_w + 120
    title = (
        rng.choice(["今日菜单", "家常小馆", "老街食堂"])
        if zh
        else rng.choice(["DAILY MENU", "The Corner Café", "MORNING & NOON"])
    )
    per = fs + 16
    blocks = [(s, menu[s]) for s in secs]
    if two_col:
        left, right = blocks[:2], blocks[2:]
        h_col = max(sum(per * (len(items) + 1) + 16 for _, items in col) for col in (left, right))
        H = 110 + h_col + 40
    else:
        H = 110 + sum(per * (len(items) + 1) + 16 for _, items in blocks) + 40
    img, d = canvas(W, H, bg)
    d.text((W / 2, 36), title, font=pfont(bold(fk), fs + 12), fill=accent, anchor="mt")
    cols = [blocks[:2], blocks[2:]] if two_col else [blocks]
    for ci, col in enumerate(cols):
        x0 = 30 + ci * (col_w + 20) if two_col else 60
        x1 = x0 + col_w
        y = 100
        for sec, items in col:
            d.text((x0, y), sec.upper() if not zh else sec, font=fh, fill=accent)
            y += per
            for it in items:
                d.text((x0 + 6, y), it, font=f, fill=ink)
                ps = show(price[it])
                d.text((x1, y), ps, font=f, fill=ink, anchor="ra")
                a0 = x0 + 12 + f.getlength(it)
                a1 = x1 - f.getlength(ps) - 8
                for x in range(int(a0), int(a1), 7):
                    d.point((x, y + fs - 3), fill=ink)
                y += per
            y += 16
    kind = ["price", "cheapest", "which"][(k + (1 if zh else 0)) % 3]
    if kind == "price":
        it = rng.choice(all_items)
        q = T(zh, f"How much does the {it} cost?", f"{it}多少钱？")
        ch, a = pick(rng, show(price[it]), [show(p) for p in prices if p != price[it]])
    elif kind == "cheapest":
        sec = rng.choice(secs)
        best = min(menu[sec], key=lambda x: price[x])
        q = T(zh, f"Which is the cheapest item in the {sec} section?", f"“{sec}”中最便宜的是哪一个？")
        ch, a = pick(rng, best, [x for x in menu[sec] if x != best] + [x for x in all_items if x not in menu[sec]])
    else:
        it = rng.choice(all_items)
        q = T(zh, f"Which item costs {show(price[it])}?", f"哪一道的价格是{show(price[it])}？")
        ch, a = pick(rng, it, [x for x in all_items if x != it])
    return img, q, ch, a


# ----------------------------------------------------------------------------- signs

SIGN_KINDS = {
    False: ["guide", "hours", "parking", "clearance", "airport"],
    True: ["guide", "hours", "noparking", "metro"],
}


def sign_item(b: Builder, rng: random.Random, k: int, zh: bool) -> None:
    cat = "sign_zh" if zh else "sign"
    kind = SIGN_KINDS[zh][k]
    img, q, ch, a, tilt_it = {
        "guide": _guide,
        "hours": _hours,
        "parking": _parking,
        "clearance": _clearance,
        "airport": _airport,
        "noparking": _noparking,
        "metro": _metro,
    }[kind](rng, zh)
    if tilt_it:
        img = tilt(
            img, rng.choice([-6, -4, 4, 5, 7]) * (1 if k % 2 else -1), rng.choice(["#b8c4cc", "#cfd8c4", "#d9d2c5"])
        )
    name = b.next_name()
    b.save_pil(img, name)
    b.add(cat, name, q, ch, a)


def _guide(rng: random.Random, zh: bool):
    dests = rng.sample(
        ["杭州", "苏州", "无锡", "嘉兴", "宁波", "湖州"]
        if zh
        else ["Kingsbridge", "Marlow", "Ashford", "Cheddar", "Redhill", "Thornbury"],
        3,
    )
    dists = rng.sample(range(6, 140), 3)
    arrows = rng.sample(["↑", "←", "→"], 3)
    unit = "公里" if zh else rng.choice(["km", "miles"])
    f = pfont("zh" if zh else "sans_bold", 44)
    label = (lambda v: f"{v}{unit}") if zh else (lambda v: f"{v} {unit}")
    W = int(max(620, 130 + max(f.getlength(x) for x in dests) + 50 + max(f.getlength(label(v)) for v in dists) + 50))
    H = 330
    img, d = canvas(W, H, "#0b6b3a" if not zh else "#1d4f9c")
    d.rounded_rectangle((10, 10, W - 10, H - 10), radius=22, outline="white", width=6)
    for i, (ds, km, ar) in enumerate(zip(dests, dists, arrows, strict=True)):
        y = 70 + i * 95
        d.text((50, y), ar, font=pfont("sans_bold", 50), fill="white", anchor="lm")
        d.text((130, y), ds, font=f, fill="white", anchor="lm")
        d.text((W - 50, y), label(km), font=f, fill="white", anchor="rm")
    i = rng.randrange(3)
    if rng.random() < 0.6 or zh:
        q = T(zh, f"According to the sign, how far is it to {dests[i]}?", f"根据路牌，到{dests[i]}还有多少公里？")
        u = (lambda v: f"{v}公里") if zh else (lambda v: f"{v} {unit}")
        ch, a = pick(rng, u(dists[i]), [u(x) for x in dists if x != dists[i]] + [u(dists[i] + 20)])
    else:
        word = {"↑": "Straight ahead", "←": "Turn left", "→": "Turn right"}
        q = f"Which way should you go for {dests[i]}?"
        ch, a = pick(rng, word[arrows[i]], [w for s, w in word.items() if s != arrows[i]])
    return img, q, ch, a, True


def _hours(rng: random.Random, zh: bool):
    days = (
        ["周一", "周二", "周三", "周四", "周五", "周六", "周日"]
        if zh
        else ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    )
    closed = rng.choice([0, 6, 2])
    opens = {d: rng.choice(["8:00", "9:00", "9:30", "10:00"]) for d in days}
    closes = {d: rng.choice(["17:00", "18:30", "19:00", "20:00", "21:30"]) for d in days}
    W, H = 480, 480
    bg, ink = rng.choice([("#111111", "#f5f5f5"), ("#ffffff", "#202020"), ("#7a1f2b", "#fff4e0")])
    img, d = canvas(W, H, bg)
    d.rectangle((14, 14, W - 14, H - 14), outline=ink, width=3)
    d.text(
        (W / 2, 50),
        "营业时间" if zh else "OPENING HOURS",
        font=pfont("zh" if zh else "serif_bold", 32),
        fill=ink,
        anchor="mm",
    )
    f = pfont("zh" if zh else "serif", 21)
    for i, dy in enumerate(days):
        y = 110 + i * 48
        d.text((40, y), dy, font=f, fill=ink, anchor="lm")
        txt = ("休息" if zh else "Closed") if i == closed else f"{opens[dy]} – {closes[dy]}"
        d.text((W - 40, y), txt, font=f, fill=ink, anchor="rm")
    if rng.random() < 0.5:
        ask = rng.choice([i for i in range(7) if i != closed])
        dy = days[ask]
        q = T(zh, f"What time does the shop close on {dy}?", f"{dy}几点关门？")
        ch, a = pick(
            rng, closes[dy], [closes[x] for x in days if closes[x] != closes[dy]] + [opens[dy], "22:00", "16:00"]
        )
    else:
        q = T(zh, "On which day is the shop closed?", "哪一天不营业？")
        ch, a = pick(rng, days[closed], [x for x in days if x != days[closed]])
    return img, q, ch, a, False


def _parking(rng: random.Random, zh: bool):
    hours = rng.choice([1, 2, 3, 4])
    t0, t1 = rng.choice([("8am", "6pm"), ("9am", "5pm"), ("7am", "7pm")])
    span = rng.choice(["MON – FRI", "MON – SAT", "EVERY DAY"])
    W, H = 380, 560
    img, d = canvas(W, H, "white")
    d.rounded_rectangle((8, 8, W - 8, H - 8), radius=16, outline="#1747a6", width=8)
    d.rectangle((30, 30, W - 30, 190), fill="#1747a6")
    d.text((W / 2, 110), "P", font=pfont("sans_bold", 130), fill="white", anchor="mm")
    d.text(
        (W / 2, 250),
        f"{hours} HOUR" if hours == 1 else f"{hours} HOURS",
        font=pfont("sans_bold", 46),
        fill="#1747a6",
        anchor="mm",
    )
    d.text((W / 2, 330), f"{t0} – {t1}", font=pfont("sans_bold", 34), fill="black", anchor="mm")
    d.text((W / 2, 390), span, font=pfont("sans_bold", 34), fill="black", anchor="mm")
    d.text((W / 2, 470), "Permit holders", font=pfont("sans", 24), fill="black", anchor="mm")
    d.text((W / 2, 505), "exempt", font=pfont("sans", 24), fill="black", anchor="mm")
    if rng.random() < 0.5:
        q = "What is the longest time you may park here?"
        opts = [f"{x} hour" if x == 1 else f"{x} hours" for x in (1, 2, 3, 4)]
        ch, a = pick(rng, opts[hours - 1], [o for o in opts if o != opts[hours - 1]])
    else:
        q = "From what time in the morning does the parking limit apply?"
        ch, a = pick(rng, t0, [x for x in ("7am", "8am", "9am", "10am") if x != t0])
    return img, q, ch, a, True


def _clearance(rng: random.Random, zh: bool):
    h = rng.choice([3.2, 3.4, 3.6, 3.8, 4.1, 4.3])
    W = H = 460
    img, d = canvas(W, H, "#dfe6ea")
    c = W / 2
    d.polygon([(c, 20), (W - 20, c), (c, H - 20), (20, c)], fill="#f2c200", outline="black")
    d.polygon([(c, 34), (W - 34, c), (c, H - 34), (34, c)], outline="black", width=5)
    d.text((c, 165), "LOW", font=pfont("cond_bold", 40), fill="black", anchor="mm")
    d.text((c, 210), "BRIDGE", font=pfont("cond_bold", 40), fill="black", anchor="mm")
    d.text((c, 280), f"{h:.1f} m", font=pfont("cond_bold", 56), fill="black", anchor="mm")
    q = "What is the maximum vehicle height allowed under the bridge?"
    ch, a = pick(rng, f"{h:.1f} m", [f"{x:.1f} m" for x in (3.2, 3.4, 3.6, 3.8, 4.1, 4.3, 4.5) if x != h])
    return img, q, ch, a, False


def _airport(rng: random.Random, zh: bool):
    places = ["Baggage claim", "Gates B1–B24", "Taxis & buses", "Passport control"]
    rng.shuffle(places)
    arrows = ["←", "→", "↑", "↓"]
    rng.shuffle(arrows)
    W, H = 720, 330
    img, d = canvas(W, H, "#1b1b1b")
    f = pfont("cond_bold", 38)
    for i in range(4):
        y = 50 + i * 76
        d.rectangle((24, y - 28, 84, y + 28), fill="#f6c915")
        d.text((54, y), arrows[i], font=pfont("sans_bold", 42), fill="#1b1b1b", anchor="mm")
        d.text((110, y), places[i], font=f, fill="#f6c915", anchor="lm")
    i = rng.randrange(4)
    word = {"←": "Left", "→": "Right", "↑": "Straight ahead", "↓": "Down (downstairs)"}
    q = f"According to the sign, which way is it to “{places[i]}”?"
    ch, a = pick(rng, word[arrows[i]], [w for s, w in word.items() if s != arrows[i]])
    return img, q, ch, a, True


def _noparking(rng: random.Random, zh: bool):
    t0, t1 = rng.choice([("7:00", "19:00"), ("8:00", "20:00"), ("6:30", "22:00"), ("9:00", "17:30")])
    fine = rng.choice([100, 150, 200])
    W, H = 420, 560
    img, d = canvas(W, H, "#f7f7f7")
    d.rectangle((10, 10, W - 10, H - 10), outline="#c62828", width=6)
    cx, cy, r = W / 2, 150, 100
    d.ellipse((cx - r, cy - r, cx + r, cy + r), fill="#1d4f9c", outline="#c62828", width=18)
    d.line((cx - 62, cy - 62, cx + 62, cy + 62), fill="#c62828", width=18)
    f = pfont("zh", 40)
    d.text((cx, 300), "禁止停车", font=f, fill="#c62828", anchor="mm")
    d.text((cx, 370), f"{t0} – {t1}", font=pfont("zh", 34), fill="black", anchor="mm")
    d.text((cx, 440), f"违者罚款{fine}元", font=pfont("zh", 28), fill="black", anchor="mm")
    if rng.random() < 0.5:
        q = "标志上禁止停车的时间段是？"
        pool = [f"{a} – {b}" for a, b in (("7:00", "19:00"), ("8:00", "20:00"), ("6:30", "22:00"), ("9:00", "17:30"))]
        ch, a = pick(rng, f"{t0} – {t1}", pool)
    else:
        q = "违反规定停车的罚款是多少？"
        ch, a = pick(rng, f"{fine}元", [f"{x}元" for x in (50, 100, 150, 200, 500) if x != fine])
    return img, q, ch, a, False


def _metro(rng: random.Random, zh: bool):
    exits = ["A", "B", "C", "D"]
    places = rng.sample(["人民广场", "南京路", "市图书馆", "体育中心", "火车站", "博物馆", "中山公园"], 4)
    arrows = [rng.choice(["←", "→", "↑"]) for _ in exits]
    W, H = 640, 360
    img, d = canvas(W, H, "#f3f3f3")
    d.rectangle((0, 0, W, 64), fill="#0a7a3d")
    d.text((24, 32), "出口 Exit", font=pfont("zh", 30), fill="white", anchor="lm")
    for i, (e, p, ar) in enumerate(zip(exits, places, arrows, strict=True)):
        y = 104 + i * 68
        d.rounded_rectangle((24, y - 24, 72, y + 24), radius=8, fill="#f0a500")
        d.text((48, y), e, font=pfont("sans_bold", 30), fill="black", anchor="mm")
        d.text((100, y), p, font=pfont("zh", 32), fill="#222222", anchor="lm")
        d.text((W - 40, y), ar, font=pfont("sans_bold", 36), fill="#222222", anchor="rm")
    i = rng.randrange(4)
    q = f"去{places[i]}应该走哪个出口？"
    ch, a = pick(rng, f"{exits[i]}口", [f"{e}口" for e in exits if e != exits[i]])
    return img, q, ch, a, True


# ----------------------------------------------------------------------------- forms

FIRST = ["Ingrid", "Tomasz", "Leila", "Mateo", "Yuki", "Oluwaseun", "Saoirse", "Rahul", "Camille", "Jonas"]
LAST = ["Lindqvist", "Nowak", "Haddad", "Ferreira", "Tanaka", "Adeyemi", "Byrne", "Mehta", "Laurent", "Becker"]


def _date(rng: random.Random, y0: int, y1: int) -> str:
    return f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(y0, y1)}"


def _phone(rng: random.Random) -> str:
    return f"0{rng.randint(100, 999)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"


def form_item(b: Builder, rng: random.Random, k: int, zh: bool = False) -> None:
    layout = ["boxed", "checkbox", "underline", "order"][k % 4]
    img, q, ch, a = {"boxed": _boxed, "checkbox": _checkbox, "underline": _underline, "order": _order}[layout](rng, k)
    name = b.next_name()
    b.save_pil(img, name)
    b.add("form", name, q, ch, a)


def _boxed(rng: random.Random, k: int):
    person = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    fields = [
        ("FULL NAME", person),
        ("DATE OF BIRTH", _date(rng, 1950, 2004)),
        ("HOME PHONE", _phone(rng)),
        ("WORK PHONE", _phone(rng)),
        ("POSTCODE", f"{rng.choice('BDGHKLMNS')}{rng.choice('ABEHLMNRSTW')}{rng.randint(1, 19)} {rng.randint(1, 9)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}"),
        ("DATE OF ISSUE", _date(rng, 2019, 2025)),
    ]  # fmt: skip
    title = "LIBRARY CARD APPLICATION" if k % 8 == 0 else "PATIENT REGISTRATION"
    W, H = 760, 420
    img, d = canvas(W, H, "#fbfbfb")
    d.rectangle((0, 0, W, 60), fill="#234e70" if k % 8 == 0 else "#5b2c6f")
    d.text((24, 30), title, font=pfont("sans_bold", 26), fill="white", anchor="lm")
    lab, val = pfont("sans", 13), pfont("mono" if k % 8 == 0 else "serif", 20)
    for i, (lb, v) in enumerate(fields):
        col, row = i % 2, i // 2
        x, y = 24 + col * 366, 90 + row * 105
        d.text((x, y), lb, font=lab, fill="#555555")
        d.rectangle((x, y + 22, x + 340, y + 70), outline="#333333", width=2)
        d.text((x + 12, y + 46), v, font=val, fill="#0d2b8c", anchor="lm")
    which = 3 if k < 4 else 5
    lb, v = fields[which]
    q = f"What is written in the “{lb.capitalize()}” field?"
    if which in (1, 5):
        pool = [fields[6 - which][1], _date(rng, 1950, 2025), _date(rng, 1950, 2025)]
    else:
        pool = [fields[5 - which][1], _phone(rng), _phone(rng)] if which in (2, 3) else [_phone(rng)]
    ch, a = pick(rng, v, pool, shuffle_pool=False)
    return img, q, ch, a


CHECK_SETS = [
    ("Room type", ["Single", "Double", "Twin", "Family suite"]),
    ("Preferred contact method", ["Email", "Phone call", "Text message", "Post"]),
    ("Dietary requirement", ["None", "Vegetarian", "Vegan", "Gluten-free"]),
    ("Membership level", ["Bronze", "Silver", "Gold", "Platinum"]),
]


def _checkbox(rng: random.Random, k: int):
    (q1, opts1), (q2, opts2) = rng.sample(CHECK_SETS, 2)
    t1, t2 = rng.randrange(len(opts1)), rng.randrange(len(opts2))
    radio = k % 8 == 5
    W, H = 720, 900
    img, d = canvas(W, H, "white")
    d.text(
        (30, 30), "BOOKING DETAILS" if k % 8 == 1 else "CUSTOMER PREFERENCES", font=pfont("cond_bold", 28), fill="black"
    )
    d.line((30, 72, W - 30, 72), fill="black", width=2)
    f, fq = pfont("cond", 20), pfont("cond_bold", 21)
    horizontal = k % 8 == 1
    y = 100
    for qq, opts, t in ((q1, opts1, t1), (q2, opts2, t2)):
        d.text((30, y), qq + ":", font=fq, fill="black")
        y += 40
        x = 40
        for i, o in enumerate(opts):
            x0, y0 = (x, y) if horizontal else (50, y + i * 36)
            x += 32 + f.getlength(o) + 36
            if radio:
                d.ellipse((x0, y0, x0 + 22, y0 + 22), outline="black", width=2)
                if i == t:
                    d.ellipse((x0 + 6, y0 + 6, x0 + 16, y0 + 16), fill="black")
            else:
                d.rectangle((x0, y0, x0 + 22, y0 + 22), outline="black", width=2)
                if i == t:
                    d.line((x0 + 4, y0 + 12, x0 + 10, y0 + 19, x0 + 26, y0 - 6), fill="#0b3d91", width=4)
            d.text((x0 + 32, y0 + 11), o, font=f, fill="black", anchor="lm")
        y += 50 if horizontal else 36 * len(opts) + 20
    img = img.crop((0, 0, W, y + 10))
    which = rng.random() < 0.5
    qq, opts, t = (q1, opts1, t1) if which else (q2, opts2, t2)
    q = f"Which option is selected under “{qq}”?"
    ch, a = pick(rng, opts[t], [o for o in opts if o != opts[t]])
    return img, q, ch, a


def _underline(rng: random.Random, k: int):
    person = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    guests = rng.randint(1, 6)
    day = rng.randint(2, 27)
    month = rng.choice(["March", "May", "June", "September", "October"])
    diet = rng.choice(["Vegetarian", "No nuts", "Halal", "None"])
    arrive = rng.choice(["Train", "Car", "Bicycle", "Coach"])
    fields = [
        ("Name", person),
        ("Number of guests", str(guests)),
        ("Arrival date", f"{day} {month} 2025"),
        ("Travelling by", arrive),
        ("Dietary needs", diet),
    ]
    W, H = 660, 470
    img, d = canvas(W, H, "#fffdf6")
    d.text(
        (W / 2, 40),
        "WEDDING RSVP" if k % 8 == 2 else "CONFERENCE REPLY SLIP",
        font=pfont("serif_bold", 28),
        fill="#4a3b2a",
        anchor="mm",
    )
    lab, ink = pfont("serif", 19), pfont("serif_italic", 23)
    for i, (lb, v) in enumerate(fields):
        y = 110 + i * 70
        d.text((36, y), lb + ":", font=lab, fill="black", anchor="ls")
        x0 = 36 + lab.getlength(lb + ":") + 14
        d.line((x0, y + 4, W - 36, y + 4), fill="black", width=1)
        d.text((x0 + 14, y - 2), v, font=ink, fill="#1c3faa", anchor="ls")
    i = [2, 1][(k // 4) % 2]
    lb, v = fields[i]
    q = f"What has been filled in for “{lb}”?"
    if i == 1:
        pool = [str(x) for x in range(1, 8) if x != guests]
    elif i == 2:
        pool = [f"{day + 1} {month} 2025", f"{day} April 2025", f"{day - 1} {month} 2024"]
    elif i == 3:
        pool = [x for x in ("Train", "Car", "Bicycle", "Coach") if x != arrive]
    else:
        pool = [x for x in ("Vegetarian", "No nuts", "Halal", "None", "Vegan") if x != diet]
    ch, a = pick(rng, v, pool)
    return img, q, ch, a


def _order(rng: random.Random, k: int):
    goods = rng.sample(
        [
            "A4 paper (ream)",
            "Stapler",
            "Gel pens (box)",
            "Desk lamp",
            "Toner cartridge",
            "Sticky notes",
            "Folders (pack)",
            "Whiteboard markers",
        ],
        5,
    )
    qty = [rng.randint(1, 24) for _ in goods]
    unit = [rng.randrange(150, 4500, 5) for _ in goods]
    amt = [q * u for q, u in zip(qty, unit, strict=True)]
    total = sum(amt)
    W = 760
    img, d = canvas(W, 440, "white")
    d.text((28, 26), "PURCHASE ORDER", font=pfont("sans_bold", 26), fill="#123")
    d.text((W - 28, 30), f"PO-{rng.randint(10000, 99999)}", font=pfont("mono", 18), fill="#123", anchor="ra")
    xs = [28, 330, 430, 590, W - 28]
    heads = ["Item", "Qty", "Unit price", "Amount"]
    y = 80
    d.rectangle((xs[0], y, xs[-1], y + 36), fill="#e3ecf5")
    for i, h in enumerate(heads):
        d.text((xs[i] + 8, y + 18), h, font=pfont("sans_bold", 17), fill="black", anchor="lm")
    y += 36
    f = pfont("sans", 17)
    for g, qn, u, am in zip(goods, qty, unit, amt, strict=True):
        d.line((xs[0], y, xs[-1], y), fill="#999999")
        d.text((xs[0] + 8, y + 18), g, font=f, fill="black", anchor="lm")
        d.text((xs[2] - 12, y + 18), str(qn), font=pfont("serif_italic", 19), fill="#1c3faa", anchor="rm")
        d.text((xs[3] - 12, y + 18), money(u), font=f, fill="black", anchor="rm")
        d.text((xs[4] - 8, y + 18), money(am), font=f, fill="black", anchor="rm")
        y += 36
    d.line((xs[0], y, xs[-1], y), fill="black", width=2)
    d.text((xs[3] - 12, y + 20), "TOTAL", font=pfont("sans_bold", 18), fill="black", anchor="rm")
    d.text((xs[4] - 8, y + 20), money(total), font=pfont("sans_bold", 18), fill="black", anchor="rm")
    for x in xs:
        d.line((x, 80, x, y), fill="#999999")
    img = img.crop((0, 0, W, y + 60))
    if k % 8 == 3:
        i = rng.randrange(5)
        q = f"How many of “{goods[i]}” were ordered?"
        ch, a = pick(rng, qty[i], [x for x in qty if x != qty[i]] + [qty[i] + 2, qty[i] + 5])
    else:
        q = "What is the total of this purchase order?"
        ch, a = pick(
            rng, money(total), [money(max(amt)), money(total - min(amt)), money(total + 1000)], shuffle_pool=False
        )
    return img, q, ch, a


# ----------------------------------------------------------------------------- diagrams

PEOPLE = ["Ada Brooks", "Ravi Menon", "Elena Petrova", "Marcus Lee", "Sofia Reyes", "Ken Ito", "Grace Obi",
          "Lars Holm", "Nadia Farouk", "Paul Chen", "Irene Walsh", "Diego Santos", "Mei Lin"]  # fmt: skip


def diagram_item(b: Builder, rng: random.Random, k: int, zh: bool = False) -> None:
    layout = ["org", "cycle", "decision", "timeline", "org", "cycle", "decision", "layers"][k % 8]
    img, q, ch, a = {"org": _org, "cycle": _cycle, "decision": _decision, "timeline": _timeline, "layers": _layers}[
        layout
    ](rng, k)
    name = b.next_name()
    b.save_pil(img, name)
    b.add("diagram", name, q, ch, a)


def _box(d, cx, cy, w, h, lines, fonts, fill, outline, radius=8):
    d.rounded_rectangle(
        (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), radius=radius, fill=fill, outline=outline, width=2
    )
    n = len(lines)
    for i, (s, f) in enumerate(zip(lines, fonts, strict=True)):
        d.text((cx, cy + (i - (n - 1) / 2) * (f.size + 4)), s, font=f, fill="black", anchor="mm")


def _org(rng: random.Random, k: int):
    people = rng.sample(PEOPLE, 10)
    n_mgr = rng.choice([2, 3])
    reports = [rng.randint(1, 3) for _ in range(n_mgr)]
    while len(set(reports)) == 1:
        reports = [rng.randint(1, 3) for _ in range(n_mgr)]
    ceo, mgrs = people[0], people[1 : 1 + n_mgr]
    staff, p = [], 1 + n_mgr
    for r in reports:
        staff.append(people[p : p + r])
        p += r
    roles = rng.sample(["Head of Sales", "Head of Finance", "Head of Product", "Head of People", "Head of Ops"], n_mgr)
    leaves = sum(reports)
    bw, bh, gap = 170, 58, 24
    W = max(700, leaves * (bw + gap) + 40)
    H = 420
    img, d = canvas(W, H, "white")
    fn, fr = pfont("sans_bold", 15), pfont("sans", 12)
    fill = rng.choice(["#e8f1fb", "#fdf0e6", "#eef7ee"])
    cx0 = W / 2
    _box(d, cx0, 60, bw + 20, bh, [ceo, "Director"], [fn, fr], fill, "#333")
    x = 20 + (bw + gap) / 2
    mgr_x = []
    leaf_pos = []
    for m in range(n_mgr):
        xs = []
        for _s in staff[m]:
            xs.append(x)
            x += bw + gap
        leaf_pos.append(xs)
        mgr_x.append(sum(xs) / len(xs))
    d.line((cx0, 60 + bh / 2, cx0, 140), fill="#333", width=2)
    d.line((min(mgr_x), 140, max(mgr_x), 140), fill="#333", width=2)
    for m in range(n_mgr):
        d.line((mgr_x[m], 140, mgr_x[m], 190 - bh / 2), fill="#333", width=2)
        _box(d, mgr_x[m], 190, bw, bh, [mgrs[m], roles[m]], [fn, fr], fill, "#333")
        d.line((mgr_x[m], 190 + bh / 2, mgr_x[m], 270), fill="#333", width=2)
        d.line((min(leaf_pos[m]), 270, max(leaf_pos[m]), 270), fill="#333", width=2)
        for i, lx in enumerate(leaf_pos[m]):
            d.line((lx, 270, lx, 330 - bh / 2), fill="#333", width=2)
            _box(d, lx, 330, bw, bh, [staff[m][i], "Analyst"], [fn, fr], "white", "#333")
    if k % 2 == 0:
        m = rng.randrange(n_mgr)
        s = rng.choice(staff[m])
        q = f"In the organisation chart, who is {s}'s direct manager?"
        ch, a = pick(
            rng, mgrs[m], [x for x in mgrs if x != mgrs[m]] + [ceo] + [x for row in staff for x in row if x != s]
        )
    else:
        m = rng.randrange(n_mgr)
        q = f"How many people report directly to {mgrs[m]}?"
        ch, a = pick(rng, reports[m], [x for x in (1, 2, 3, 4, n_mgr + 1) if x != reports[m]])
    return img, q, ch, a


CYCLES = [
    ("The water cycle", ["Evaporation", "Condensation", "Precipitation", "Collection", "Infiltration"]),
    ("Product life cycle", ["Research", "Design", "Build", "Launch", "Feedback", "Improve"]),
    ("Plan-do-check-act", ["Plan", "Do", "Check", "Act"]),
    ("Recycling loop", ["Collect", "Sort", "Clean", "Shred", "Remake", "Sell"]),
]


def _cycle(rng: random.Random, k: int):
    title, stages = CYCLES[(k // 2 + rng.randrange(2)) % len(CYCLES)]
    n = len(stages)
    clockwise = rng.random() < 0.5
    W, H = 640, 580
    img, d = canvas(W, H, rng.choice(["white", "#f7f7fb"]))
    d.text((W / 2, 28), title, font=pfont("serif_bold", 24), fill="black", anchor="mm")
    cx, cy, R = W / 2, H / 2 + 20, 200
    start = rng.uniform(0, 2 * math.pi)
    sgn = 1 if clockwise else -1  # image y grows downwards: +angle is clockwise on screen
    pos = [
        (cx + R * math.cos(start + sgn * 2 * math.pi * i / n), cy + R * math.sin(start + sgn * 2 * math.pi * i / n))
        for i in range(n)
    ]
    f = pfont("sans", 17)
    col = rng.choice(["#2a6f97", "#b5651d", "#2e7d32"])
    for i in range(n):
        a0 = start + sgn * 2 * math.pi * (i + 0.27) / n
        a1 = start + sgn * 2 * math.pi * (i + 0.73) / n
        pts = [
            (cx + R * math.cos(a0 + (a1 - a0) * t / 12), cy + R * math.sin(a0 + (a1 - a0) * t / 12)) for t in range(13)
        ]
        d.line(pts[:-1], fill=col, width=4)
        arrow(d, pts[-3], pts[-1], fill=col, width=4, head=18)
    for i, s in enumerate(stages):
        w = f.getlength(s) + 30
        _box(d, pos[i][0], pos[i][1], w, 46, [s], [f], "white", col, radius=20)
    i = rng.randrange(n)
    nxt, prv = stages[(i + 1) % n], stages[(i - 1) % n]
    q = f"Following the arrows in the diagram, which stage comes directly after {stages[i]}?"
    ch, a = pick(rng, nxt, [prv] + [s for s in stages if s not in (nxt, prv, stages[i])], shuffle_pool=False)
    return img, q, ch, a


DECISIONS = [  # q1 answered `stop` ends at t1; otherwise q2 decides between yes2 and no2
    dict(title="Parcel dispatch", q1="Heavier than 2 kg?", stop="Yes", t1="Ship by freight",
         q2="Fragile contents?", yes2="Wrap and insure", no2="Send as letter post"),
    dict(title="Support ticket", q1="Under warranty?", stop="No", t1="Quote a repair",
         q2="Physical damage?", yes2="Paid repair", no2="Free replacement"),
    dict(title="Leave request", q1="More than 5 days?", stop="Yes", t1="Ask HR to approve",
         q2="Manager available?", yes2="Manager approves", no2="Team lead approves"),
]  # fmt: skip


def _decision(rng: random.Random, k: int):
    dc = DECISIONS[(k // 2 + rng.randrange(3)) % 3]
    other = {"Yes": "No", "No": "Yes"}
    side2 = rng.choice(["Yes", "No"])  # the answer to q2 whose arrow goes to the right
    out_side = dc["yes2"] if side2 == "Yes" else dc["no2"]
    out_down = dc["no2"] if side2 == "Yes" else dc["yes2"]
    W, H = 720, 620
    img, d = canvas(W, H, "white")
    f, fb = pfont("sans", 16), pfont("sans_bold", 18)
    d.text((24, 24), dc["title"], font=fb, fill="black")
    cx = 230
    _box(d, cx, 70, 140, 42, ["Start"], [f], "#e0f2e9", "#333", radius=20)

    def diamond(cy, text):
        d.polygon([(cx, cy - 60), (cx + 130, cy), (cx, cy + 60), (cx - 130, cy)], fill="#fff6d6", outline="#333")
        d.text((cx, cy), text, font=f, fill="black", anchor="mm")

    arrow(d, (cx, 91), (cx, 170), width=2)
    diamond(230, dc["q1"])
    d.text((cx + 140, 212), dc["stop"], font=fb, fill="#b00020", anchor="ls")
    arrow(d, (cx + 130, 230), (470, 230), width=2)
    _box(d, 570, 230, 200, 54, [dc["t1"]], [f], "#e8eefc", "#333")
    d.text((cx + 10, 320), other[dc["stop"]], font=fb, fill="#b00020", anchor="lm")
    arrow(d, (cx, 290), (cx, 390), width=2)
    diamond(450, dc["q2"])
    d.text((cx + 140, 432), side2, font=fb, fill="#b00020", anchor="ls")
    arrow(d, (cx + 130, 450), (470, 450), width=2)
    _box(d, 570, 450, 200, 54, [out_side], [f], "#e8eefc", "#333")
    d.text((cx + 10, 535), other[side2], font=fb, fill="#b00020", anchor="lm")
    arrow(d, (cx, 510), (cx, 560), width=2)
    _box(d, cx, 588, 220, 48, [out_down], [f], "#e8eefc", "#333")
    a2 = rng.choice(["Yes", "No"])
    right = dc["yes2"] if a2 == "Yes" else dc["no2"]
    q = (
        f"In the flowchart, what is the outcome if the answer to “{dc['q1']}” is {other[dc['stop']]}"
        f" and the answer to “{dc['q2']}” is {a2}?"
    )
    ch, a = pick(rng, right, [dc["t1"], dc["yes2"], dc["no2"], "Return to start"], shuffle_pool=False)
    return img, q, ch, a


def _timeline(rng: random.Random, k: int):
    events = rng.sample(["Town charter signed", "Railway station opens", "Great flood", "First school built",
                         "Bridge rebuilt", "Museum founded", "Tram line closes", "Harbour expanded"], 6)  # fmt: skip
    years = sorted(rng.sample(range(1820, 2010), 6))
    W, H = 960, 420
    img, d = canvas(W, H, "#fcfcf7")
    d.text((W / 2, 30), "A short history of Millford", font=pfont("serif_bold", 24), fill="black", anchor="mm")
    y0 = 220
    d.line((40, y0, W - 40, y0), fill="#333", width=4)
    f, fy = pfont("serif", 15), pfont("serif_bold", 17)
    for i, (e, yr) in enumerate(zip(events, years, strict=True)):
        x = 90 + i * (W - 180) / 5
        up = i % 2 == 0
        d.ellipse((x - 8, y0 - 8, x + 8, y0 + 8), fill="#8b2e2e")
        y1 = y0 - 70 if up else y0 + 70
        d.line((x, y0, x, y1), fill="#8b2e2e", width=2)
        d.text((x, y1 - 4 if up else y1 + 4), str(yr), font=fy, fill="#8b2e2e", anchor="md" if up else "ma")
        words = e.split()
        l1, l2 = " ".join(words[: len(words) // 2 + 1]), " ".join(words[len(words) // 2 + 1 :])
        ty = y1 - 30 if up else y1 + 30
        d.text((x, ty - (20 if up else 0)), l1, font=f, fill="black", anchor="md" if up else "ma")
        d.text((x, ty + (0 if up else 20)), l2, font=f, fill="black", anchor="md" if up else "ma")
    i = rng.randrange(6)
    q = f"According to the timeline, which event happened in {years[i]}?"
    ch, a = pick(rng, events[i], [e for e in events if e != events[i]])
    return img, q, ch, a


def _layers(rng: random.Random, k: int):
    layers = ["Leaf litter", "Topsoil", "Subsoil", "Weathered rock", "Bedrock"]
    depth = [0]
    for _ in layers:
        depth.append(depth[-1] + rng.choice([10, 20, 30, 40, 50]))
    colours = ["#6b8e23", "#5c4033", "#8b6b4a", "#a89f91", "#6e6e6e"]
    W, H = 700, 560
    img, d = canvas(W, H, "white")
    d.text((W / 2, 26), "Soil profile", font=pfont("sans_bold", 24), fill="black", anchor="mm")
    top, scale = 70, 440 / depth[-1]
    f = pfont("sans", 17)
    for i, lyr in enumerate(layers):
        y0, y1 = top + depth[i] * scale, top + depth[i + 1] * scale
        d.rectangle((120, y0, 420, y1), fill=colours[i], outline="black")
        ym = (y0 + y1) / 2
        d.line((420, ym, 480, ym), fill="black", width=2)
        d.text((490, ym), lyr, font=f, fill="black", anchor="lm")
        d.line((110, y0, 120, y0), fill="black", width=2)
        d.text((104, y0), f"{depth[i]} cm", font=pfont("sans", 14), fill="black", anchor="rm")
    d.text((104, top + depth[-1] * scale), f"{depth[-1]} cm", font=pfont("sans", 14), fill="black", anchor="rm")
    i = rng.randrange(len(layers) - 1)
    if rng.random() < 0.5:
        q = f"Which layer lies directly below the {layers[i].lower()}?"
        ch, a = pick(rng, layers[i + 1], [layers[i - 1] if i else layers[-1]] + layers, shuffle_pool=False)
    else:
        i += 1
        q = f"At what depth does the {layers[i].lower()} begin?"
        ch, a = pick(rng, f"{depth[i]} cm", [f"{x} cm" for x in depth if x != depth[i]])
    return img, q, ch, a


# ----------------------------------------------------------------------------- perception


def shape(d: ImageDraw.ImageDraw, kind: str, cx: float, cy: float, r: float, fill, outline="black") -> None:
    if kind == "circle":
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill, outline=outline, width=2)
        return
    n, rot, inner = {"triangle": (3, -90, None), "square": (4, 45, None), "diamond": (4, 0, None),
                     "hexagon": (6, 0, None), "star": (5, -90, 0.45), "pentagon": (5, -90, None)}[kind]  # fmt: skip
    pts = []
    for i in range(n * (2 if inner else 1)):
        rr = r * (inner if inner and i % 2 else 1)
        ang = math.radians(rot + i * 360 / (n * (2 if inner else 1)))
        pts.append((cx + rr * math.cos(ang), cy + rr * math.sin(ang)))
    d.polygon(pts, fill=fill, outline=outline, width=2)


PALETTE = {"red": (214, 48, 49), "blue": (9, 132, 227), "green": (0, 160, 90), "yellow": (250, 200, 20),
           "purple": (140, 80, 200), "orange": (240, 130, 30)}  # fmt: skip


def count_item(b: Builder, rng: random.Random, k: int, zh: bool = False) -> None:
    W, H = rng.choice([(560, 400), (640, 460), (500, 500)])
    mode = ["shape", "shape", "colour"][k % 3]
    target = (
        rng.choice(["circle", "triangle", "square", "star"])
        if mode == "shape"
        else rng.choice(["blue", "red", "green"])
    )
    n = rng.randint(3, 9)
    m = rng.randint(3, 6)
    kinds = ["circle", "triangle", "square", "star", "hexagon"]
    placed: list[tuple[float, float, float]] = []
    objs = []

    def place(r):
        for _ in range(5000):
            if placed and rng.random() < 0.6:  # cluster: overlap a neighbour
                ox, oy, orr = rng.choice(placed)
                dist = rng.uniform(1.2 * max(r, orr), 0.95 * (r + orr))
                ang = rng.uniform(0, 2 * math.pi)
                x, y = ox + dist * math.cos(ang), oy + dist * math.sin(ang)
            else:
                x, y = rng.uniform(r + 8, W - r - 8), rng.uniform(r + 8, H - r - 8)
            if not (r + 4 <= x <= W - r - 4 and r + 4 <= y <= H - r - 4):
                continue
            if all(math.hypot(x - px, y - py) >= 1.2 * max(r, pr) for px, py, pr in placed):
                placed.append((x, y, r))
                return x, y
        raise AssertionError("cannot place a shape")

    for i in range(n + m):
        r = rng.uniform(26, 40)
        x, y = place(r)
        if mode == "shape":
            kind = target if i < n else rng.choice([s for s in kinds if s != target])
            colour = rng.choice(list(PALETTE.values()))
        else:
            kind = rng.choice(kinds)
            colour = PALETTE[target] if i < n else rng.choice([c for nm, c in PALETTE.items() if nm != target])
        objs.append((kind, x, y, r, colour))
    rng.shuffle(objs)
    img = Image.new("RGBA", (W, H), rng.choice([(255, 255, 255, 255), (244, 241, 232, 255), (235, 242, 248, 255)]))
    alpha = 190 if k % 2 else 255
    for kind, x, y, r, colour in objs:
        layer = Image.new("RGBA", (W, H), (0, 0, 0, 0))
        shape(ImageDraw.Draw(layer), kind, x, y, r, (*colour, alpha), outline=(30, 30, 30, 255))
        img = Image.alpha_composite(img, layer)
    name = b.next_name()
    b.save_pil(img, name)
    if mode == "shape":
        q = f"How many {target}s are in the picture (count overlapping ones too)?"
    else:
        q = f"How many {target} shapes are there in the picture?"
    ch, a = pick(rng, n, [n - 1, n + 1, n + 2, n - 2], shuffle_pool=False)
    b.add("perception_count", name, q, ch, a)


SCENE = [
    ("red", "star"),
    ("blue", "circle"),
    ("green", "square"),
    ("yellow", "triangle"),
    ("purple", "diamond"),
    ("orange", "hexagon"),
]


def spatial_item(b: Builder, rng: random.Random, k: int, zh: bool = False) -> None:
    W, H = 600, 480
    cells = [(r, c) for r in range(3) for c in range(3)]
    kind = ["above", "relation", "closest", "below", "relation", "corner"][k % 6]
    for _attempt in range(5000):
        objs = rng.sample(SCENE, rng.randint(4, 6))
        where = dict(zip(objs, rng.sample(cells, len(objs)), strict=False))
        at = {v: o for o, v in where.items()}
        jit = {o: (rng.uniform(-18, 18), rng.uniform(-14, 14)) for o in objs}
        pos = {o: (110 + c * 190 + jit[o][0], 85 + r * 155 + jit[o][1]) for o, (r, c) in where.items()}
        if kind in ("above", "below"):
            dr = -1 if kind == "above" else 1
            opts = [o for o, (r, c) in where.items() if (r + dr, c) in at]
            if opts:
                subj = rng.choice(opts)
                r, c = where[subj]
                right = at[(r + dr, c)]
                break
        elif kind == "relation":
            pairs = [
                (o1, o2)
                for o1 in objs
                for o2 in objs
                if o1 != o2 and (where[o1][0] == where[o2][0] or where[o1][1] == where[o2][1])
            ]
            if pairs:
                subj, ref = rng.choice(pairs)
                break
        elif kind == "closest":
            subj = rng.choice(objs)
            ds = sorted((math.dist(pos[subj], pos[o]), o) for o in objs if o != subj)
            if ds[0][0] * 1.35 < ds[1][0]:
                right = ds[0][1]
                break
        else:
            if (0, 2) in at:
                right = at[(0, 2)]
                break
    else:
        raise AssertionError("no scene fits the question")
    img, d = canvas(W, H, rng.choice(["white", "#f4f7ec", "#eef3f9"]))
    for o in objs:
        shape(d, o[1], *pos[o], rng.uniform(34, 44), PALETTE[o[0]])
    name = b.next_name()
    b.save_pil(img, name)
    label = lambda o: f"the {o[0]} {o[1]}"  # noqa: E731
    others = [label(o) for o in objs]
    if kind in ("above", "below"):
        q = f"Which object is directly {kind} {label(subj)}?"
        ch, a = pick(
            rng, label(right), [x for x in others if x not in (label(right), label(subj))] + [label(o) for o in SCENE]
        )
    elif kind == "relation":
        (r1, c1), (r2, c2) = where[subj], where[ref]
        rel = "to the left of" if c1 < c2 else "to the right of" if c1 > c2 else "above" if r1 < r2 else "below"
        q = f"Where is {label(subj)} relative to {label(ref)}?"
        ch, a = pick(
            rng, f"It is {rel} it", [f"It is {x} it" for x in ("to the left of", "to the right of", "above", "below")]
        )
    elif kind == "closest":
        q = f"Which object is closest to {label(subj)}?"
        ch, a = pick(
            rng, label(right), [x for x in others if x not in (label(right), label(subj))] + [label(o) for o in SCENE]
        )
    else:
        q = "Which object is nearest the top-right corner of the picture?"
        ch, a = pick(rng, label(right), [x for x in others if x != label(right)])
    b.add("perception_spatial", name, q, ch, a)


# ----------------------------------------------------------------------------- main

PLAN: list[tuple[str, Callable, int, bool]] = [
    ("bar_chart", bar_item, 18, False),
    ("bar_chart_zh", bar_item, 8, True),
    ("line_chart", line_item, 12, False),
    ("line_chart_zh", line_item, 6, True),
    ("table", table_item, 14, False),
    ("table_zh", table_item, 7, True),
    ("receipt", receipt_item, 6, False),
    ("receipt_zh", receipt_item, 4, True),
    ("sign", sign_item, 5, False),
    ("sign_zh", sign_item, 4, True),
    ("form", form_item, 8, False),
    ("diagram", diagram_item, 8, False),
    ("perception_count", count_item, 6, False),
    ("perception_spatial", spatial_item, 6, False),
]


def build(out_dir: Path | str = DEFAULT_OUT) -> list[dict]:
    """Render every image into ``out_dir/images`` and write ``out_dir/items.jsonl``; return the items."""
    _need_zh()
    out = Path(out_dir)
    b = Builder(out)
    for cat, make, count, zh in PLAN:
        for k in range(count):
            rng = random.Random(f"{SEED}|{cat}|{k}")
            make(b, rng, k, zh)
    with open(out / "items.jsonl", "w", encoding="utf-8") as f:
        for it in b.items:
            f.write(json.dumps(it, ensure_ascii=False) + "\n")
    return b.items


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: bench/data/vision_new)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    items = build(args.out)
    counts = Counter(it["category"] for it in items)
    size = sum(p.stat().st_size for p in (Path(args.out) / "images").glob("*.png"))
    print(f"wrote {len(items)} items to {Path(args.out) / 'items.jsonl'} in {time.perf_counter() - t0:.1f} s")
    print(", ".join(f"{c}={n}" for c, n in sorted(counts.items())), f"| images {size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
