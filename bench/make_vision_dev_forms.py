"""Render a DEVELOPMENT set of filled-in forms (tune on this one, never on bench/data/vision_new).

Forms with groups of checkboxes (ticked with a drawn check mark, an X or a filled square) and
radio buttons (a filled dot in a circle) under a heading ("Payment method:", a bold "Room type",
"会员等级"), or with the heading on the options' own row; options in a row or in a column, the
label right of the mark (sometimes left of it); fields with a label left of a box or an underline,
or above a box, the value in another font and colour (names, dates, phone numbers, numbers).
Questions: which option is marked under a group, which option is NOT marked, what is written in a
field, how many boxes are ticked. English, and about a quarter in Chinese.

Writes ``<out>/images/*.png`` and ``<out>/items.jsonl`` (``{image, question, choices, answer,
category}``, category ``form`` or ``form_zh``). Deterministic (fixed seed), offline.

    python bench/make_vision_dev_forms.py [--out bench/data/vision_dev_forms]
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

DV = "/usr/share/fonts/truetype/dejavu/"
LABEL_FONTS = [DV + "DejaVuSans.ttf", DV + "DejaVuSerif.ttf", DV + "DejaVuSansCondensed.ttf"]
BOLD_FONTS = [DV + "DejaVuSans-Bold.ttf", DV + "DejaVuSerif-Bold.ttf", DV + "DejaVuSansCondensed-Bold.ttf"]
VALUE_FONTS = [DV + "DejaVuSerif-Italic.ttf", DV + "DejaVuSansMono.ttf", DV + "DejaVuSans-Oblique.ttf"]
ZH_FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"
INKS = ["#1a3a8f", "#0b5394", "#222222", "#1f4e3d"]
BORDERS = ["#222222", "#555555", "#3b5b92"]

GROUPS = {  # heading: options (the first four are the ones questions use)
    "Room type": ["Single", "Double", "Twin", "Suite"],
    "Payment method": ["Cash", "Credit card", "Bank transfer", "Cheque"],
    "Meal preference": ["Vegetarian", "Vegan", "Halal", "No preference"],
    "Extras": ["Breakfast", "Parking", "Late checkout", "Airport shuttle", "Spa access"],
    "Contact by": ["Email", "Phone", "Post", "Text message"],
    "Membership level": ["Basic", "Silver", "Gold", "Platinum"],
    "Interests": ["Sports", "Music", "Travel", "Reading", "Cooking"],
    "Seat preference": ["Window", "Aisle", "Middle"],
    "Delivery": ["Standard", "Express", "Pick up in store"],
    "Employment status": ["Employed", "Self-employed", "Student", "Retired"],
}
ZH_GROUPS = {
    "会员等级": ["普通会员", "银卡会员", "金卡会员", "钻石会员"],
    "支付方式": ["现金", "银行卡", "微信支付", "支付宝"],
    "房型": ["单人间", "双人间", "标准间", "套房"],
    "兴趣爱好": ["阅读", "旅行", "音乐", "运动", "摄影"],
    "配送方式": ["快递", "自提", "同城配送"],
    "学历": ["高中", "大专", "本科", "硕士"],
}
NAMES = ["Lena Park", "Omar Haddad", "Priya Nair", "Tom Becker", "Yuki Sato", "Carlos Ruiz", "Hana Novak",
         "Felix Wong", "Amara Obi", "Jonas Berg"]  # fmt: skip
DATES = ["13 June 2025", "02/09/2024", "2025-03-21", "28 Feb 2026", "11/11/2023", "7 July 2025", "2024-12-05"]
PHONES = ["0101 335 6537", "+44 20 7946 0958", "(555) 201-7788", "0612 448 903", "+1 415 555 0132", "020 8123 4567"]
CITIES = ["Lisbon", "Nairobi", "Osaka", "Toronto", "Porto", "Leeds", "Gdansk"]
FIELDS = {  # label: value pool
    "Full name": NAMES,
    "Guest name": NAMES,
    "Work phone": PHONES,
    "Mobile": PHONES,
    "Arrival date": DATES,
    "Departure date": DATES,
    "Date of birth": DATES,
    "Number of guests": ["2", "3", "4", "5", "6"],
    "Quantity": ["12", "25", "40", "8", "150"],
    "City": CITIES,
    "Postcode": ["LS1 4AP", "1100-148", "M5V 2T6", "80-001", "00100"],
    "Amount paid": ["€120.00", "€85.50", "€240.00", "€15.75", "€310.20"],
    "Email": ["lena.park@mail.com", "o.haddad@example.org", "pnair@post.net", "tbecker@web.de"],
}
ZH_NAMES = ["张伟", "李娜", "王强", "刘洋", "陈静", "杨帆", "赵磊"]
ZH_FIELDS = {
    "姓名": ZH_NAMES,
    "联系电话": ["138 0013 8000", "139 1234 5678", "021 6543 2100", "186 2200 3311"],
    "入住日期": ["2025年6月13日", "2024年9月2日", "2025年3月21日", "2026年1月8日"],
    "人数": ["2", "3", "4", "5"],
    "城市": ["上海", "北京", "广州", "成都", "杭州"],
    "金额": ["¥120.00", "¥85.50", "¥240.00", "¥36.80"],
}
NOUNS = {"Room type", "Payment method", "Meal preference", "Membership level", "Seat preference"}
TITLES = ["BOOKING FORM", "Registration Form", "Order Form", "Guest Registration", "Membership Application"]
ZH_TITLES = ["入住登记表", "会员申请表", "订单表"]


@dataclass
class Group:
    heading: str
    options: list[str]
    marked: list[str]
    kind: str  # "check" or "radio"


@dataclass
class Form:
    zh: bool
    groups: list[Group] = field(default_factory=list)
    fields: list[tuple[str, str]] = field(default_factory=list)


def font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def text_w(d: ImageDraw.ImageDraw, text: str, f) -> int:
    return int(d.textlength(text, font=f))


def draw_box(d, x: int, y: int, s: int, kind: str, style: str, marked: bool, colour: str, ink: str) -> None:
    """A checkbox or radio button of side ``s`` at (x, y), marked in ``style`` when ``marked``."""
    lw = 1 if s < 16 else 2
    if kind == "radio":
        d.ellipse([x, y, x + s, y + s], outline=colour, width=lw)
        if marked:
            r = max(3, s * 0.27)
            c = (x + s / 2, y + s / 2)
            d.ellipse([c[0] - r, c[1] - r, c[0] + r, c[1] + r], fill=ink)
        return
    d.rectangle([x, y, x + s, y + s], outline=colour, width=lw)
    if not marked:
        return
    w = max(2, s // 7)
    if style == "tick":  # a check mark that overflows the box to the top right
        d.line([(x + 0.18 * s, y + 0.5 * s), (x + 0.42 * s, y + 0.8 * s), (x + 1.05 * s, y - 0.2 * s)], fill=ink,
               width=w + 1, joint="curve")  # fmt: skip
    elif style == "x":
        m = max(3, s // 5)
        d.line([(x + m, y + m), (x + s - m, y + s - m)], fill=ink, width=w)
        d.line([(x + m, y + s - m), (x + s - m, y + m)], fill=ink, width=w)
    else:  # a filled square
        m = max(3, s // 5)
        d.rectangle([x + m, y + m, x + s - m, y + s - m], fill=ink)


def render(form: Form, rng: random.Random) -> Image.Image:
    W = rng.choice([720, 760, 820])
    img = Image.new("RGB", (W, 1400), rng.choice(["#ffffff", "#fbfbf7", "#f7f9fc"]))
    d = ImageDraw.Draw(img)
    size = rng.choice([16, 17, 18, 20])
    k = rng.randrange(3)
    lf = font(ZH_FONT if form.zh else LABEL_FONTS[k], size)
    bf = font(ZH_FONT if form.zh else BOLD_FONTS[k], size + 1)
    vf = font(ZH_FONT if form.zh else rng.choice(VALUE_FONTS), size + 1)
    border, ink = rng.choice(BORDERS), rng.choice(INKS)
    x0, y = 40, 28
    d.text((x0, y), rng.choice(ZH_TITLES if form.zh else TITLES), font=font(ZH_FONT if form.zh else BOLD_FONTS[k], 26),
           fill="#111111")  # fmt: skip
    y += 62
    s = int(size * rng.choice([0.85, 1.0, 1.15]))
    blocks = [("field", f) for f in form.fields] + [("group", g) for g in form.groups]
    rng.shuffle(blocks)
    field_style = rng.choice(["box_right", "underline_right", "box_below"])
    label_col = x0 + max(text_w(d, lab + ":", lf) for lab, _ in form.fields) + 24 if form.fields else 0
    for what, b in blocks:
        if what == "field":
            label, value = b
            lab = label + ("：" if form.zh else ":")
            if field_style == "box_below":
                d.text((x0, y), lab, font=lf, fill="#222222")
                y += size + 10
                bw, bh = rng.choice([320, 380, 440]), size + 18
                d.rectangle([x0, y, x0 + bw, y + bh], outline=border, width=1)
                d.text((x0 + 8, y + (bh - size) / 2 - 2), value, font=vf, fill=ink)
                y += bh + 22
            else:
                d.text((x0, y + 6), lab, font=lf, fill="#222222")
                bw, bh = min(W - label_col - 40, 400), size + 18
                if field_style == "box_right":
                    d.rectangle([label_col, y, label_col + bw, y + bh], outline=border, width=1)
                else:
                    d.line([(label_col, y + bh), (label_col + bw, y + bh)], fill=border, width=1)
                d.text((label_col + 8, y + (bh - size) / 2 - 2), value, font=vf, fill=ink)
                y += bh + 20
            continue
        g: Group = b
        style = rng.choice(["tick", "x", "fill"])
        layout = rng.choice(["row", "row", "column"])
        head = rng.choice(["colon", "bold", "inline"]) if layout == "row" else rng.choice(["colon", "bold"])
        left_label = rng.random() < 0.15 and layout == "row"
        colon = "：" if form.zh else ":"
        heading = g.heading + colon if head in ("colon", "inline") else g.heading
        hf = bf if head == "bold" else lf
        if head == "inline":
            d.text((x0, y), heading, font=hf, fill="#111111")
            x = x0 + text_w(d, heading, hf) + 22
        else:
            d.text((x0, y), heading, font=hf, fill="#111111")
            y += size + 14
            x = x0 + rng.choice([0, 20])
        gap = rng.choice([28, 40, 56])
        start_x = x
        for opt in g.options:
            tw = text_w(d, opt, lf)
            if layout == "row" and x + s + 10 + tw > W - 30:
                x, y = start_x, y + size + 16
            by = y + (size - s) // 2 + 3
            if left_label:
                d.text((x, y), opt, font=lf, fill="#222222")
                draw_box(d, x + tw + 10, by, s, g.kind, style, opt in g.marked, border, ink)
                step = tw + 10 + s + gap
            else:
                draw_box(d, x, by, s, g.kind, style, opt in g.marked, border, ink)
                d.text((x + s + 10, y), opt, font=lf, fill="#222222")
                step = s + 10 + tw + gap
            if layout == "row":
                x += step
            else:
                y += size + 16
        y += (size + 16 if layout == "row" else 0) + 18
    return img.crop((0, 0, W, min(1400, y + 20)))


def pick_choices(right: str, pool: list[str], rng: random.Random) -> tuple[list[str], int]:
    others = [p for p in dict.fromkeys(pool) if p != right]
    rng.shuffle(others)
    opts = [right, *others[:3]]
    rng.shuffle(opts)
    return opts, opts.index(right)


def questions(form: Form, rng: random.Random) -> tuple[list, list]:
    """(questions on the marks, questions on the fields), each ``(question, choices, answer, kind)``."""
    zh, out = form.zh, []
    all_marked = [o for g in form.groups for o in g.marked]
    for g in form.groups:
        h = g.heading
        if len(g.marked) == 1:
            pool = [*g.options, *[o for o in all_marked if o not in g.options]]
            en = [f"Which option is selected under “{h}”?", f"What has been chosen for “{h}”?"]
            if h in NOUNS:
                en.append(f"Which {h.lower()} is ticked on the form?")
            q = f"“{h}”下选中的是哪一项？" if zh else rng.choice(en)
            out.append((q, *pick_choices(g.marked[0], pool, rng), "select"))
        if len(g.marked) >= 3 and len(g.options) - len(g.marked) >= 1:
            right = rng.choice([o for o in g.options if o not in g.marked])
            opts = [right, *rng.sample(g.marked, 3)]
            rng.shuffle(opts)
            q = f"“{h}”中哪一项没有被勾选？" if zh else f"Which option is NOT ticked under “{h}”?"
            out.append((q, opts, opts.index(right), "not"))
        if g.kind == "check" and len(g.marked) >= 2:
            n = len(g.marked)
            nums = sorted({n, *rng.sample([x for x in range(0, 6) if x != n], 3)})
            opts = [str(v) for v in nums]
            q = f"“{h}”中有几个选项被勾选？" if zh else f"How many boxes are ticked under “{h}”?"
            out.append((q, opts, opts.index(str(n)), "count"))
    marks, out = out, []
    values = [v for _, v in form.fields]
    for label, value in form.fields:
        pool = (ZH_FIELDS if zh else FIELDS)[label]
        near = [v for v in values if v != value][:1]
        others = [p for p in pool if p != value and p not in near]
        rng.shuffle(others)
        opts = [value, *near, *others][:4]
        rng.shuffle(opts)
        q = (f"“{label}”一栏填写的是什么？" if zh else rng.choice([f"What has been filled in for “{label}”?",
             f"What is written in the “{label}” field?", f"What is the {label.lower()} given on the form?"]))  # fmt: skip
        out.append((q, opts, opts.index(value), "field"))
    return marks, out


def make_form(rng: random.Random, zh: bool) -> Form:
    groups, fields = (ZH_GROUPS, ZH_FIELDS) if zh else (GROUPS, FIELDS)
    form = Form(zh)
    for h in rng.sample(sorted(groups), rng.choice([1, 2, 2])):
        opts = groups[h][:]
        kind = rng.choice(["check", "radio"])
        if kind == "radio" or rng.random() < 0.4:
            marked = [rng.choice(opts)]
        else:
            marked = rng.sample(opts, rng.choice([2, 3, 3] if len(opts) >= 4 else [2]))
            marked = [o for o in opts if o in marked]
        form.groups.append(Group(h, opts, marked, kind))
    for label in rng.sample(sorted(fields), rng.choice([1, 2, 3])):
        form.fields.append((label, rng.choice(fields[label])))
    return form


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(Path(__file__).parent / "data" / "vision_dev_forms"))
    args = ap.parse_args()
    out = Path(args.out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rng = random.Random(20250613)
    items = []
    for i in range(14):
        zh = i % 4 == 3
        form = make_form(rng, zh)
        name = f"images/form{'_zh' if zh else ''}_{i:02d}.png"
        render(form, rng).save(out / name)
        marks, rest = questions(form, rng)  # questions on the marks first: they are what forms add
        want = 3 if zh else 2
        rng.shuffle(marks)
        prefer = ("select", "not", "count")[i % 3]  # the kinds of mark question in turn
        marks.sort(key=lambda q: q[3] != prefer)
        chosen = marks[: want - 1 if rest else want]
        chosen += rng.sample(rest, min(len(rest), want - len(chosen)))
        for q, choices, answer, *_ in chosen:
            items.append({"image": name, "question": q, "choices": choices, "answer": answer,
                          "category": "form_zh" if zh else "form"})  # fmt: skip
    (out / "items.jsonl").write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in items))
    print(f"{len(items)} items, {len({x['image'] for x in items})} images -> {out}")


if __name__ == "__main__":
    main()
