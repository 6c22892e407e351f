"""Diagrams read as graphs, with real OCR on diagrams drawn here: arrows and where they point,
org-chart lines, labelled flowchart branches followed by the question's answers, arrows that
stand free of the boxes, timelines, layers; tables and charts are not diagrams."""

from __future__ import annotations

import math

import pytest
from PIL import Image, ImageDraw, ImageFont

from multimodal_crew.flows import run_flow
from multimodal_crew.steps.vision import SeeAnswer
from multimodal_crew.vision.describe import describe, ocr_lines
from multimodal_crew.vision.diagram import read_diagram
from multimodal_crew.vision.evidence import question_facts, reading_facts, reading_rows, used_text
from multimodal_crew.vision.images import load_image
from tests.fakes import ScriptedModel

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def _font(size=17):
    try:
        return ImageFont.truetype(FONT, size)
    except OSError:
        pytest.skip("DejaVu Sans is not installed")


def _box(d, box, text, shape="rect"):
    x0, y0, x1, y1 = box
    if shape == "diamond":
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        d.polygon([(cx, y0), (x1, cy), (cx, y1), (x0, cy)], fill="#fff6d6", outline="#222222")
    else:
        d.rounded_rectangle(box, radius=8, fill="#eef3fb", outline="#222222", width=2)
    f = _font()
    w, h = d.textbbox((0, 0), text, font=f)[2:]
    d.text(((x0 + x1 - w) / 2, (y0 + y1 - h) / 2 - 2), text, font=f, fill="#111111")


def _arrow(d, a, b, width=2, head=11):
    d.line([a, b], fill="#222222", width=width)
    ang = math.atan2(b[1] - a[1], b[0] - a[0])
    d.polygon([b, (b[0] - head * math.cos(ang - 0.45), b[1] - head * math.sin(ang - 0.45)),
               (b[0] - head * math.cos(ang + 0.45), b[1] - head * math.sin(ang + 0.45))], fill="#222222")  # fmt: skip


def _n(s: str) -> str:
    return s.replace(" ", "").lower()


def _read(img: Image.Image, path):
    img.save(path)
    checked = load_image(str(path))
    d = read_diagram(checked, ocr_lines(checked))
    return d.as_dict() if d else None, checked


def _flowchart(path):
    img = Image.new("RGB", (720, 560), "white")
    d = ImageDraw.Draw(img)
    _box(d, (180, 20, 320, 64), "Start")
    _arrow(d, (250, 64), (250, 118))
    _box(d, (130, 120, 370, 240), "Paid already?", "diamond")
    _arrow(d, (370, 180), (498, 180))
    d.text((390, 150), "No", font=_font(15), fill="#b00020")
    _box(d, (500, 156, 690, 204), "Send reminder")
    _arrow(d, (250, 240), (250, 318))
    d.text((262, 265), "Yes", font=_font(15), fill="#b00020")
    _box(d, (130, 320, 370, 440), "In stock?", "diamond")
    _arrow(d, (370, 380), (498, 380))
    d.text((390, 350), "No", font=_font(15), fill="#b00020")
    _box(d, (500, 356, 690, 404), "Order more")
    _arrow(d, (250, 440), (250, 488))
    d.text((262, 452), "Yes", font=_font(15), fill="#b00020")
    _box(d, (160, 490, 340, 534), "Ship it")
    return _read(img, path)


def test_flowchart_arrows_point_at_their_heads_and_carry_their_labels(tmp_path):
    g, _ = _flowchart(tmp_path / "flow.png")
    assert g and g["kind"] == "graph"
    edges = {(_n(e["from"]), _n(e["to"]), e["label"]) for e in g["edges"]}  # OCR may drop a space
    assert ("start", "paidalready?", "") in edges
    assert ("paidalready?", "sendreminder", "No") in edges
    assert ("paidalready?", "instock?", "Yes") in edges
    assert ("instock?", "ordermore", "No") in edges and ("instock?", "shipit", "Yes") in edges
    found = question_facts("What happens if “Paid already?” is Yes and “In stock?” is No?", [g])
    assert any("theoutcomeisordermore" in _n(f) for f in found), found
    found = question_facts("What happens when the answer to “Paid already?” is No?", [g])
    assert any("theoutcomeissendreminder" in _n(f) for f in found), found
    assert reading_facts(g) == []  # no lines: the graph's own text lists every arrow


def test_org_chart_lines_join_each_box_to_the_one_above(tmp_path):
    img = Image.new("RGB", (820, 330), "white")
    d = ImageDraw.Draw(img)
    pos = {"Anna Berg": (410, 20), "Li Wei": (205, 140), "Sam Cole": (615, 140),
           "Tom Hart": (100, 260), "Eva Moss": (310, 260), "Raj Paul": (615, 260)}  # fmt: skip
    for parent, kids in [("Anna Berg", ["Li Wei", "Sam Cole"]), ("Li Wei", ["Tom Hart", "Eva Moss"]),
                         ("Sam Cole", ["Raj Paul"])]:  # fmt: skip
        px, py = pos[parent]
        mid = py + 44 + 38
        d.line([(px, py + 44), (px, mid)], fill="#222222", width=2)
        xs = [pos[k][0] for k in kids] + [px]
        d.line([(min(xs), mid), (max(xs), mid)], fill="#222222", width=2)
        for k in kids:
            d.line([(pos[k][0], mid), pos[k]], fill="#222222", width=2)
    for name, (x, y) in pos.items():
        _box(d, (x - 75, y, x + 75, y + 44), name)
    g, _ = _read(img, tmp_path / "org.png")
    edges = {(e["from"].replace(" ", ""), e["to"].replace(" ", ""), e["how"]) for e in g["edges"]}
    assert edges == {("AnnaBerg", "LiWei", "line"), ("AnnaBerg", "SamCole", "line"), ("LiWei", "TomHart", "line"),
                     ("LiWei", "EvaMoss", "line"), ("SamCole", "RajPaul", "line")}  # fmt: skip
    found = " ".join(question_facts("Who is Eva Moss's direct manager?", [g])).replace(" ", "")
    assert "directlyaboveEvaMoss" in found and "LiWei" in found


def test_free_standing_arrows_join_the_boxes_at_their_tail_and_head(tmp_path):
    img = Image.new("RGB", (620, 620), "white")
    d = ImageDraw.Draw(img)
    names = ["Plan", "Build", "Check", "Learn"]
    c, r = (310, 320), 200
    for i in range(4):  # clockwise from the top; the arrows stop short of the boxes
        a0, a1 = -90 + 90 * i, -90 + 90 * (i + 1)
        pts = [(c[0] + r * math.cos(math.radians(a0 + (a1 - a0) * t / 20)),
                c[1] + r * math.sin(math.radians(a0 + (a1 - a0) * t / 20))) for t in range(6, 15)]  # fmt: skip
        d.line(pts[:-1], fill="#2e7d32", width=3)
        _arrow(d, pts[-2], pts[-1], width=3, head=14)
    for i, n in enumerate(names):
        a = math.radians(-90 + 90 * i)
        x, y = c[0] + r * math.cos(a), c[1] + r * math.sin(a)
        _box(d, (x - 60, y - 22, x + 60, y + 22), n)
    g, _ = _read(img, tmp_path / "cycle.png")
    edges = {(e["from"], e["to"]) for e in g["edges"]}
    assert edges == {("Plan", "Build"), ("Build", "Check"), ("Check", "Learn"), ("Learn", "Plan")}


def test_timeline_pairs_each_year_with_its_event(tmp_path):
    img = Image.new("RGB", (900, 260), "white")
    d = ImageDraw.Draw(img)
    d.line([(30, 130), (870, 130)], fill="#8e2430", width=3)
    events = [("1871", "Mill opened"), ("1904", "Canal dug"), ("1950", "Flood"), ("1999", "Bridge rebuilt")]
    for i, (year, ev) in enumerate(events):
        x = 110 + i * 220
        d.ellipse((x - 6, 124, x + 6, 136), fill="#8e2430")
        d.text((x - 20, 142), year, font=_font(15), fill="black")
        d.text((x - 45, 80 if i % 2 == 0 else 175), ev, font=_font(15), fill="black")
    g, _ = _read(img, tmp_path / "timeline.png")
    assert g["kind"] == "timeline" and [(y, _n(e)) for y, e in g["events"]] == [(y, _n(e)) for y, e in events]
    assert question_facts("Which event happened in 1950?", [g]) == ["the event at 1950: Flood"]
    assert question_facts("1904年发生了什么？", [g]) == [f"the event at 1904: {g['events'][1][1]}"]
    assert reading_rows(g)[1] == ["year", "event"]


def test_layers_are_named_top_to_bottom(tmp_path):
    img = Image.new("RGB", (520, 420), "white")
    d = ImageDraw.Draw(img)
    for i, (name, colour) in enumerate([("Topsoil", "#a7794f"), ("Clay", "#d9c9a3"), ("Gravel", "#9e9e9e"),
                                        ("Bedrock", "#7d6b5d")]):  # fmt: skip
        d.rectangle((60, 40 + i * 85, 460, 40 + (i + 1) * 85), fill=colour)
        d.text((230, 70 + i * 85), name, font=_font(), fill="black")
    g, _ = _read(img, tmp_path / "layers.png")
    assert g["kind"] == "layers" and g["nodes"] == ["Topsoil", "Clay", "Gravel", "Bedrock"]
    assert "the layer directly below Clay: Gravel" in question_facts("Which layer lies directly below the clay?", [g])


def test_a_bordered_table_and_plain_text_are_not_diagrams(tmp_path):
    img = Image.new("RGB", (600, 260), "white")
    d = ImageDraw.Draw(img)
    rows = [["Item", "Qty", "Price"], ["Pens", "4", "3.20"], ["Tape", "2", "1.10"], ["Glue", "7", "2.45"]]
    for i, row in enumerate(rows):
        for j, cell in enumerate(row):
            box = (40 + j * 170, 30 + i * 50, 40 + (j + 1) * 170, 30 + (i + 1) * 50)
            d.rectangle(box, outline="#444444", width=1)
            d.text((box[0] + 12, box[1] + 14), cell, font=_font(16), fill="black")
    g, checked = _read(img, tmp_path / "table.png")
    assert g is None
    assert describe(checked).tables[0]["type"] == "table"  # the grid reader still reads it
    img = Image.new("RGB", (600, 200), "white")
    d = ImageDraw.Draw(img)
    for i, t in enumerate(["Opening hours", "Mon-Fri 9:00-18:00", "Sat 10:00-14:00"]):
        d.text((40, 30 + i * 50), t, font=_font(), fill="black")
    g, _ = _read(img, tmp_path / "text.png")
    assert g is None


def test_see_gives_the_model_the_graph_and_the_path_and_keeps_the_reading(state_home, tmp_path):
    g, checked = _flowchart(tmp_path / "flow.png")
    used = used_text([g])
    assert used("Send reminder") and used("No") and not used("Opening hours")
    model = ScriptedModel({"rationale": "Yes leads to In stock?, No to Order more."}, {"answer": "Order more"})
    q = "What happens if “Paid already?” is Yes and “In stock?” is No?"
    r = SeeAnswer.model_validate(run_flow("see", {"image": checked.path, "question": q,
                                                  "choices": ["Ship it", "Order more", "Send reminder"]},
                                          model=model).data)  # fmt: skip
    assert r.answer == "Order more" and r.confidence == "normal"
    assert r.tables and r.tables[0]["type"] == "diagram"
    sent = model.requests[0][0][-1]["content"]
    assert "Diagram read as a graph" in sent and "arrow[no]:paidalready?→sendreminder" in _n(sent)
    assert "theoutcomeisordermore" in _n(sent)


def test_a_noisy_photo_is_no_diagram_and_is_given_up_quickly(tmp_path):
    import time

    import numpy as np

    from multimodal_crew.vision.describe import TextLine

    rng = np.random.default_rng(7)
    Image.fromarray(rng.integers(0, 255, (900, 1200, 3), dtype=np.uint8)).save(tmp_path / "noise.png")
    checked = load_image(str(tmp_path / "noise.png"))
    lines = [TextLine(f"word{i}", 40 + (i % 10) * 110, 30 + (i // 10) * 80, 60, 18, 0.9) for i in range(60)]
    t0 = time.perf_counter()
    assert read_diagram(checked, lines) is None
    assert time.perf_counter() - t0 < 15  # generous: a guard against minutes, not a benchmark


def test_an_answer_against_the_measured_option_is_sent_back_then_overruled(state_home, tmp_path):
    g, checked = _flowchart(tmp_path / "flow.png")
    q = "What happens if “Paid already?” is Yes and “In stock?” is No?"
    choices = ["Ship it", "Order more", "Send reminder"]
    from multimodal_crew.vision.evidence import measured_answer

    assert measured_answer(q, [g], choices)[0] == "Order more"
    assert measured_answer("Which box is blue?", [g], choices) is None  # the facts name no option
    model = ScriptedModel({"rationale": "It ships the order."}, {"answer": "Ship it"}, {"answer": "Order more"})
    r = SeeAnswer.model_validate(run_flow("see", {"image": checked.path, "question": q, "choices": choices},
                                          model=model).data)  # fmt: skip
    assert r.answer == "Order more" and r.answer_from == "model"  # told once, it followed the facts
    refused = model.requests[2][0][-1]["content"]
    assert "That reply was rejected" in refused and "'Order more'" in refused
    assert "The option these measurements support: Order more" in model.requests[0][0][-1]["content"]
    model = ScriptedModel({"rationale": "It ships the order."}, {"answer": "Ship it"})
    r = SeeAnswer.model_validate(run_flow("see", {"image": checked.path, "question": q, "choices": choices},
                                          model=model).data)  # fmt: skip
    assert r.answer == "Order more" and r.answer_from == "measurement" and r.choice_index == 1
    assert len(model.requests) == 3  # rationale, answer, the one retry
