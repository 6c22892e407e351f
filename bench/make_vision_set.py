"""Render the vision development set: images with known answers, in the ScienceQA item shape.

Writes ``bench/data/vision/images/*.png`` and ``bench/data/vision/items.jsonl`` with one
``{image, question, choices, answer, category}`` per line (``answer`` is the index
of the right choice). Deterministic (fixed seeds). Chinese items need a CJK font:
``apt-get install fonts-wqy-zenhei``.

    python bench/make_vision_set.py [--per-category 3]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

OUT = Path(__file__).resolve().parent / "data" / "vision"
EN_FONT = font_manager.findfont("DejaVu Sans")
ZH_FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"


def font(size: int, zh: bool = False) -> ImageFont.FreeTypeFont:
    path = ZH_FONT if zh else EN_FONT
    if zh and not Path(path).exists():
        raise SystemExit(f"{path} is missing: apt-get install fonts-wqy-zenhei")
    return ImageFont.truetype(path, size)


def canvas(w: int, h: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    img = Image.new("RGB", (w, h), "white")
    return img, ImageDraw.Draw(img)


def options(rng: random.Random, right, wrong: list) -> tuple[list[str], int]:
    picks = [str(right)] + [str(w) for w in wrong if str(w) != str(right)][:3]
    rng.shuffle(picks)
    return picks, picks.index(str(right))


def bar_chart(rng, i, zh=False):
    names = ["苹果", "香蕉", "橙子", "葡萄", "西瓜"] if zh else ["Apples", "Bananas", "Cherries", "Dates", "Figs"]
    vals = rng.sample(range(10, 95), 5)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    fp = font_manager.FontProperties(fname=ZH_FONT) if zh else None
    ax.bar(names, vals, color="#4a7bd0")
    for x, v in enumerate(vals):
        ax.text(x, v + 1, str(v), ha="center", fontsize=11)
    ax.set_title("水果销量" if zh else "Fruit sales", fontproperties=fp)
    if zh:
        ax.set_xticks(range(5), names, fontproperties=fp)
    path = OUT / "images" / f"bar{'_zh' if zh else ''}_{i}.png"
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    top = names[vals.index(max(vals))]
    if i % 2 == 0:
        q = "哪种水果的销量最高？" if zh else "Which fruit has the highest sales?"
        ch, a = options(rng, top, [n for n in names if n != top])
    else:
        k = rng.randrange(5)
        q = f"{names[k]}的销量是多少？" if zh else f"What is the value for {names[k]}?"
        ch, a = options(rng, vals[k], [v for v in vals if v != vals[k]])
    return path, q, ch, a


def line_chart(rng, i):
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun"]
    vals = [rng.randint(20, 80) for _ in months]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(months, vals, marker="o")
    for x, v in enumerate(vals):
        ax.annotate(str(v), (x, v), textcoords="offset points", xytext=(0, 6), ha="center")
    ax.set_title("Visitors per month")
    path = OUT / "images" / f"line_{i}.png"
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    best = months[vals.index(max(vals))]
    ch, a = options(rng, best, [m for m in months if m != best])
    return path, "In which month were there the most visitors?", ch, a


def table(rng, i, zh=False):
    people = ["王伟", "李娜", "张敏", "刘洋"] if zh else ["Alice Moore", "Bilal Khan", "Chen Wei", "Dana Ortiz"]
    depts = ["销售", "财务", "研发", "人事"] if zh else ["Sales", "Finance", "R&D", "HR"]
    pay = rng.sample(range(3100, 9900, 50), 4)
    img, d = canvas(620, 60 + 44 * 5)
    f = font(20, zh)
    head = ["姓名", "部门", "工资"] if zh else ["Name", "Department", "Salary"]
    xs = [20, 250, 450]
    for x, h in zip(xs, head, strict=True):
        d.text((x, 20), h, fill="black", font=font(22, zh))
    d.line((10, 55, 610, 55), fill="black", width=2)
    for r in range(4):
        y = 70 + 44 * r
        for x, v in zip(xs, [people[r], depts[r], str(pay[r])], strict=True):
            d.text((x, y), v, fill="black", font=f)
    path = OUT / "images" / f"table{'_zh' if zh else ''}_{i}.png"
    img.save(path)
    k = rng.randrange(4)
    q = f"{people[k]}的工资是多少？" if zh else f"What is the salary of {people[k]}?"
    ch, a = options(rng, pay[k], [p for p in pay if p != pay[k]])
    return path, q, ch, a


def receipt(rng, i, zh=False):
    items = ["咖啡", "面包", "牛奶", "鸡蛋"] if zh else ["Coffee", "Bread", "Milk", "Eggs"]
    prices = [round(rng.uniform(1, 9), 2) for _ in items]
    total = round(sum(prices), 2)
    img, d = canvas(420, 330)
    d.text((120, 15), "超市小票" if zh else "CORNER SHOP", fill="black", font=font(24, zh))
    for r, (it, p) in enumerate(zip(items, prices, strict=True)):
        d.text((30, 70 + 36 * r), it, fill="black", font=font(20, zh))
        d.text((300, 70 + 36 * r), f"{p:.2f}", fill="black", font=font(20, zh))
    d.line((20, 225, 400, 225), fill="black", width=2)
    d.text((30, 240), "合计" if zh else "TOTAL", fill="black", font=font(22, zh))
    d.text((300, 240), f"{total:.2f}", fill="black", font=font(22, zh))
    path = OUT / "images" / f"receipt{'_zh' if zh else ''}_{i}.png"
    img.save(path)
    wrong = [f"{total + 1:.2f}", f"{max(prices):.2f}", f"{total - min(prices):.2f}"]
    ch, a = options(rng, f"{total:.2f}", wrong)
    return path, ("小票上的合计金额是多少？" if zh else "What is the total on the receipt?"), ch, a


def sign(rng, i, zh=False):
    limit = rng.choice([30, 40, 50, 60, 80])
    img, d = canvas(360, 360)
    d.ellipse((30, 30, 330, 330), fill="white", outline=(200, 30, 30), width=28)
    d.text((110 if limit < 100 else 90, 120), str(limit), fill="black", font=font(110))
    d.text((120, 300), "限速" if zh else "km/h", fill="black", font=font(26, zh))
    path = OUT / "images" / f"sign{'_zh' if zh else ''}_{i}.png"
    img.save(path)
    ch, a = options(rng, limit, [30, 40, 50, 60, 80, 100])
    return path, ("这个标志的限速是多少？" if zh else "What speed limit does the sign show?"), ch, a


def form(rng, i):
    city = rng.choice(["Lisbon", "Nairobi", "Osaka", "Toronto", "Berlin"])
    name = rng.choice(["Maria Silva", "John Otieno", "Kenji Sato"])
    img, d = canvas(560, 260)
    d.text((20, 15), "APPLICATION FORM", fill="black", font=font(24))
    for r, (k, v) in enumerate([("Name:", name), ("Date of birth:", "1990-04-12"), ("City:", city)]):
        d.text((20, 70 + 55 * r), k, fill="black", font=font(20))
        d.rectangle((200, 62 + 55 * r, 540, 100 + 55 * r), outline="black", width=2)
        d.text((210, 70 + 55 * r), v, fill="black", font=font(20))
    path = OUT / "images" / f"form_{i}.png"
    img.save(path)
    ch, a = options(rng, city, ["Lisbon", "Nairobi", "Osaka", "Toronto", "Berlin"])
    return path, "Which city is written in the form?", ch, a


def diagram(rng, i):
    steps = rng.sample(["Draft", "Review", "Approve", "Publish", "Archive", "Test"], 4)
    img, d = canvas(760, 160)
    for k, s in enumerate(steps):
        x = 20 + 185 * k
        d.rectangle((x, 50, x + 140, 110), outline=(40, 90, 220), width=3)
        d.text((x + 18, 68), s, fill="black", font=font(20))
        if k < 3:
            d.line((x + 140, 80, x + 185, 80), fill="black", width=3)
            d.polygon([(x + 185, 80), (x + 175, 74), (x + 175, 86)], fill="black")
    path = OUT / "images" / f"diagram_{i}.png"
    img.save(path)
    k = rng.randrange(3)
    ch, a = options(rng, steps[k + 1], [s for s in steps if s != steps[k + 1]])
    return path, f"In the flow diagram, which step comes right after '{steps[k]}'?", ch, a


def count_red(rng, i):
    n = rng.randint(2, 6)
    img, d = canvas(400, 300)
    spots = rng.sample([(x, y) for x in range(40, 360, 70) for y in range(40, 260, 70)], n + 3)
    for k, (x, y) in enumerate(spots):
        d.ellipse((x - 22, y - 22, x + 22, y + 22), fill=(220, 30, 30) if k < n else (40, 90, 220))
    path = OUT / "images" / f"count_red_{i}.png"
    img.save(path)
    ch, a = options(rng, n, [n - 1, n + 1, n + 2])
    return path, "How many red circles are in the image?", ch, a


def left_of_square(rng, i):
    shapes = ["circle", "triangle", "square", "diamond"]
    rng.shuffle(shapes)
    while shapes.index("square") == 0:
        rng.shuffle(shapes)
    img, d = canvas(560, 180)
    for k, s in enumerate(shapes):
        x, y = 70 + 140 * k, 90
        if s == "circle":
            d.ellipse((x - 40, y - 40, x + 40, y + 40), fill=(50, 160, 60))
        elif s == "square":
            d.rectangle((x - 40, y - 40, x + 40, y + 40), fill=(50, 160, 60))
        elif s == "triangle":
            d.polygon([(x, y - 45), (x - 45, y + 40), (x + 45, y + 40)], fill=(50, 160, 60))
        else:
            d.polygon([(x, y - 45), (x + 45, y), (x, y + 45), (x - 45, y)], fill=(50, 160, 60))
    path = OUT / "images" / f"left_of_square_{i}.png"
    img.save(path)
    right = shapes[shapes.index("square") - 1]
    ch, a = options(rng, right, [s for s in shapes if s not in (right, "square")] + ["square"])
    return path, "Which shape is directly to the left of the square?", ch, a


MAKERS = {
    "bar_chart": lambda r, i: bar_chart(r, i),
    "line_chart": line_chart,
    "table": lambda r, i: table(r, i),
    "receipt": lambda r, i: receipt(r, i),
    "sign": lambda r, i: sign(r, i),
    "form": form,
    "diagram": diagram,
    "bar_chart_zh": lambda r, i: bar_chart(r, i, zh=True),
    "table_zh": lambda r, i: table(r, i, zh=True),
    "receipt_zh": lambda r, i: receipt(r, i, zh=True),
    "sign_zh": lambda r, i: sign(r, i, zh=True),
    "perception_count": count_red,
    "perception_spatial": left_of_square,
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-category", type=int, default=3)
    args = ap.parse_args()
    (OUT / "images").mkdir(parents=True, exist_ok=True)
    items = []
    for cat, make in MAKERS.items():
        for i in range(args.per_category):
            rng = random.Random(f"{cat}-{i}")
            path, q, ch, a = make(rng, i)
            items.append({"image": f"images/{path.name}", "question": q, "choices": ch, "answer": a, "category": cat})
    with open(OUT / "items.jsonl", "w", encoding="utf-8") as f:
        for it in items:
            f.write(json.dumps(it, ensure_ascii=False) + "\n")
    print(f"wrote {len(items)} items to {OUT / 'items.jsonl'}")


if __name__ == "__main__":
    main()
