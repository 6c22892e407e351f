"""Render the shape-reading development set: flat-colour drawn scenes with known answers.

Writes ``bench/data/vision_dev_shapes/images/*.png``, ``items.jsonl`` (one ``{image, question,
choices, answer, category}`` per line, ``answer`` the index of the right choice, ``category``
``perception_count`` or ``perception_spatial``) and ``truth.jsonl`` (per image, the shapes drawn:
kind, colour, centre, bounding box), which ``bench/dev_shapes.py`` checks the reader against.
Deterministic (fixed seed). This is a development set: tune on it freely.

    python bench/make_shapes_dev.py
"""

from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from multimodal_crew.vision.reading import colour_name  # noqa: E402

OUT = Path(__file__).resolve().parent / "data" / "vision_dev_shapes"

PALETTE = {  # two shades per colour; each must be named so by reading.colour_name
    "red": [(220, 30, 30), (200, 20, 40)],
    "orange": [(255, 140, 0), (245, 120, 20)],
    "yellow": [(240, 210, 20), (250, 220, 50)],
    "green": [(40, 170, 60), (30, 150, 70)],
    "blue": [(40, 90, 220), (30, 110, 200)],
    "purple": [(140, 50, 180), (120, 40, 160)],
    "pink": [(255, 105, 180), (250, 130, 190)],
    "brown": [(140, 80, 30), (130, 70, 40)],
    "grey": [(128, 128, 128), (150, 150, 150)],
    "black": [(20, 20, 20), (40, 40, 40)],
}
BACKGROUNDS = [(255, 255, 255), (250, 248, 240), (235, 242, 250), (242, 242, 242), (255, 252, 230)]
KINDS = ["circle", "square", "rectangle", "triangle", "diamond", "star", "hexagon", "pentagon"]
ZH_KIND = {
    "circle": "圆形",
    "square": "正方形",
    "rectangle": "长方形",
    "triangle": "三角形",
    "diamond": "菱形",
    "star": "星形",
    "hexagon": "六边形",
    "pentagon": "五边形",
}
ZH_COLOUR = {
    "red": "红色",
    "orange": "橙色",
    "yellow": "黄色",
    "green": "绿色",
    "blue": "蓝色",
    "purple": "紫色",
    "pink": "粉色",
    "brown": "棕色",
    "grey": "灰色",
    "black": "黑色",
}

for _name, _shades in PALETTE.items():
    for _rgb in _shades:
        if colour_name(_rgb) != _name:
            raise SystemExit(f"palette: {_rgb} reads as {colour_name(_rgb)}, not {_name}")


def polygon(kind: str, cx: float, cy: float, w: float, h: float, rot: float = 0.0) -> list[tuple[float, float]]:
    """The outline points of a shape centred at (cx, cy) inside a w x h box (unrotated)."""
    if kind in ("square", "rectangle"):
        pts = [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]
    elif kind == "diamond":
        pts = [(0, -h / 2), (w / 2, 0), (0, h / 2), (-w / 2, 0)]
    elif kind == "triangle":
        pts = [(0, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]
    elif kind == "star":
        pts = []
        for i in range(10):
            a = -math.pi / 2 + i * math.pi / 5
            r = 1.0 if i % 2 == 0 else 0.42
            pts.append((r * math.cos(a) * w / 2, r * math.sin(a) * h / 2))
    elif kind in ("hexagon", "pentagon"):
        n = 6 if kind == "hexagon" else 5
        start = -math.pi / 2 if kind == "pentagon" else 0.0
        pts = [
            (math.cos(start + 2 * math.pi * i / n) * w / 2, math.sin(start + 2 * math.pi * i / n) * h / 2)
            for i in range(n)
        ]
    else:
        raise ValueError(kind)
    c, s = math.cos(rot), math.sin(rot)
    return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in pts]


def draw_shape(d: ImageDraw.ImageDraw, sh: dict, k: int, outline) -> None:
    cx, cy, w, h = (v * k for v in (sh["cx"], sh["cy"], sh["w"], sh["h"]))
    ow = 3 * k if outline else 0
    if sh["kind"] == "circle":
        d.ellipse([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], fill=sh["rgb"], outline=outline, width=ow)
    else:
        d.polygon(polygon(sh["kind"], cx, cy, w, h, sh.get("rot", 0.0)), fill=sh["rgb"], outline=outline, width=ow)


def size_for(kind: str, rng: random.Random, base: float) -> tuple[float, float]:
    s = base * rng.uniform(0.75, 1.3)
    if kind == "rectangle":
        return (s * 1.8, s) if rng.random() < 0.6 else (s, s * 1.8)
    if kind == "diamond":
        return s * 0.8, s * 1.2
    if kind == "triangle":
        return s, s * 0.9
    if kind == "hexagon":
        return s, s * 0.87
    return s, s


def render(name: str, rng: random.Random, shapes: list[dict], size: tuple[int, int], bg, outline, aa: bool) -> None:
    k = 3 if aa else 1
    img = Image.new("RGB", (size[0] * k, size[1] * k), bg)
    d = ImageDraw.Draw(img)
    for sh in shapes:  # in drawing order: later ones on top
        draw_shape(d, sh, k, outline)
    if aa:
        img = img.resize(size, Image.LANCZOS)
    img.save(OUT / "images" / f"{name}.png")


def layout(rng: random.Random, n: int, size: tuple[int, int], overlap: bool) -> list[dict] | None:
    """Shapes of n distinct (colour, kind) pairs, placed without overlap unless asked."""
    W, H = size
    base = min(W, H) / (4.2 if n <= 5 else 5.0)
    pairs: set = set()
    shapes: list[dict] = []
    tries = 0
    while len(shapes) < n and tries < 2000:
        tries += 1
        kind, colour = rng.choice(KINDS), rng.choice(list(PALETTE))
        if (colour, kind) in pairs:
            continue
        w, h = size_for(kind, rng, base)
        cx, cy = rng.uniform(w / 2 + 8, W - w / 2 - 8), rng.uniform(h / 2 + 8, H - h / 2 - 8)
        sh = {"kind": kind, "colour": colour, "rgb": rng.choice(PALETTE[colour]), "cx": cx, "cy": cy, "w": w, "h": h}
        if not overlap and any(
            abs(cx - o["cx"]) < (w + o["w"]) / 2 + 10 and abs(cy - o["cy"]) < (h + o["h"]) / 2 + 10 for o in shapes
        ):
            continue
        pairs.add((colour, kind))
        shapes.append(sh)
    return shapes if len(shapes) == n else None


def label(sh: dict) -> str:
    return f"{sh['colour']} {sh['kind']}"


def number_choices(rng: random.Random, right: int) -> tuple[list[str], int]:
    wrong = [v for v in (right - 1, right + 1, right + 2, right - 2, right + 3) if v >= 0 and v != right][:3]
    picks = [str(right)] + [str(v) for v in wrong]
    rng.shuffle(picks)
    return picks, picks.index(str(right))


def object_choices(rng: random.Random, right: dict, shapes: list[dict]) -> tuple[list[str], int]:
    others = [label(s) for s in shapes if s is not right]
    rng.shuffle(others)
    picks = [label(right)] + others[:3]
    while len(picks) < 4:
        extra = f"{rng.choice(list(PALETTE))} {rng.choice(KINDS)}"
        if extra not in picks:
            picks.append(extra)
    rng.shuffle(picks)
    return picks, picks.index(label(right))


def directly(shapes: list[dict], t: dict, way: str) -> dict | None:
    """The one shape directly above/below/left/right of t, if unambiguous."""
    horiz = way in ("left", "right")
    cand = []
    for s in shapes:
        if s is t:
            continue
        if horiz:
            along, across, reach = s["cx"] - t["cx"], abs(s["cy"] - t["cy"]), t["h"] / 2
        else:
            along, across, reach = s["cy"] - t["cy"], abs(s["cx"] - t["cx"]), t["w"] / 2
        if way in ("above", "left"):
            along = -along
        if along > 0 and across < reach:
            cand.append((along, s))
    near = [s for s in shapes if s is not t]
    if len(cand) != 1 or len(near) < 3:
        return None
    return cand[0][1]


def direction(a: dict, b: dict) -> str | None:
    """Where a is relative to b, in choice words, or None when in between two wordings."""
    dx, dy = a["cx"] - b["cx"], a["cy"] - b["cy"]
    h = "to the left of" if dx < 0 else "to the right of"
    v = "above" if dy < 0 else "below"
    if abs(dx) > 2.5 * abs(dy):
        return h
    if abs(dy) > 2.5 * abs(dx):
        return v
    if 0.6 < abs(dx) / max(abs(dy), 1e-6) < 1.6:
        return f"{v} and {h}"
    return None


def main() -> None:
    rng = random.Random(20240611)
    (OUT / "images").mkdir(parents=True, exist_ok=True)
    for old in (OUT / "images").glob("*.png"):
        old.unlink()
    items: list[dict] = []
    truth: list[dict] = []

    def scene(name: str, n: int, overlap: bool, dup: int = 0) -> tuple[str, list[dict], tuple[int, int]] | None:
        size = (rng.randrange(300, 901, 10), rng.randrange(300, 901, 10))
        for _ in range(50):
            shapes = layout(rng, n, size, overlap)
            if shapes is None:
                continue
            if overlap:  # make sure something really overlaps, and nothing hides another

                def frac_hidden(s, later):
                    inter = 0.0
                    for o in later:
                        ix = max(
                            0.0,
                            min(s["cx"] + s["w"] / 2, o["cx"] + o["w"] / 2)
                            - max(s["cx"] - s["w"] / 2, o["cx"] - o["w"] / 2),
                        )
                        iy = max(
                            0.0,
                            min(s["cy"] + s["h"] / 2, o["cy"] + o["h"] / 2)
                            - max(s["cy"] - s["h"] / 2, o["cy"] - o["h"] / 2),
                        )
                        inter += ix * iy
                    return inter / (s["w"] * s["h"])

                hidden = [frac_hidden(s, shapes[i + 1 :]) for i, s in enumerate(shapes)]
                if max(hidden) > 0.35 or max(hidden) < 0.03:
                    continue
            for _d in range(dup):  # repeat a kind in another colour, placed freely
                src = rng.choice(shapes)
                colour = rng.choice([c for c in PALETTE if c != src["colour"]])
                w, h = size_for(src["kind"], rng, min(size) / 5)
                shapes.append(
                    {
                        "kind": src["kind"],
                        "colour": colour,
                        "rgb": rng.choice(PALETTE[colour]),
                        "cx": rng.uniform(w / 2 + 8, size[0] - w / 2 - 8),
                        "cy": rng.uniform(h / 2 + 8, size[1] - h / 2 - 8),
                        "w": w,
                        "h": h,
                    }
                )
            bg = rng.choice(BACKGROUNDS)
            outline = (20, 20, 20) if rng.random() < 0.25 else None
            if outline and any(s["colour"] == "black" for s in shapes):
                outline = None
            render(name, rng, shapes, size, bg, outline, aa=rng.random() < 0.5)
            truth.append(
                {
                    "image": f"images/{name}.png",
                    "size": list(size),
                    "shapes": [
                        {k: (round(v, 1) if isinstance(v, float) else v) for k, v in s.items() if k != "rgb"}
                        for s in shapes
                    ],
                }
            )
            return f"images/{name}.png", shapes, size
        return None

    def add(image, question, picks, category):
        choices, answer = picks
        items.append({"image": image, "question": question, "choices": choices, "answer": answer, "category": category})

    count_q_kind = [
        "How many {p} are in the picture (count overlapping ones too)?",
        "How many {p} can you see?",
        "Count the {p}. How many are there?",
        "How many {p} are there in the image?",
    ]
    count_q_colour = [
        "How many {c} shapes are there?",
        "How many shapes are {c}?",
        "How many {c} objects are in the picture?",
    ]
    # counting scenes: some overlapping, some with repeated kinds
    for i in range(14):
        got = scene(f"count_{i}", rng.randint(3, 6), overlap=i % 2 == 1, dup=rng.randint(1, 3))
        if not got:
            continue
        image, shapes, _ = got
        if i % 3 != 2:
            kind = rng.choice([s["kind"] for s in shapes])
            n = sum(s["kind"] == kind for s in shapes)
            if i == 12:
                add(image, f"图中有几个{ZH_KIND[kind]}？", number_choices(rng, n), "perception_count")
            else:
                add(image, rng.choice(count_q_kind).format(p=kind + "s"), number_choices(rng, n), "perception_count")
        else:
            colour = rng.choice([s["colour"] for s in shapes])
            n = sum(s["colour"] == colour for s in shapes)
            if i == 11:
                add(image, f"{ZH_COLOUR[colour]}的形状有几个？", number_choices(rng, n), "perception_count")
            else:
                add(image, rng.choice(count_q_colour).format(c=colour), number_choices(rng, n), "perception_count")
    # counting circles among circles: same-colour overlap is not made here, different colours overlap
    for i in range(4):
        size = (rng.randrange(400, 801, 10), rng.randrange(400, 801, 10))
        shapes = []
        n = rng.randint(3, 7)
        for _ in range(n):
            r = rng.uniform(0.07, 0.14) * min(size)
            colour = rng.choice(list(PALETTE))
            while shapes and colour == shapes[-1]["colour"]:
                colour = rng.choice(list(PALETTE))
            if shapes and rng.random() < 0.6:  # overlap the previous circle by a third
                p = shapes[-1]
                a = rng.uniform(0, 2 * math.pi)
                dist = (p["w"] / 2 + r) * 0.7
                cx = min(max(p["cx"] + dist * math.cos(a), r + 5), size[0] - r - 5)
                cy = min(max(p["cy"] + dist * math.sin(a), r + 5), size[1] - r - 5)
            else:
                cx, cy = rng.uniform(r + 5, size[0] - r - 5), rng.uniform(r + 5, size[1] - r - 5)
            shapes.append(
                {
                    "kind": "circle",
                    "colour": colour,
                    "rgb": rng.choice(PALETTE[colour]),
                    "cx": cx,
                    "cy": cy,
                    "w": 2 * r,
                    "h": 2 * r,
                }
            )
        kinds = ["square", "triangle"]
        for k in kinds[: rng.randint(0, 2)]:
            w, h = size_for(k, rng, min(size) / 6)
            shapes.append(
                {
                    "kind": k,
                    "colour": rng.choice(list(PALETTE)),
                    "rgb": (0, 0, 0),
                    "cx": rng.uniform(w, size[0] - w),
                    "cy": rng.uniform(h, size[1] - h),
                    "w": w,
                    "h": h,
                }
            )
            shapes[-1]["rgb"] = PALETTE[shapes[-1]["colour"]][0]
        name = f"circles_{i}"
        render(name, rng, shapes, size, rng.choice(BACKGROUNDS), None, aa=i % 2 == 0)
        truth.append(
            {
                "image": f"images/{name}.png",
                "size": list(size),
                "shapes": [
                    {k: (round(v, 1) if isinstance(v, float) else v) for k, v in s.items() if k != "rgb"}
                    for s in shapes
                ],
            }
        )
        nc = sum(s["kind"] == "circle" for s in shapes)
        q = "几个圆形？" if i == 3 else "How many circles are in the picture (count overlapping ones too)?"
        add(f"images/{name}.png", q, number_choices(rng, nc), "perception_count")

    # spatial scenes: distinct (colour, kind) pairs, no overlap
    made = {"above": 0, "below": 0, "left": 0, "right": 0, "closest": 0, "corner": 0, "relative": 0}
    quota = {"above": 4, "below": 3, "left": 3, "right": 3, "closest": 4, "corner": 4, "relative": 5}
    words = {
        "above": ["Which object is directly above the {t}?", "What is right above the {t}?"],
        "below": ["Which object is directly below the {t}?", "Which shape is underneath the {t}?"],
        "left": ["Which object is directly to the left of the {t}?", "Which shape is on the left of the {t}?"],
        "right": ["Which object is directly to the right of the {t}?", "Which shape is to the right of the {t}?"],
    }
    corners = {"top-left": (0, 0), "top-right": (1, 0), "bottom-left": (0, 1), "bottom-right": (1, 1)}
    zh_corner = {"top-left": "左上角", "top-right": "右上角", "bottom-left": "左下角", "bottom-right": "右下角"}
    j = 0
    while any(made[k] < quota[k] for k in made) and j < 400:
        j += 1
        kind = [k for k in made if made[k] < quota[k]][j % len([k for k in made if made[k] < quota[k]])]
        size = (rng.randrange(300, 901, 10), rng.randrange(300, 901, 10))
        shapes = layout(rng, rng.randint(4, 6), size, overlap=False)
        if not shapes:
            continue
        q = picks = None
        if kind in words:
            for t in rng.sample(shapes, len(shapes)):
                hit = directly(shapes, t, kind)
                if hit:
                    if kind == "above" and made["above"] == 0:
                        q = f"{ZH_COLOUR[t['colour']]}{ZH_KIND[t['kind']]}上方是什么？"
                    else:
                        q = rng.choice(words[kind]).format(t=label(t))
                    picks = object_choices(rng, hit, shapes)
                    break
        elif kind == "closest":
            t = rng.choice(shapes)
            ds = sorted((math.dist((s["cx"], s["cy"]), (t["cx"], t["cy"])), id(s), s) for s in shapes if s is not t)
            if ds[1][0] > 1.3 * ds[0][0]:
                q = rng.choice(["Which object is closest to the {t}?", "Which shape is nearest to the {t}?"]).format(
                    t=label(t)
                )
                picks = object_choices(rng, ds[0][2], shapes)
        elif kind == "corner":
            cname = rng.choice(list(corners))
            fx, fy = corners[cname]
            pt = (fx * size[0], fy * size[1])
            ds = sorted((math.dist((s["cx"], s["cy"]), pt), id(s), s) for s in shapes)
            if ds[1][0] > 1.3 * ds[0][0]:
                if made["corner"] == 1:
                    q = f"哪个形状离{zh_corner[cname]}最近？"
                else:
                    q = rng.choice(
                        [
                            "Which object is nearest the {c} corner?",
                            "Which shape is closest to the {c} corner of the image?",
                        ]
                    ).format(c=cname)
                picks = object_choices(rng, ds[0][2], shapes)
        elif kind == "relative":
            a, b = rng.sample(shapes, 2)
            right = direction(a, b)
            if right:
                allw = [
                    "above",
                    "below",
                    "to the left of",
                    "to the right of",
                    "above and to the left of",
                    "above and to the right of",
                    "below and to the left of",
                    "below and to the right of",
                ]
                wrong = [w for w in allw if w != right and not (set(w.split(" and ")) & set(right.split(" and ")))]
                rng.shuffle(wrong)
                ch = [right] + wrong[:3]
                rng.shuffle(ch)
                q = rng.choice(
                    ["Where is the {a} relative to the {b}?", "Where is the {a} located compared with the {b}?"]
                ).format(a=label(a), b=label(b))
                picks = (ch, ch.index(right))
        if not q:
            continue
        name = f"{kind}_{made[kind]}"
        render(
            name,
            rng,
            shapes,
            size,
            rng.choice(BACKGROUNDS),
            (20, 20, 20) if rng.random() < 0.2 and all(s["colour"] != "black" for s in shapes) else None,
            aa=rng.random() < 0.5,
        )
        truth.append(
            {
                "image": f"images/{name}.png",
                "size": list(size),
                "shapes": [
                    {k: (round(v, 1) if isinstance(v, float) else v) for k, v in s.items() if k != "rgb"}
                    for s in shapes
                ],
            }
        )
        add(f"images/{name}.png", q, picks, "perception_spatial")
        made[kind] += 1

    with open(OUT / "items.jsonl", "w", encoding="utf-8") as f:
        for it in items:
            f.write(json.dumps(it, ensure_ascii=False) + "\n")
    with open(OUT / "truth.jsonl", "w", encoding="utf-8") as f:
        for t in truth:
            f.write(json.dumps(t, ensure_ascii=False) + "\n")
    print(f"{len(items)} items, {len(truth)} images in {OUT}")


if __name__ == "__main__":
    main()
