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
