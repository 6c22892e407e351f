"""Charts drawn with matplotlib whose true values are known: the development cases of
``vision/chart.py`` and ``vision/grid.py`` (the held-out set in ``bench/data/vision_new`` is never
used for development)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

ZH_FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def vertical_bars(path: Path, labels: str = "all") -> tuple[Path, dict]:
    """One series; value labels on every bar, on some (``some``) or on none (``none``)."""
    cats = ["North", "South", "East", "West", "Centre"]
    vals = [34.0, 71.0, 52.0, 18.0, 63.0]
    fig, ax = plt.subplots(figsize=(6.4, 4), dpi=100)
    ax.bar(cats, vals, color="#d0704a")
    for x, v in enumerate(vals):
        if labels == "all" or (labels == "some" and x % 2 == 0):
            ax.text(x, v + 1, f"{v:g}", ha="center")
    ax.set_ylabel("Units")
    ax.set_title("Sales by region")
    return _save(fig, path), {"categories": cats, "series": {"": vals}}


def horizontal_bars(path: Path) -> tuple[Path, dict]:
    cats = ["Oslo", "Lima", "Perth", "Quito"]
    vals = [420.0, 910.0, 655.0, 240.0]
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=110)
    ax.barh(cats, vals, color="#3a9a5b")
    ax.set_xlabel("Passengers (thousands)")
    ax.grid(axis="x", color="#cccccc")
    ax.set_axisbelow(True)
    return _save(fig, path), {"categories": cats, "series": {"": vals}}


def grouped_bars(path: Path) -> tuple[Path, dict]:
    cats = ["2021", "2022", "2023"]
    series = {"Tea": [12.0, 18.0, 25.0], "Coffee": [30.0, 22.0, 16.0]}
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for k, (name, vals) in enumerate(series.items()):
        ax.bar([x + (k - 0.5) * 0.38 for x in range(3)], vals, width=0.38, label=name,
               color=["#2ca02c", "#9467bd"][k])  # fmt: skip
    ax.set_xticks(range(3), cats)
    ax.legend(loc="upper right")
    return _save(fig, path), {"categories": cats, "series": series}


def stacked_bars(path: Path) -> tuple[Path, dict]:
    cats = ["Q1", "Q2", "Q3", "Q4"]
    series = {"Online": [20.0, 35.0, 15.0, 40.0], "Store": [30.0, 10.0, 45.0, 25.0]}
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    bottom = [0.0] * 4
    for name, colour in zip(series, ["#1f77b4", "#ff7f0e"], strict=True):
        ax.bar(cats, series[name], bottom=bottom, label=name, color=colour)
        bottom = [b + v for b, v in zip(bottom, series[name], strict=True)]
    ax.legend(loc="upper left")
    return _save(fig, path), {"categories": cats, "series": series, "stacked": True}


def lines(path: Path) -> tuple[Path, dict]:
    cats = ["Jan", "Feb", "Mar", "Apr", "May", "Jun"]
    series = {"Rome": [12.0, 14.0, 17.0, 21.0, 25.0, 29.0], "Bergen": [3.0, 4.0, 6.0, 9.0, 13.0, 16.0]}
    fig, ax = plt.subplots(figsize=(6.4, 4), dpi=100)
    ax.plot(cats, series["Rome"], color="#d62728", linestyle="--", label="Rome")
    ax.plot(cats, series["Bergen"], color="#1f77b4", marker="o", label="Bergen")
    ax.set_ylim(0, 32)
    ax.legend(loc="lower right")
    ax.set_title("Mean temperature")
    return _save(fig, path), {"categories": cats, "series": series}


def zh_bars(path: Path) -> tuple[Path, dict]:
    cats = ["北京", "上海", "广州", "深圳"]
    vals = [150.0, 90.0, 210.0, 60.0]
    fp = font_manager.FontProperties(fname=ZH_FONT)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.bar(range(4), vals, color="#17becf")
    ax.set_xticks(range(4), cats, fontproperties=fp)
    ax.set_title("门店数量", fontproperties=fp)
    return _save(fig, path), {"categories": cats, "series": {"": vals}}


def table_image(path: Path) -> tuple[Path, dict]:
    """A table with a merged header over two columns and one empty cell."""
    font = ImageFont.truetype(font_manager.findfont("DejaVu Sans"), 18)
    img = Image.new("RGB", (640, 260), "white")
    d = ImageDraw.Draw(img)
    d.text((318, 10), "Score", fill="black", font=font)
    d.line((220, 34, 470, 34), fill="black")
    head = ["Team", "Home", "Away", "Coach"]
    xs = [20, 220, 360, 500]
    for x, h in zip(xs, head, strict=True):
        d.text((x, 42), h, fill="black", font=font)
    d.line((10, 70, 630, 70), fill="black", width=2)
    rows = [["Falcons", "12", "7", "Ito"], ["Rovers", "9", "", "Berg"], ["Comets", "15", "11", "Diaz"]]
    for r, row in enumerate(rows):
        for x, v in zip(xs, row, strict=True):
            if v:
                d.text((x, 84 + 40 * r), v, fill="black", font=font)
    img.save(path)
    return path, {"header": ["Team", "Score Home", "Score Away", "Coach"], "rows": rows}


def variety(path: Path, seed: int) -> tuple[Path, dict]:
    """A chart drawn with random style choices (the reader's own development cases): bar or line,
    vertical or horizontal, 1-3 series, stacked or grouped, legend placement, labels on some bars,
    rotated ticks, gridlines, hidden spines, axis ranges not starting at 0 for lines."""
    import random

    rng = random.Random(seed)
    kind = rng.choice(["bar", "bar", "line"])
    n_series = rng.choice([1, 1, 2, 3])
    pool = ["Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot", "Golf"]
    if rng.random() < 0.3:
        pool = [str(y) for y in range(2015, 2024)]
    cats = pool[: rng.randint(3, 6)]
    names = ["Solar", "Wind", "Hydro"][:n_series]
    colours = rng.sample(["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#17becf", "#444444"], 3)
    scale = rng.choice([1, 10, 100, 1000, 0.01])
    lo = rng.choice([0, 0, 20]) if kind == "line" else 0
    series = {s: [round(scale * rng.uniform(lo + 5, 95), 2 if scale < 1 else 1) for _ in cats] for s in names}
    fig, ax = plt.subplots(figsize=(rng.uniform(5.5, 8), rng.uniform(3.5, 5)), dpi=rng.choice([90, 100, 120]))
    horizontal = kind == "bar" and rng.random() < 0.35
    stacked = kind == "bar" and n_series > 1 and rng.random() < 0.5
    if kind == "bar":
        width = 0.8 / (1 if stacked else n_series)
        base = [0.0] * len(cats)
        for k, s in enumerate(names):
            pos = [x + (0 if stacked else (k - (n_series - 1) / 2) * width) for x in range(len(cats))]
            draw = ax.barh if horizontal else ax.bar
            kw = {"left": base} if horizontal else {"bottom": base}
            bars = draw(pos, series[s], width if not horizontal else width, label=s, color=colours[k],
                        **(kw if stacked else {}))  # fmt: skip
            if rng.random() < 0.4 and not stacked:
                ax.bar_label(bars, fmt="%g", padding=2, fontsize=8)
            if stacked:
                base = [b + v for b, v in zip(base, series[s], strict=True)]
        (ax.set_yticks if horizontal else ax.set_xticks)(range(len(cats)), cats)
    else:
        styles = ["-", "--", ":"]
        rng.shuffle(styles)
        for k, s in enumerate(names):
            ax.plot(cats, series[s], linestyle=styles[k], color=colours[k], label=s,
                    marker=rng.choice([None, "o", "s"]), linewidth=rng.choice([1.5, 2]))  # fmt: skip
        if lo:
            ax.set_ylim(scale * lo, scale * 100)
    if rng.random() < 0.4:
        ax.grid(axis="x" if horizontal else "y", color="#dddddd")
        ax.set_axisbelow(True)
    if rng.random() < 0.4:
        ax.spines[["top", "right"]].set_visible(False)
    if n_series > 1:
        where = rng.choice(["best", "outside right", "below"])
        if where == "best":
            ax.legend(loc="best")
        elif where == "outside right":
            ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
        else:
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=n_series)
    if not horizontal and rng.random() < 0.3:
        ax.tick_params(axis="x", labelrotation=30)
    ax.set_title(rng.choice(["Energy mix", "Output by site", ""]))
    return _save(fig, path), {"kind": kind, "categories": cats, "series": series, "stacked": stacked,
                              "horizontal": horizontal}  # fmt: skip
