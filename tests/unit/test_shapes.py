"""The shape reader on scenes drawn here with known truth, and its refusals (charts, text, photos)."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image, ImageDraw

from multimodal_crew.vision.images import CheckedImage
from multimodal_crew.vision.shapes import read_shapes, shape_facts

RGB = {
    "red": (220, 30, 30),
    "green": (40, 170, 60),
    "blue": (40, 90, 220),
    "yellow": (240, 210, 20),
    "orange": (255, 140, 0),
    "purple": (140, 50, 180),
    "brown": (140, 80, 30),
    "pink": (255, 105, 180),
    "black": (20, 20, 20),
}


def checked(img: Image.Image) -> CheckedImage:
    return CheckedImage("drawn.png", "PNG", img.size[0], img.size[1], img.convert("RGB"))


def regular(cx, cy, r, n, start=-math.pi / 2, inner=None):
    pts = []
    for i in range(n * (2 if inner else 1)):
        a = start + i * math.pi * 2 / (n * (2 if inner else 1))
        rr = inner if inner and i % 2 else r
        pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
    return pts


def draw(shapes, size=(480, 360), bg=(255, 255, 255), aa=False, outline=None):
    k = 3 if aa else 1
    img = Image.new("RGB", (size[0] * k, size[1] * k), bg)
    d = ImageDraw.Draw(img)
    for kind, colour, cx, cy, r in shapes:
        cx, cy, r = cx * k, cy * k, r * k
        fill, ow = RGB[colour], 3 * k if outline else 0
        if kind == "circle":
            d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill, outline=outline, width=ow)
        elif kind == "square":
            d.rectangle([cx - r, cy - r, cx + r, cy + r], fill=fill, outline=outline, width=ow)
        elif kind == "rectangle":
            d.rectangle([cx - 1.7 * r, cy - r, cx + 1.7 * r, cy + r], fill=fill, outline=outline, width=ow)
        elif kind == "diamond":
            d.polygon([(cx, cy - 1.3 * r), (cx + 0.8 * r, cy), (cx, cy + 1.3 * r), (cx - 0.8 * r, cy)], fill=fill)
        elif kind == "triangle":
            d.polygon(regular(cx, cy, r, 3), fill=fill, outline=outline, width=ow)
        elif kind == "pentagon":
            d.polygon(regular(cx, cy, r, 5), fill=fill)
        elif kind == "hexagon":
            d.polygon(regular(cx, cy, r, 6, start=0), fill=fill)
        elif kind == "star":
            d.polygon(regular(cx, cy, r, 5, inner=0.42 * r), fill=fill)
    if aa:
        img = img.resize(size, Image.LANCZOS)
    return checked(img)


EIGHT = [
    ("circle", "red", 70, 70, 40),
    ("square", "green", 190, 70, 35),
    ("triangle", "blue", 310, 80, 45),
    ("star", "yellow", 420, 75, 45),
    ("hexagon", "orange", 70, 230, 40),
    ("pentagon", "purple", 190, 235, 42),
    ("diamond", "brown", 300, 240, 40),
    ("rectangle", "pink", 410, 300, 25),
]


@pytest.mark.parametrize("aa", [False, True])
def test_eight_kinds_and_colours(aa):
    s = read_shapes(draw(EIGHT, aa=aa))
    assert s is not None
    got = sorted((x.kind, x.colour) for x in s.shapes)
    assert got == sorted((k, c) for k, c, *_ in EIGHT)
    red = next(x for x in s.shapes if x.colour == "red")
    assert abs(red.cx - 70) <= 2 and abs(red.cy - 70) <= 2 and abs(red.w - 81) <= 3


def test_outlined_shapes_are_not_counted_twice():
    s = read_shapes(draw(EIGHT[:3], outline=(20, 20, 20)))
    assert s is not None
    assert sorted(x.kind for x in s.shapes) == ["circle", "square", "triangle"]


def test_partly_covered_shape_is_one_shape_of_its_kind():
    # a blue square drawn over the right part of a red circle; a yellow triangle over a green hexagon
    scene = [
        ("circle", "red", 120, 150, 70),
        ("square", "blue", 200, 150, 40),
        ("hexagon", "green", 360, 170, 60),
        ("triangle", "yellow", 390, 230, 40),
    ]
    s = read_shapes(draw(scene, aa=True))
    assert s is not None
    got = {x.colour: x.kind for x in s.shapes}
    assert got == {"red": "circle", "blue": "square", "green": "hexagon", "yellow": "triangle"}
    red = next(x for x in s.shapes if x.colour == "red")
    assert abs(red.cx - 120) <= 4 and abs(red.w - 141) <= 6  # the whole circle, not its visible part
    d = s.as_dict()
    assert d["type"] == "shapes" and set(d["shapes"][0]) == {"kind", "colour", "x", "y", "w", "h", "cx", "cy", "area"}


def test_counting_circles_of_different_colours_overlapping():
    scene = [
        ("circle", c, 100 + 55 * i, 150 + (20 if i % 2 else 0), 45)
        for i, c in enumerate(["red", "blue", "green", "orange", "purple"])
    ]
    s = read_shapes(draw(scene))
    assert s is not None
    assert [x.kind for x in s.shapes].count("circle") == 5
    facts = shape_facts(s.as_dict(), "How many circles are in the picture (count overlapping ones too)?")
    assert any(f.startswith("circles: 5 (") for f in facts)


def test_counts_by_colour_and_kind_in_facts():
    scene = [
        ("circle", "green", 60, 60, 30),
        ("square", "green", 180, 60, 30),
        ("circle", "red", 300, 60, 30),
        ("triangle", "green", 420, 80, 35),
        ("circle", "blue", 60, 250, 30),
    ]
    facts = shape_facts(read_shapes(draw(scene)).as_dict(), "How many green shapes are there?")
    assert "green shapes: 3 (1 circle, 1 square, 1 triangle)" in facts
    assert "circles: 3 (1 blue, 1 green, 1 red)" in facts


def relations_scene():
    return draw(
        [
            ("square", "green", 240, 250, 35),
            ("circle", "red", 245, 80, 35),  # directly above the green square
            ("star", "red", 420, 300, 35),
            ("hexagon", "orange", 90, 200, 35),
            ("triangle", "yellow", 400, 90, 35),  # nearest the top-right corner
            ("pentagon", "blue", 420, 200, 30),  # nearest the red star
        ]
    )


def test_relations():
    d = read_shapes(relations_scene()).as_dict()
    f = shape_facts(d, "Which object is directly above the green square?")[0]
    assert f.startswith("directly above the green square (centre 240,250): the red circle")
    f = shape_facts(d, "Which object is closest to the red star?")[0]
    assert f.startswith("nearest to the red star") and ": the blue pentagon" in f
    f = shape_facts(d, "Which object is nearest the top-right corner?")[0]
    assert f.startswith("nearest the top-right corner") and ": the yellow triangle" in f
    f = shape_facts(d, "Where is the orange hexagon relative to the yellow triangle?")[0]
    assert "is to the left of and slightly below the yellow triangle" in f and f.endswith("in short: to the left of")
    f = shape_facts(d, "Which shape is directly to the right of the orange hexagon?")[0]
    assert ": the green square" in f


def test_relations_in_chinese():
    d = read_shapes(relations_scene()).as_dict()
    assert ": the green square" in shape_facts(d, "红色圆形下方是什么？")[0]
    assert ": the blue pentagon" in shape_facts(d, "哪个形状离红色星形最近？")[0]
    assert ": the yellow triangle" in shape_facts(d, "哪个形状离右上角最近？")[0]
    assert "green shapes: 1 (1 square)" in shape_facts(d, "绿色的形状有几个？")


def test_bar_chart_is_not_a_scene():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=100)
    ax.bar(["A", "B", "C", "D"], [3, 7, 5, 2], color=["#d62728", "#2ca02c", "#1f77b4", "#ff7f0e"])
    ax.set_title("Sales")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    buf.seek(0)
    assert read_shapes(checked(Image.open(buf))) is None


def test_text_image_is_not_a_scene():
    img = Image.new("RGB", (420, 300), "white")
    d = ImageDraw.Draw(img)
    for i, line in enumerate(
        ["RECEIPT  #2041", "Coffee        3.50", "Bagel         2.25", "Total         5.75", "Thank you!"]
    ):
        d.text((30, 30 + 45 * i), line, fill=(0, 0, 0))
    assert read_shapes(checked(img)) is None


def test_sign_with_writing_is_not_a_scene():
    from matplotlib import font_manager
    from PIL import ImageFont

    img = Image.new("RGB", (400, 400), "white")
    d = ImageDraw.Draw(img)
    d.ellipse([40, 40, 360, 360], fill=(200, 30, 30))
    font = ImageFont.truetype(font_manager.findfont("DejaVu Sans"), 70)
    d.text((80, 160), "STOP", fill="white", font=font)
    assert read_shapes(checked(img)) is None


def test_photo_like_image_is_not_a_scene():
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:240, 0:320]
    arr = np.stack([x * 0.7, y * 0.9, (x + y) * 0.4], 2) + rng.normal(0, 8, (240, 320, 3))
    assert read_shapes(checked(Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)))) is None


def test_shapes_drawn_on_a_big_shape_are_still_a_scene():
    scene = [("square", "yellow", 200, 180, 150), ("circle", "red", 140, 130, 30), ("triangle", "blue", 260, 240, 35)]
    s = read_shapes(draw(scene, size=(400, 360)))
    assert s is not None
    assert sorted((x.kind, x.colour) for x in s.shapes) == [
        ("circle", "red"),
        ("square", "yellow"),
        ("triangle", "blue"),
    ]


def test_two_overlapping_circles_of_one_colour_are_split_and_flagged():
    s = read_shapes(
        draw([("circle", "red", 150, 150, 60), ("circle", "red", 230, 160, 60), ("square", "blue", 380, 200, 40)])
    )
    assert s is not None
    assert sorted((x.kind, x.colour) for x in s.shapes) == [("circle", "red"), ("circle", "red"), ("square", "blue")]
    assert any("overlapping red" in n for n in s.uncertain)


def test_counting_question_gets_its_count_first():
    d = read_shapes(relations_scene()).as_dict()
    assert shape_facts(d, "How many red shapes are there?")[0].startswith("red shapes: 2 (centres ")
    assert shape_facts(d, "几个圆形？")[0].startswith("circles: 1 (centres 24")


def test_see_gives_the_model_the_shapes_and_says_when_a_count_is_an_estimate(state_home, tmp_path):
    from multimodal_crew.flows import run_flow
    from multimodal_crew.steps.vision import SeeAnswer
    from tests.fakes import ScriptedModel

    path = tmp_path / "scene.png"
    relations_scene().image.save(path)
    model = ScriptedModel({"rationale": "The red circle is above the green square."}, {"answer": "the red circle"})
    q = "Which object is directly above the green square?"
    r = SeeAnswer.model_validate(run_flow("see", {"image": str(path), "question": q,
                                                  "choices": ["the red circle", "the red star"]}, model=model).data)  # fmt: skip
    assert r.confidence == "normal" and not r.limits and r.tables[0]["type"] == "shapes"
    sent = model.requests[0][0][-1]["content"]
    assert "Shapes measured in the picture" in sent and "directly above the green square (centre 240,250)" in sent
    path = tmp_path / "overlap.png"
    draw(
        [("circle", "red", 150, 150, 60), ("circle", "red", 230, 160, 60), ("square", "blue", 380, 200, 40)]
    ).image.save(path)
    model = ScriptedModel({"rationale": "Two red circles overlap."}, {"answer": "2"})
    r = SeeAnswer.model_validate(run_flow("see", {"image": str(path), "question": "How many circles are there?",
                                                  "choices": ["1", "2", "3"]}, model=model).data)  # fmt: skip
    assert r.confidence == "low" and "estimate" in r.limits and "overlapping red" in r.limits
