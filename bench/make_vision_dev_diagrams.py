"""Render a DEVELOPMENT set of labelled diagrams (tune on this one, never on bench/data/vision_new).

Org charts (lines or arrows, two or three levels), decision flowcharts (diamonds with Yes/No
branches), process chains (left to right, top to bottom, with arrows), cycles (arrows that do not
touch the boxes), timelines (years on an axis, events above or below) and layer stacks (bands
from top to bottom), in English and Chinese, with this file's own fonts, colours and sizes.

Writes ``<out>/images/*.png`` and ``<out>/items.jsonl`` (``{image, question, choices, answer,
category}``). Deterministic (fixed seed), offline.

    python bench/make_vision_dev_diagrams.py [--out bench/data/vision_dev_diagrams]
"""

from __future__ import annotations

import argparse
import json
import math
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONTS = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
]
ZH_FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
PEOPLE = ["Lena Park", "Omar Haddad", "Priya Nair", "Tom Becker", "Yuki Sato", "Carlos Ruiz", "Hana Novak",
          "Felix Wong", "Amara Obi", "Jonas Berg", "Rosa Lima", "Ivan Petrov", "Sara Klein", "Ben Adler"]  # fmt: skip
ZH_PEOPLE = ["张伟", "李娜", "王强", "刘洋", "陈静", "杨帆", "赵磊", "黄敏", "周杰", "吴婷"]
STAGES = ["Design", "Build", "Test", "Deploy", "Monitor", "Plan", "Review", "Ship", "Sketch", "Print", "Pack"]
ZH_STAGES = ["设计", "开发", "测试", "上线", "监控", "计划", "评审", "发货"]
FILLS = ["#ffffff", "#e8f1fb", "#fdf0e4", "#eaf7ea", "#f4ecfa", "#fffbe0"]
STROKES = ["#222222", "#3b5b92", "#2e7d32", "#8e2430", "#555555"]


def font(size: int, zh: bool = False, k: int = 0) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(ZH_FONT if zh else FONTS[k % len(FONTS)], size)


def centred(d: ImageDraw.ImageDraw, box, text: str, f, fill="#111111") -> None:
    x0, y0, x1, y1 = box
    w, h = d.textbbox((0, 0), text, font=f)[2:]
    d.text(((x0 + x1 - w) / 2, (y0 + y1 - h) / 2 - 2), text, font=f, fill=fill)


def arrow(d: ImageDraw.ImageDraw, a, b, colour, width=2, head=10) -> None:
    d.line([a, b], fill=colour, width=width)
    ang = math.atan2(b[1] - a[1], b[0] - a[0])
    p1 = (b[0] - head * math.cos(ang - 0.45), b[1] - head * math.sin(ang - 0.45))
    p2 = (b[0] - head * math.cos(ang + 0.45), b[1] - head * math.sin(ang + 0.45))
    d.polygon([b, p1, p2], fill=colour)


def choices_of(right: str, pool: list[str], rng: random.Random) -> tuple[list[str], int]:
    others = [p for p in dict.fromkeys(pool) if p != right]
    rng.shuffle(others)
    opts = [right, *others[:3]]
    rng.shuffle(opts)
    return opts, opts.index(right)


def org_chart(rng: random.Random, zh: bool, arrows: bool):
    names = rng.sample(ZH_PEOPLE if zh else PEOPLE, 1 + 3 + 4)
    top, mids, leaves = names[0], names[1:4], names[4:]
    n_mid = rng.choice([2, 3])
    mids = mids[:n_mid]
    kids = {m: [] for m in mids}
    for leaf in leaves:
        kids[rng.choice(mids)].append(leaf)
    W, H = rng.choice([(820, 380), (900, 420), (760, 400)])
    img = Image.new("RGB", (W, H), rng.choice(["#ffffff", "#fbfbf7"]))
    d = ImageDraw.Draw(img)
    stroke, fill, f = rng.choice(STROKES), rng.choice(FILLS), font(rng.choice([15, 16, 17]), zh, rng.randrange(3))
    bw, bh = 150, 44
    ys = [30, 160, 290]
    pos = {top: (W / 2, ys[0])}
    for i, m in enumerate(mids):
        pos[m] = ((i + 0.5) * W / n_mid, ys[1])
    leaf_list = [leaf for m in mids for leaf in kids[m]]
    for i, leaf in enumerate(leaf_list):
        pos[leaf] = ((i + 0.5) * W / max(1, len(leaf_list)), ys[2])

    def box(n):
        cx, y = pos[n]
        return (cx - bw / 2, y, cx + bw / 2, y + bh)

    def link(p, cs):
        px, py = pos[p]
        if arrows:
            for c in cs:
                cx, cy = pos[c]
                arrow(d, (px, py + bh), (cx, cy - 2), stroke)
            return
        mid = (py + bh + pos[cs[0]][1]) / 2
        d.line([(px, py + bh), (px, mid)], fill=stroke, width=2)
        xs = [pos[c][0] for c in cs] + [px]
        d.line([(min(xs), mid), (max(xs), mid)], fill=stroke, width=2)
        for c in cs:
            d.line([(pos[c][0], mid), (pos[c][0], pos[c][1])], fill=stroke, width=2)

    link(top, mids)
    for m in mids:
        if kids[m]:
            link(m, kids[m])
    for n in pos:
        d.rounded_rectangle(box(n), radius=rng.choice([0, 6, 10]), fill=fill, outline=stroke, width=2)
        centred(d, box(n), n, f)
    items = []
    leaf = rng.choice(leaf_list)
    boss = next(m for m in mids if leaf in kids[m])
    q = f"{leaf}的直接上级是谁？" if zh else rng.choice(
        [f"Who does {leaf} report to directly?", f"In this chart, who is {leaf}'s immediate manager?"])  # fmt: skip
    items.append((q, boss, names))
    m = rng.choice([m for m in mids if kids[m]])
    q = f"{m}的上级是谁？" if zh else f"Who is directly above {m} in the organisation chart?"
    items.append((q, top, names))
    return img, items


def flowchart(rng: random.Random, zh: bool):
    yes, no = ("是", "否") if zh else ("Yes", "No")
    qs = (
        ["已付款？", "有库存？", "需要发票？"] if zh else ["Paid already?", "In stock?", "Needs invoice?", "Signed in?"]
    )
    ends = (["发货", "退款", "补货", "联系客户", "开具发票"] if zh else
            ["Ship order", "Refund", "Restock", "Call customer", "Send invoice", "Show login"])  # fmt: skip
    q1, q2 = rng.sample(qs, 2)
    e = rng.sample(ends, 3)
    W, H = 720, 640
    img = Image.new("RGB", (W, H), "#ffffff")
    d = ImageDraw.Draw(img)
    stroke, f = rng.choice(STROKES), font(16, zh, rng.randrange(3))
    lf = font(15, zh, 1)
    side = rng.choice(["yes", "no"])  # which answer goes to the side at the first decision
    cx = 250

    def diamond(cy, text):
        pts = [(cx, cy - 60), (cx + 120, cy), (cx, cy + 60), (cx - 120, cy)]
        d.polygon(pts, fill=rng.choice(FILLS[1:]), outline=stroke)
        centred(d, (cx - 100, cy - 20, cx + 100, cy + 20), text, f)

    def rect(box, text):
        d.rectangle(box, fill="#f2f2f2", outline=stroke, width=2)
        centred(d, box, text, f)

    rect((cx - 70, 20, cx + 70, 64), "开始" if zh else "Start")
    arrow(d, (cx, 64), (cx, 128), stroke)
    diamond(190, q1)
    diamond(420, q2)
    rect((500, 166, 690, 214), e[0])
    rect((500, 396, 690, 444), e[1])
    rect((cx - 95, 560, cx + 95, 608), e[2])
    s1, d1 = (yes, no) if side == "yes" else (no, yes)
    arrow(d, (cx + 120, 190), (498, 190), stroke)
    d.text((cx + 140, 160), s1, font=lf, fill="#b00020")
    arrow(d, (cx, 250), (cx, 358), stroke)
    d.text((cx + 10, 280), d1, font=lf, fill="#b00020")
    s2, d2 = rng.choice([(yes, no), (no, yes)])
    arrow(d, (cx + 120, 420), (498, 420), stroke)
    d.text((cx + 140, 390), s2, font=lf, fill="#b00020")
    arrow(d, (cx, 480), (cx, 558), stroke)
    d.text((cx + 10, 500), d2, font=lf, fill="#b00020")
    items = []
    if zh:
        items.append((f"如果“{q1}”的回答是{s1}，结果是什么？", e[0], e))
        items.append((f"如果“{q1}”的回答是{d1}，并且“{q2}”的回答是{d2}，结果是什么？", e[2], e))
    else:
        items.append((f"In the flowchart, what happens if the answer to “{q1}” is {s1}?", e[0], e))
        items.append((f"What is the result when “{q1}” is answered {d1} and “{q2}” is answered {s2}?", e[1], e))
    return img, items


def chain(rng: random.Random, zh: bool):
    steps = rng.sample(ZH_STAGES if zh else STAGES, 5)
    W, H = (960, 200) if rng.random() < 0.6 else (260, 700)
    horizontal = W > H
    img = Image.new("RGB", (W, H), rng.choice(["#ffffff", "#f7f9fc"]))
    d = ImageDraw.Draw(img)
    stroke, f = rng.choice(STROKES), font(17, zh, rng.randrange(3))
    boxes = []
    for i in range(5):
        if horizontal:
            b = (20 + i * 190, 70, 20 + i * 190 + 130, 130)
        else:
            b = (40, 20 + i * 140, 220, 20 + i * 140 + 70)
        boxes.append(b)
    order = list(range(5))
    if rng.random() < 0.4:  # drawn in reverse: arrows point from right to left / bottom to top
        order = order[::-1]
    for a, b in zip(order, order[1:], strict=False):
        ba, bb = boxes[a], boxes[b]
        if horizontal:
            y = (ba[1] + ba[3]) / 2
            (x0, x1) = (ba[2], bb[0] - 2) if bb[0] > ba[0] else (ba[0], bb[2] + 2)
            arrow(d, (x0, y), (x1, y), stroke)
        else:
            x = (ba[0] + ba[2]) / 2
            (y0, y1) = (ba[3], bb[1] - 2) if bb[1] > ba[1] else (ba[1], bb[3] + 2)
            arrow(d, (x, y0), (x, y1), stroke)
    for i, b in enumerate(boxes):
        d.rounded_rectangle(b, radius=8, fill=rng.choice(FILLS), outline=stroke, width=2)
        centred(d, b, steps[i], f)
    seq = [steps[i] for i in order]
    k = rng.randrange(4)
    q = f"按照箭头，“{seq[k]}”之后是哪一步？" if zh else rng.choice(
        [f"Following the arrows, what comes right after {seq[k]}?", f"Which step follows “{seq[k]}”?"])  # fmt: skip
    return img, [(q, seq[k + 1], steps)]


def cycle(rng: random.Random, zh: bool):
    steps = rng.sample(ZH_STAGES if zh else STAGES, rng.choice([4, 5, 6]))
    n = len(steps)
    W = H = rng.choice([600, 680])
    img = Image.new("RGB", (W, H), "#ffffff")
    d = ImageDraw.Draw(img)
    stroke, f = rng.choice(STROKES), font(16, zh, rng.randrange(3))
    R = W * 0.34
    cx, cy = W / 2, H / 2 + 10
    clockwise = rng.random() < 0.6
    angs = [(-90 + (i * 360 / n) * (1 if clockwise else -1)) for i in range(n)]
    pts = [(cx + R * math.cos(math.radians(a)), cy + R * math.sin(math.radians(a))) for a in angs]
    for i in range(n):
        a0, a1 = angs[i], angs[(i + 1) % n]
        if not clockwise and a1 > a0:
            a1 -= 360
        if clockwise and a1 < a0:
            a1 += 360
        s, e = a0 + (a1 - a0) * 0.3, a0 + (a1 - a0) * 0.7
        arc = [(cx + R * math.cos(math.radians(s + (e - s) * t / 20)), cy + R * math.sin(math.radians(s + (e - s) * t / 20)))
               for t in range(21)]  # fmt: skip
        d.line(arc[:-2], fill=stroke, width=3)
        arrow(d, arc[-3], arc[-1], stroke, width=3, head=13)
    for p, s in zip(pts, steps, strict=True):
        b = (p[0] - 70, p[1] - 24, p[0] + 70, p[1] + 24)
        d.rounded_rectangle(b, radius=20, fill="#ffffff", outline=stroke, width=2)
        centred(d, b, s, f)
    d.text((20, 10), "循环" if zh else "The cycle", font=font(20, zh, 1), fill="#000000")
    k = rng.randrange(n)
    q = (
        f"按箭头方向，“{steps[k]}”之后是哪一步？"
        if zh
        else f"Following the arrows, which stage comes after {steps[k]}?"
    )
    return img, [(q, steps[(k + 1) % n], steps)]


EVENTS = ["Bridge opened", "Library built", "Town hall fire", "Railway arrived", "Park laid out", "Market founded",
          "School opened", "Flood", "Tram closed", "Museum opened"]  # fmt: skip
ZH_EVENTS = ["大桥通车", "图书馆建成", "火车站启用", "公园开放", "学校成立", "博物馆开馆"]


def timeline(rng: random.Random, zh: bool):
    n = rng.choice([4, 5, 6])
    years = sorted(rng.sample(range(1850, 2020), n))
    ev = rng.sample(ZH_EVENTS if zh else EVENTS, n)
    W, H = 940, 300
    img = Image.new("RGB", (W, H), "#ffffff")
    d = ImageDraw.Draw(img)
    stroke, f = rng.choice(STROKES), font(15, zh, rng.randrange(3))
    y = 150
    d.line([(30, y), (W - 30, y)], fill=stroke, width=3)
    for i, (yr, e) in enumerate(zip(years, ev, strict=True)):
        x = 80 + i * (W - 160) / (n - 1)
        d.ellipse((x - 6, y - 6, x + 6, y + 6), fill=stroke)
        up = i % 2 == 0 if rng.random() < 0.5 else True
        centred(d, (x - 40, y + 12, x + 40, y + 36), str(yr), font(15, False, 1))
        centred(d, (x - 80, y - 60 if up else y + 40, x + 80, y - 30 if up else y + 70), e, f)
    k = rng.randrange(n)
    q = f"根据时间轴，{years[k]}年发生了什么？" if zh else f"Which event on the timeline is dated {years[k]}?"
    return img, [(q, ev[k], ev)]


LAYERS = ["Topsoil", "Subsoil", "Clay", "Sand", "Gravel", "Limestone", "Bedrock", "Chalk"]
ZH_LAYERS = ["表土", "心土", "黏土", "砂层", "砾石", "石灰岩", "基岩"]


def layers(rng: random.Random, zh: bool):
    n = rng.choice([4, 5])
    names = rng.sample(ZH_LAYERS if zh else LAYERS, n)
    W, H = 560, 80 + n * 80
    img = Image.new("RGB", (W, H), "#ffffff")
    d = ImageDraw.Draw(img)
    cols = rng.sample(["#c8a27a", "#a7794f", "#d9c9a3", "#9e9e9e", "#7d6b5d", "#e3d5b8", "#b5c99a"], n)
    f = font(17, zh, rng.randrange(3))
    for i, (nm, c) in enumerate(zip(names, cols, strict=True)):
        b = (60, 50 + i * 80, W - 60, 50 + (i + 1) * 80)
        d.rectangle(b, fill=c, outline="#333333" if rng.random() < 0.5 else c)
        centred(d, b, nm, f)
    d.text((60, 12), "土层剖面" if zh else "Soil profile", font=font(18, zh, 1), fill="#000000")
    k = rng.randrange(n - 1)
    if rng.random() < 0.5:
        q = f"“{names[k]}”正下方是哪一层？" if zh else f"Which layer is directly beneath the {names[k].lower()}?"
        return img, [(q, names[k + 1], names)]
    q = f"“{names[k + 1]}”正上方是哪一层？" if zh else f"Which layer lies just above the {names[k + 1].lower()}?"
    return img, [(q, names[k], names)]


KINDS = [
    ("org", lambda r, zh: org_chart(r, zh, arrows=False)),
    ("org_arrows", lambda r, zh: org_chart(r, zh, arrows=True)),
    ("flow", flowchart),
    ("chain", chain),
    ("cycle", cycle),
    ("timeline", timeline),
    ("layers", layers),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("bench/data/vision_dev_diagrams"))
    ap.add_argument("--per-kind", type=int, default=4)
    args = ap.parse_args()
    rng = random.Random(20261207)
    (args.out / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for kind, make in KINDS:
        for i in range(args.per_kind):
            zh = i == args.per_kind - 1
            img, items = make(rng, zh)
            name = f"images/{kind}_{i}.png"
            img.save(args.out / name)
            for q, right, pool in items:
                opts, ans = choices_of(right, pool, rng)
                rows.append({"image": name, "question": q, "choices": opts, "answer": ans,
                             "category": "diagram_zh" if zh else "diagram", "kind": kind})  # fmt: skip
    with open(args.out / "items.jsonl", "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} items to {args.out}")


if __name__ == "__main__":
    main()
