"""Render the charts-and-tables development set (issue 18): images with known values.

Writes ``bench/data/vision_dev_charts/images/*.png`` and ``items.jsonl``, one
``{image, question, choices, answer, category, truth}`` per line (``answer`` is the index of the
right choice; ``truth`` is the chart's categories and series values, or the table's header and
rows). Bar and line charts (matplotlib) and tables (drawn with PIL), in English and Chinese
(categories ``bar_chart``, ``line_chart``, ``table`` and their ``_zh`` variants). Deterministic:
every image has its own seed. Chinese text needs WenQuanYi Zen Hei
(``apt-get install fonts-wqy-zenhei``).

    python bench/make_vision_dev_charts.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

OUT = Path(__file__).resolve().parent / "data" / "vision_dev_charts"
ZH_FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
EN_FONTS = {"sans": font_manager.findfont("DejaVu Sans"), "serif": font_manager.findfont("DejaVu Serif")}

# (hex, the name a person would use): three palettes of clearly different hues
PALETTES = [
    [("#3b6fb6", "blue"), ("#e8833a", "orange"), ("#4c9f50", "green")],
    [("#c0392b", "red"), ("#8e44ad", "purple"), ("#16a085", "teal")],
    [("#2e86c1", "blue"), ("#d4ac0d", "yellow"), ("#7f8c8d", "grey")],
    [("#27ae60", "green"), ("#e74c3c", "red"), ("#34495e", "dark blue")],
]
ZH_COLOUR = {"blue": "蓝色", "orange": "橙色", "green": "绿色", "red": "红色", "purple": "紫色", "yellow": "黄色",
             "grey": "灰色", "teal": "青色", "dark blue": "深蓝色"}  # fmt: skip
ZH_STYLE = {"solid": "实线", "dashed": "虚线", "dotted": "点线"}

items: list[dict] = []


def _fmt(v: float) -> str:
    return f"{v:g}" if abs(v) < 1e6 else f"{v:,.0f}"


def choices(rng: random.Random, right, pool: list) -> tuple[list[str], int]:
    wrong = [str(w) for w in dict.fromkeys(pool) if str(w) != str(right)]
    rng.shuffle(wrong)
    picks = [str(right)] + wrong[:3]
    rng.shuffle(picks)
    return picks, picks.index(str(right))


def near_values(rng: random.Random, v: float, spread: float = 0.25, step: float = 1.0) -> list[str]:
    """Distractors for "about how much": far enough apart that a 5% misreading does not matter."""
    out = []
    for f in (1 - 2 * spread, 1 - spread, 1 + spread, 1 + 2 * spread):
        w = round(v * f / step) * step if v else (f - 1) * 10
        if w != v:
            out.append(_fmt(w))
    return out


def add(name: str, question: str, right, pool: list, category: str, truth: dict, seed: int) -> None:
    rng = random.Random(f"{name}:{question}:{seed}")
    picks, k = choices(rng, right, pool)
    items.append({"image": f"images/{name}.png", "question": question, "choices": picks, "answer": k,
                  "category": category, "truth": truth})  # fmt: skip


def _zh_setup() -> None:
    font_manager.fontManager.addfont(ZH_FONT)


def _fig(rng: random.Random, zh: bool, size=None):
    family = "WenQuanYi Zen Hei" if zh else rng.choice(["DejaVu Sans", "DejaVu Sans", "DejaVu Serif"])
    plt.rcParams.update({"font.family": family, "axes.unicode_minus": not zh})
    w, h = size or (rng.choice([6.0, 6.4, 7.0]), rng.choice([3.8, 4.2, 4.6]))
    return plt.subplots(figsize=(w, h), dpi=rng.choice([90, 100, 110]))


def _save(fig, name: str) -> None:
    fig.tight_layout()
    fig.savefig(OUT / "images" / f"{name}.png")
    plt.close(fig)


# -- bar charts ------------------------------------------------------------------------------------
def bars(name: str, seed: int, cats: list[str], series: dict[str, list[float]], *, horizontal=False,
         stacked=False, labels="none", legend="upper right", ylim=None, palette=0, title="", zh=False,
         grid=False, fmt="{:g}") -> dict:  # fmt: skip
    rng = random.Random(seed)
    fig, ax = _fig(rng, zh)
    cols = PALETTES[palette]
    n = len(series)
    width = 0.8 / (1 if stacked else n)
    base = [0.0] * len(cats)
    looks = {}
    for k, (s, vals) in enumerate(series.items()):
        colour, cname = cols[k]
        looks[s] = cname
        pos = [x + (0 if stacked or n == 1 else (k - (n - 1) / 2) * width) for x in range(len(cats))]
        kw = {"label": s or None, "color": colour}
        if horizontal:
            rects = ax.barh(pos, vals, height=width * 0.95, left=base if stacked else None, **kw)
        else:
            rects = ax.bar(pos, vals, width=width * 0.95, bottom=base if stacked else None, **kw)
        for j, (r, v) in enumerate(zip(rects, vals, strict=True)):
            if labels == "all" or (labels == "some" and j % 2 == 0):
                if stacked:
                    cx, cy = r.get_x() + r.get_width() / 2, r.get_y() + r.get_height() / 2
                    ax.text(cx, cy, fmt.format(v), ha="center", va="center", fontsize=9, color="white")
                elif horizontal:
                    ax.text(v + (1 if v >= 0 else -1) * 0.01 * max(map(abs, vals)), r.get_y() + r.get_height() / 2,
                            fmt.format(v), va="center", ha="left" if v >= 0 else "right", fontsize=9)  # fmt: skip
                else:
                    ax.text(r.get_x() + r.get_width() / 2, v, fmt.format(v), ha="center",
                            va="bottom" if v >= 0 else "top", fontsize=9)  # fmt: skip
        if stacked:
            base = [b + v for b, v in zip(base, vals, strict=True)]
    if horizontal:
        ax.set_yticks(range(len(cats)), cats)
        ax.invert_yaxis()
        if ylim:
            ax.set_xlim(*ylim)
    else:
        ax.set_xticks(range(len(cats)), cats)
        if ylim:
            ax.set_ylim(*ylim)
    if any(v < 0 for vals in series.values() for v in vals):
        (ax.axvline if horizontal else ax.axhline)(0, color="black", linewidth=0.8)
    if grid:
        ax.grid(axis="x" if horizontal else "y", color="#dddddd")
        ax.set_axisbelow(True)
    if n > 1 and legend:
        if legend == "outside":
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        elif legend == "below":
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=n)
        else:
            ax.legend(loc=legend)
    if title:
        ax.set_title(title)
    _save(fig, name)
    return {"kind": "bar", "orientation": "horizontal" if horizontal else "vertical", "stacked": stacked,
            "categories": cats, "series": series, "looks": looks}  # fmt: skip


def make_bars() -> None:
    c = "bar_chart"
    # 1. vertical, one series, every bar labelled
    cats = ["Lisbon", "Porto", "Braga", "Faro", "Évora"]
    v = [42.0, 67.0, 29.0, 55.0, 38.0]
    t = bars("bar_en_01", 1, cats, {"": v}, labels="all", palette=0, title="Hotel rooms booked")
    add("bar_en_01", "Which city has the most hotel rooms booked?", "Porto", cats[:4], c, t, 1)
    add("bar_en_01", "What is the difference between Faro and Braga?", "26", ["13", "26", "17", "38"], c, t, 1)
    # 2. vertical, no labels, gridlines: read by measurement
    cats = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    v = [120.0, 185.0, 150.0, 90.0, 210.0, 165.0]
    t = bars("bar_en_02", 2, cats, {"": v}, labels="none", palette=1, grid=True, title="Visitors per day")
    add(
        "bar_en_02",
        "About how many visitors came on Wednesday?",
        "150",
        near_values(random.Random(2), 150, 0.2, 10),
        c,
        t,
        2,
    )
    add("bar_en_02", "On which day were there the fewest visitors?", "Thu", ["Mon", "Thu", "Sat", "Tue"], c, t, 2)
    # 3. horizontal, some labels
    cats = ["Copper", "Zinc", "Nickel", "Tin", "Lead"]
    v = [8.4, 2.6, 16.1, 25.3, 2.1]
    t = bars("bar_en_03", 3, cats, {"": v}, horizontal=True, labels="some", palette=2, title="Price (USD/kg)")
    add("bar_en_03", "Which metal has the lowest price?", "Lead", ["Zinc", "Lead", "Copper", "Nickel"], c, t, 3)
    add("bar_en_03", "Which metal is the most expensive?", "Tin", ["Tin", "Nickel", "Copper", "Zinc"], c, t, 3)
    # 4. grouped, two series, legend upper left
    cats = ["2020", "2021", "2022", "2023"]
    s = {"Imports": [34.0, 41.0, 47.0, 39.0], "Exports": [28.0, 36.0, 52.0, 58.0]}
    t = bars("bar_en_04", 4, cats, s, legend="upper left", palette=0, ylim=(0, 70))
    add("bar_en_04", "Which series is shown by the orange bars?", "Exports", ["Imports", "Exports"], c, t, 4)
    add("bar_en_04", "In which year were exports highest?", "2023", cats, c, t, 4)
    add("bar_en_04", "How much larger were exports than imports in 2022?", "5", ["5", "11", "3", "16"], c, t, 4)
    # 5. grouped, three series, legend outside right, all labels
    cats = ["Math", "Art", "Music"]
    s = {"Class A": [78.0, 64.0, 85.0], "Class B": [71.0, 82.0, 69.0], "Class C": [88.0, 59.0, 74.0]}
    t = bars("bar_en_05", 5, cats, s, legend="outside", labels="all", palette=1)
    add("bar_en_05", "Which class scored highest in Art?", "Class B", list(s), c, t, 5)
    add("bar_en_05", "Which series do the purple bars show?", "Class B", list(s), c, t, 5)
    # 6. stacked, legend below the plot
    cats = ["Q1", "Q2", "Q3", "Q4"]
    s = {"Hardware": [30.0, 25.0, 40.0, 35.0], "Services": [15.0, 30.0, 20.0, 35.0]}
    t = bars("bar_en_06", 6, cats, s, stacked=True, legend="below", palette=2, title="Revenue by quarter")
    add("bar_en_06", "Which quarter has the largest total revenue?", "Q4", cats, c, t, 6)
    add("bar_en_06", "About how much were Services in Q2?", "30", ["15", "30", "45", "55"], c, t, 6)
    # 7. negative values
    cats = ["Alba", "Brio", "Cora", "Dune", "Elm"]
    v = [12.0, -8.0, 5.0, -15.0, 20.0]
    t = bars("bar_en_07", 7, cats, {"": v}, labels="all", palette=3, title="Profit change (%)")
    add("bar_en_07", "Which company had the lowest profit change?", "Dune", ["Brio", "Dune", "Cora", "Alba"], c, t, 7)
    add("bar_en_07", "How many companies had a negative profit change?", "2", ["1", "2", "3", "4"], c, t, 7)
    # 8. non-zero axis start, no labels
    cats = ["Ann", "Ben", "Cai", "Dev"]
    v = [82.0, 91.0, 76.0, 87.0]
    t = bars("bar_en_08", 8, cats, {"": v}, ylim=(70, 95), palette=0, grid=True, title="Test score")
    add("bar_en_08", "What is the difference between Ben's and Cai's scores?", "15", ["5", "10", "15", "25"], c, t, 8)
    add("bar_en_08", "About what score did Dev get?", "87", ["77", "81", "87", "93"], c, t, 8)
    # 9. horizontal grouped, legend lower right
    cats = ["Paris", "Berlin", "Madrid"]
    s = {"2019": [38.0, 14.0, 21.0], "2024": [44.0, 12.0, 27.0]}
    t = bars("bar_en_09", 9, cats, s, horizontal=True, legend="lower right", palette=3, title="Tourists (millions)")
    add("bar_en_09", "Which year is shown by the red bars?", "2024", ["2019", "2024"], c, t, 9)
    add("bar_en_09", "Which city had fewer tourists in 2024 than in 2019?", "Berlin", cats, c, t, 9)
    # 10. thousands with separators
    cats = ["North", "South", "East", "West"]
    v = [1250.0, 2400.0, 1800.0, 950.0]
    t = bars("bar_en_10", 10, cats, {"": v}, labels="all", palette=1, fmt="{:,.0f}", title="Units shipped")
    add("bar_en_10", "How many more units did South ship than East?", "600", ["450", "600", "1,150", "850"], c, t, 10)


def make_bars_zh() -> None:
    c = "bar_chart_zh"
    cats = ["北京", "上海", "广州", "深圳", "杭州"]
    v = [86.0, 112.0, 74.0, 95.0, 61.0]
    t = bars("bar_zh_01", 21, cats, {"": v}, labels="all", palette=0, zh=True, title="门店销售额（万元）")
    add("bar_zh_01", "哪个城市的销售额最高？", "上海", cats[:4], c, t, 21)
    add("bar_zh_01", "深圳比广州多多少万元？", "21", ["11", "21", "31", "19"], c, t, 21)
    cats = ["一月", "二月", "三月", "四月"]
    s = {"线上": [45.0, 38.0, 52.0, 60.0], "线下": [30.0, 42.0, 35.0, 28.0]}
    t = bars("bar_zh_02", 22, cats, s, legend="upper left", palette=1, zh=True, ylim=(0, 75))
    add("bar_zh_02", "紫色柱子代表哪个系列？", "线下", ["线上", "线下"], c, t, 22)
    add("bar_zh_02", "哪个月线下销量最高？", "二月", cats, c, t, 22)
    cats = ["语文", "数学", "英语", "物理"]
    v = [88.0, 73.0, 91.0, 66.0]
    t = bars("bar_zh_03", 23, cats, {"": v}, horizontal=True, palette=2, zh=True, grid=True, title="平均分")
    add("bar_zh_03", "哪门课的平均分最低？", "物理", cats, c, t, 23)
    add("bar_zh_03", "数学的平均分大约是多少？", "73", ["53", "63", "73", "83"], c, t, 23)
    cats = ["甲", "乙", "丙", "丁"]
    s = {"产品A": [20.0, 35.0, 25.0, 15.0], "产品B": [25.0, 10.0, 30.0, 37.0]}
    t = bars("bar_zh_04", 24, cats, s, stacked=True, legend="upper right", palette=3, zh=True, ylim=(0, 70))
    add("bar_zh_04", "哪个门店的总销量最高？", "丙", cats, c, t, 24)


# -- line charts -----------------------------------------------------------------------------------
def lines(name: str, seed: int, cats: list[str], series: dict[str, list[float]], *, styles=None, markers=None,
          labels=(), legend="best", ylim=None, palette=0, title="", zh=False, grid=False) -> dict:  # fmt: skip
    rng = random.Random(seed)
    fig, ax = _fig(rng, zh)
    cols = PALETTES[palette]
    looks = {}
    for k, (s, vals) in enumerate(series.items()):
        colour, cname = cols[k]
        style = (styles or ["solid"] * 3)[k]
        ls = {"solid": "-", "dashed": "--", "dotted": ":"}[style]
        mk = (markers or [None] * 3)[k]
        ax.plot(range(len(cats)), vals, color=colour, linestyle=ls, marker=mk, linewidth=2, label=s or None)
        looks[s] = f"{cname} {style}"
        for j in labels:
            if k == 0:
                ax.annotate(f"{vals[j]:g}", (j, vals[j]), textcoords="offset points", xytext=(0, 7), ha="center",
                            fontsize=9)  # fmt: skip
    ax.set_xticks(range(len(cats)), cats)
    if ylim:
        ax.set_ylim(*ylim)
    if grid:
        ax.grid(color="#e0e0e0")
    if len(series) > 1 and legend:
        ax.legend(loc=legend)
    if title:
        ax.set_title(title)
    _save(fig, name)
    return {"kind": "line", "orientation": "vertical", "stacked": False, "categories": cats, "series": series,
            "looks": looks}  # fmt: skip


def make_lines() -> None:
    c = "line_chart"
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul"]
    v = [14.0, 18.0, 25.0, 31.0, 27.0, 22.0, 19.0]
    t = lines("line_en_01", 31, months, {"": v}, markers=["o"], labels=(0, 3, 6), palette=0, grid=True,
              title="Orders (thousands)")  # fmt: skip
    add("line_en_01", "How do orders change from February to June?",
        "They rise, then fall", ["They rise, then fall", "They fall, then rise", "They rise steadily",
                                 "They stay about the same"], c, t, 31)  # fmt: skip
    add("line_en_01", "Between which two consecutive months did orders increase the most?", "Feb to Mar",
        ["Jan to Feb", "Feb to Mar", "Mar to Apr", "Apr to May"], c, t, 31)  # fmt: skip
    cats = ["2018", "2019", "2020", "2021", "2022", "2023"]
    s = {"Solar": [5.0, 8.0, 12.0, 18.0, 26.0, 35.0], "Coal": [40.0, 37.0, 33.0, 31.0, 24.0, 20.0]}
    t = lines("line_en_02", 32, cats, s, styles=["solid", "dashed"], palette=1, legend="center right",
              title="Share of power (%)")  # fmt: skip
    add("line_en_02", "Which series is drawn with a dashed line?", "Coal", ["Solar", "Coal"], c, t, 32)
    add("line_en_02", "In which year did Solar first exceed Coal?", "2022", ["2020", "2021", "2022", "2023"], c, t, 32)
    add("line_en_02", "About what was the share of Coal in 2020?", "33", ["23", "33", "43", "13"], c, t, 32)
    cats = ["W1", "W2", "W3", "W4", "W5"]
    s = {"Oak": [12.0, 15.0, 14.0, 19.0, 23.0], "Pine": [20.0, 18.0, 21.0, 17.0, 16.0],
         "Elm": [8.0, 10.0, 13.0, 11.0, 9.0]}  # fmt: skip
    t = lines("line_en_03", 33, cats, s, styles=["solid", "dashed", "dotted"], markers=["o", "s", "^"], palette=0,
              legend="upper left", ylim=(0, 30))  # fmt: skip
    add("line_en_03", "Which series is shown by the dotted line?", "Elm", list(s), c, t, 33)
    add("line_en_03", "Which series does the orange line show?", "Pine", list(s), c, t, 33)
    add("line_en_03", "Which series has the highest value in W5?", "Oak", list(s), c, t, 33)
    days = ["D1", "D2", "D3", "D4", "D5", "D6", "D7", "D8"]
    v = [50.0, 54.0, 49.0, 61.0, 63.0, 58.0, 72.0, 70.0]
    t = lines("line_en_04", 34, days, {"": v}, palette=3, grid=True, ylim=(40, 80), title="Daily users")
    add("line_en_04", "Between which two consecutive days was the largest increase?", "D6 to D7",
        ["D3 to D4", "D6 to D7", "D1 to D2", "D4 to D5"], c, t, 34)  # fmt: skip
    add("line_en_04", "On which day was the number of users lowest?", "D3", ["D1", "D3", "D6", "D8"], c, t, 34)
    cats = ["Mon", "Tue", "Wed", "Thu", "Fri"]
    s = {"Rain": [4.0, 12.0, 7.0, 2.0, 9.0], "Snow": [0.0, 3.0, 6.0, 10.0, 5.0]}
    t = lines("line_en_05", 35, cats, s, markers=["D", "o"], labels=(1, 3), palette=2, legend="upper right",
              ylim=(0, 15), title="Precipitation (mm)")  # fmt: skip
    add("line_en_05", "About how much snow fell on Thursday?", "10", ["4", "7", "10", "14"], c, t, 35)
    add("line_en_05", "What is the trend of Snow from Mon to Thu?", "It rises",
        ["It rises", "It falls", "It rises, then falls", "It stays flat"], c, t, 35)  # fmt: skip
    add("line_en_05", "Which series is the yellow line?", "Snow", list(s), c, t, 35)
    cats = ["Q1", "Q2", "Q3", "Q4", "Q5", "Q6"]
    v = [310.0, 295.0, 270.0, 285.0, 320.0, 340.0]
    t = lines("line_en_06", 36, cats, {"": v}, markers=["o"], palette=1, ylim=(250, 360), title="Stock price")
    add("line_en_06", "How does the price move from Q1 to Q6?", "It falls, then rises",
        ["It falls, then rises", "It rises, then falls", "It rises steadily", "It falls steadily"], c, t, 36)  # fmt: skip
    add("line_en_06", "In which quarter was the price lowest?", "Q3", ["Q2", "Q3", "Q4", "Q1"], c, t, 36)


def make_lines_zh() -> None:
    c = "line_chart_zh"
    months = ["1月", "2月", "3月", "4月", "5月", "6月"]
    v = [22.0, 26.0, 31.0, 28.0, 35.0, 40.0]
    t = lines("line_zh_01", 41, months, {"": v}, markers=["o"], labels=(0, 5), palette=0, zh=True, grid=True,
              title="月销售额（万元）")  # fmt: skip
    add("line_zh_01", "销售额最低的是哪个月？", "1月", ["1月", "3月", "4月", "6月"], c, t, 41)
    add(
        "line_zh_01",
        "哪两个相邻月份之间增长最多？",
        "4月到5月",
        ["1月到2月", "2月到3月", "4月到5月", "5月到6月"],
        c,
        t,
        41,
    )
    cats = ["2019", "2020", "2021", "2022", "2023"]
    s = {"出口": [120.0, 105.0, 130.0, 150.0, 140.0], "进口": [90.0, 100.0, 95.0, 110.0, 125.0]}
    t = lines("line_zh_02", 42, cats, s, styles=["solid", "dashed"], markers=["o", None], palette=3, zh=True,
              legend="lower right", ylim=(60, 170))  # fmt: skip
    add("line_zh_02", "哪条线是虚线？", "进口", ["出口", "进口"], c, t, 42)
    add("line_zh_02", "2022年出口约为多少？", "150", ["110", "130", "150", "170"], c, t, 42)
    cats = ["周一", "周二", "周三", "周四", "周五"]
    s = {"甲店": [30.0, 45.0, 38.0, 50.0, 42.0], "乙店": [25.0, 28.0, 40.0, 35.0, 48.0]}
    t = lines("line_zh_03", 43, cats, s, styles=["solid", "dotted"], palette=1, zh=True, legend="upper left",
              ylim=(0, 60), title="客流量")  # fmt: skip
    add("line_zh_03", "红色的线代表哪家店？", "甲店", ["甲店", "乙店"], c, t, 43)
    add("line_zh_03", "周五哪家店的客流量更高？", "乙店", ["甲店", "乙店"], c, t, 43)


# -- tables ----------------------------------------------------------------------------------------
def table(name: str, seed: int, header: list[str], rows: list[list[str]], *, borders="all", zebra=False,
          groups=None, title="", zh=False, right_numbers=True, size=18) -> dict:  # fmt: skip
    """borders: all | rules (lines under the header and at the end) | none. groups: [(text, first col,
    n cols)] drawn above the header (a merged header)."""
    rng = random.Random(seed)
    f = ImageFont.truetype(ZH_FONT if zh else EN_FONTS[rng.choice(["sans", "serif"])], size)
    tf = ImageFont.truetype(ZH_FONT if zh else EN_FONTS["sans"], size + 4)
    pad, rh = 14, int(size * 2.0)
    widths = [max(f.getlength(r[j]) for r in [header, *rows]) + 2 * pad for j in range(len(header))]
    top = 12 + (rh if title else 0)
    nhead = 2 if groups else 1
    W = int(sum(widths) + 40)
    H = int(top + rh * (nhead + len(rows)) + 20)
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    if title:
        d.text((20, 12), title, fill="black", font=tf)
    xs = [20.0]
    for w in widths:
        xs.append(xs[-1] + w)
    y = top
    if groups:
        for text, j0, n in groups:
            cx = (xs[j0] + xs[j0 + n]) / 2
            d.text((cx - f.getlength(text) / 2, y + (rh - size) / 2), text, fill="black", font=f)
            if borders != "none":
                d.line((xs[j0] + 4, y + rh - 3, xs[j0 + n] - 4, y + rh - 3), fill="black")
        y += rh
    grey = (235, 240, 247)
    for k, r in enumerate([header, *rows]):
        if zebra and k > 0 and k % 2 == 0:
            d.rectangle((xs[0], y, xs[-1], y + rh), fill=grey)
        for j, cell in enumerate(r):
            num = k > 0 and j > 0 and any(ch.isdigit() for ch in cell)
            x = xs[j + 1] - pad - f.getlength(cell) if (num and right_numbers) else xs[j] + pad
            d.text((x, y + (rh - size) / 2), cell, fill="black", font=f)
        if borders == "all":
            d.line((xs[0], y, xs[-1], y), fill="black")
        elif borders == "rules" and k in (0, 1):
            d.line((xs[0], y, xs[-1], y), fill="black", width=2 if k == 0 else 1)
        y += rh
    if borders == "all":
        d.line((xs[0], y, xs[-1], y), fill="black")
        for x in xs:
            d.line((x, top + (rh if groups else 0), x, y), fill="black")
    elif borders == "rules":
        d.line((xs[0], y, xs[-1], y), fill="black", width=2)
    img.save(OUT / "images" / f"{name}.png")
    head = header
    if groups:
        head = list(header)
        for text, j0, n in groups:
            for j in range(j0, j0 + n):
                head[j] = f"{text} {header[j]}"
    return {"kind": "table", "header": head, "rows": rows}


def make_tables() -> None:
    c = "table"
    h = ["Country", "Capital", "Population (m)", "Area (k km²)"]
    rows = [["Norway", "Oslo", "5.5", "385"], ["Chile", "Santiago", "19.6", "756"], ["Kenya", "Nairobi", "54.0", "580"],
            ["Peru", "Lima", "34.0", "1,285"], ["Ghana", "Accra", "33.5", "239"]]  # fmt: skip
    t = table("table_en_01", 51, h, rows, borders="all")
    add(
        "table_en_01",
        "What is the population of Chile, in millions?",
        "19.6",
        ["5.5", "19.6", "34.0", "54.0"],
        c,
        t,
        51,
    )
    add("table_en_01", "Which country has the largest area?", "Peru", ["Chile", "Peru", "Kenya", "Norway"], c, t, 51)
    add("table_en_01", "How many countries have a population above 30 million?", "3", ["1", "2", "3", "4"], c, t, 51)
    h = ["Product", "Units", "Price ($)", "Revenue ($k)"]
    rows = [["Kettle", "1,200", "35", "42.0"], ["Toaster", "850", "48", "40.8"], ["Blender", "640", "72", "46.1"],
            ["Mixer", "310", "129", "40.0"], ["Juicer", "920", "55", "50.6"], ["Grill", "415", "89", "36.9"]]  # fmt: skip
    t = table("table_en_02", 52, h, rows, borders="none", zebra=True, title="Kitchen sales, 2024")
    add(
        "table_en_02",
        "Which product brought the highest revenue?",
        "Juicer",
        ["Kettle", "Blender", "Juicer", "Mixer"],
        c,
        t,
        52,
    )
    add("table_en_02", "How many products sold more than 800 units?", "3", ["2", "3", "4", "5"], c, t, 52)
    add("table_en_02", "What is the price of the Blender?", "$72", ["$48", "$72", "$89", "$55"], c, t, 52)
    h = ["Team", "Won", "Lost", "Won", "Lost"]
    rows = [["Hawks", "8", "4", "6", "6"], ["Lions", "10", "2", "", "5"], ["Bears", "5", "7", "9", "3"],
            ["Wolves", "7", "5", "8", "4"]]  # fmt: skip
    t = table("table_en_03", 53, h, rows, borders="rules", groups=[("Home", 1, 2), ("Away", 3, 2)])
    add("table_en_03", "Which team has an empty cell?", "Lions", ["Hawks", "Lions", "Bears", "Wolves"], c, t, 53)
    add("table_en_03", "How many away games did the Bears win?", "9", ["5", "7", "9", "3"], c, t, 53)
    add("table_en_03", "Which team won the most home games?", "Lions", ["Hawks", "Lions", "Bears", "Wolves"], c, t, 53)
    h = ["Station", "Jan (°C)", "Jul (°C)", "Rain (mm)"]
    rows = [["Tromsø", "-4.4", "12.4", "1,031"], ["Bergen", "1.5", "15.0", "2,250"], ["Oslo", "-4.3", "16.4", "763"],
            ["Bodø", "-2.2", "12.5", ""], ["Kirkenes", "-11.5", "12.8", "450"]]  # fmt: skip
    t = table("table_en_04", 54, h, rows, borders="all", zebra=True, right_numbers=False, size=16)
    add(
        "table_en_04",
        "Which station is coldest in January?",
        "Kirkenes",
        ["Tromsø", "Oslo", "Kirkenes", "Bodø"],
        c,
        t,
        54,
    )
    add("table_en_04", "Which station has no rain value?", "Bodø", ["Bergen", "Bodø", "Oslo", "Tromsø"], c, t, 54)
    add("table_en_04", "What is the July temperature in Oslo?", "16.4", ["12.4", "15.0", "16.4", "12.8"], c, t, 54)


def make_tables_zh() -> None:
    c = "table_zh"
    h = ["城市", "销售额（万元）", "同比增长（%）", "门店数"]
    rows = [["北京", "1,250", "8.5", "42"], ["上海", "1,480", "6.2", "51"], ["广州", "960", "12.3", "33"],
            ["成都", "870", "15.1", "29"], ["武汉", "720", "9.8", "25"]]  # fmt: skip
    t = table("table_zh_01", 61, h, rows, borders="all", zh=True, title="2024年各城市销售情况")
    add("table_zh_01", "哪个城市的销售额最高？", "上海", ["北京", "上海", "广州", "成都"], c, t, 61)
    add("table_zh_01", "广州的同比增长是多少？", "12.3%", ["8.5%", "12.3%", "15.1%", "9.8%"], c, t, 61)
    add("table_zh_01", "门店数超过30家的城市有几个？", "3", ["2", "3", "4", "5"], c, t, 61)
    h = ["产品", "单价（元）", "销量（万件）", "利润率"]
    rows = [["手机", "2,999", "12.5", "18%"], ["耳机", "399", "35.2", "32%"], ["平板", "3,599", "6.8", ""],
            ["手表", "1,299", "9.4", "25%"]]  # fmt: skip
    t = table("table_zh_02", 62, h, rows, borders="none", zebra=True, zh=True)
    add("table_zh_02", "哪个产品的利润率为空？", "平板", ["手机", "耳机", "平板", "手表"], c, t, 62)
    add("table_zh_02", "哪个产品的销量最高？", "耳机", ["手机", "耳机", "平板", "手表"], c, t, 62)
    add("table_zh_02", "手表的单价是多少元？", "1,299", ["399", "1,299", "2,999", "3,599"], c, t, 62)
    h = ["部门", "上半年", "下半年", "上半年", "下半年"]
    rows = [["研发部", "320", "410", "12", "15"], ["市场部", "280", "260", "9", "8"], ["销售部", "450", "520", "20", "22"],
            ["行政部", "120", "130", "5", "5"]]  # fmt: skip
    t = table("table_zh_03", 63, h, rows, borders="rules", zh=True, groups=[("预算（万元）", 1, 2), ("人数", 3, 2)])
    add("table_zh_03", "销售部下半年的预算是多少万元？", "520", ["450", "520", "410", "260"], c, t, 63)
    add("table_zh_03", "哪个部门下半年的预算比上半年少？", "市场部", ["研发部", "市场部", "销售部", "行政部"], c, t, 63)
    h = ["姓名", "语文", "数学", "英语"]
    rows = [["张伟", "88", "92", "79"], ["李娜", "95", "", "90"], ["王芳", "76", "85", "93"], ["刘洋", "82", "97", "68"],
            ["陈静", "90", "74", "88"]]  # fmt: skip
    t = table("table_zh_04", 64, h, rows, borders="all", zh=True, size=20, title="期中成绩")
    add("table_zh_04", "谁的数学成绩最高？", "刘洋", ["张伟", "王芳", "刘洋", "陈静"], c, t, 64)
    add("table_zh_04", "英语成绩高于85分的有几人？", "3", ["2", "3", "4", "5"], c, t, 64)
    add("table_zh_04", "哪位同学缺少数学成绩？", "李娜", ["张伟", "李娜", "王芳", "陈静"], c, t, 64)


def make_tables_units() -> None:
    """Cells that carry their unit: 元, 万 (ten thousand), %."""
    c = "table_zh"
    h = ["商品", "价格", "月销量", "好评率"]
    rows = [["保温杯", "89元", "1.2万", "96%"], ["雨伞", "45元", "8600", "92%"], ["台灯", "129元", "2.5万", "98%"],
            ["背包", "199元", "9500", "89%"], ["水壶", "35元", "3.1万", "94%"]]  # fmt: skip
    t = table("table_zh_05", 65, h, rows, borders="all", zebra=True, zh=True, title="店铺商品数据")
    add("table_zh_05", "哪个商品的月销量最高？", "水壶", ["保温杯", "台灯", "水壶", "背包"], c, t, 65)
    add("table_zh_05", "价格超过100元的商品有几个？", "2", ["1", "2", "3", "4"], c, t, 65)
    add("table_zh_05", "好评率最低的是哪个商品？", "背包", ["雨伞", "背包", "水壶", "保温杯"], c, t, 65)


def main() -> None:
    (OUT / "images").mkdir(parents=True, exist_ok=True)
    if not Path(ZH_FONT).exists():
        raise SystemExit(f"{ZH_FONT} is missing: apt-get install fonts-wqy-zenhei")
    _zh_setup()
    make_bars()
    make_bars_zh()
    make_lines()
    make_lines_zh()
    make_tables()
    make_tables_zh()
    make_tables_units()
    with open(OUT / "items.jsonl", "w", encoding="utf-8") as f:
        for it in items:
            f.write(json.dumps(it, ensure_ascii=False) + "\n")
    print(f"{len(items)} items in {OUT / 'items.jsonl'}")


if __name__ == "__main__":
    main()
