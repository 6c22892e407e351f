"""Forms read as marks and fields, with real OCR on forms drawn here: ticked, crossed and filled
checkboxes, radio buttons, headings above or on the options' row, labels left of their marks,
fields in boxes, on underlines and under their labels; a bordered table and plain text are not
forms. The question facts are checked on readings written out by hand."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw, ImageFont

from multimodal_crew.vision.describe import ocr_lines
from multimodal_crew.vision.images import load_image
from multimodal_crew.vision.marks import form_question_facts, form_text, read_form

DV = "/usr/share/fonts/truetype/dejavu/"
ZH = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"


def _font(path: str, size: int = 18):
    try:
        return ImageFont.truetype(path, size)
    except OSError:
        pytest.skip(f"font {path} is not installed")


def _mark(d, x, y, s, kind, style, on, ink="#1a3a8f"):
    if kind == "radio":
        d.ellipse([x, y, x + s, y + s], outline="#222222", width=2)
        if on:
            c, r = (x + s / 2, y + s / 2), s * 0.27
            d.ellipse([c[0] - r, c[1] - r, c[0] + r, c[1] + r], fill=ink)
        return
    d.rectangle([x, y, x + s, y + s], outline="#222222", width=2)
    if on and style == "tick":
        d.line([(x + 0.18 * s, y + 0.5 * s), (x + 0.42 * s, y + 0.8 * s), (x + 1.05 * s, y - 0.2 * s)], fill=ink,
               width=4, joint="curve")  # fmt: skip
    elif on and style == "x":
        d.line([(x + 4, y + 4), (x + s - 4, y + s - 4)], fill=ink, width=3)
        d.line([(x + 4, y + s - 4), (x + s - 4, y + 4)], fill=ink, width=3)
    elif on:
        d.rectangle([x + 4, y + 4, x + s - 4, y + s - 4], fill=ink)


def _row(d, x, y, options, on, f, kind="box", style="tick", s=17, gap=44):
    for opt in options:
        _mark(d, x, y + 3, s, kind, style, opt in on)
        d.text((x + s + 10, y), opt, font=f, fill="#222222")
        x += s + 10 + int(d.textlength(opt, font=f)) + gap


def _column(d, x, y, options, on, f, kind="box", style="x", s=17):
    for opt in options:
        _mark(d, x, y + 3, s, kind, style, opt in on)
        d.text((x + s + 10, y), opt, font=f, fill="#222222")
        y += 34


def _save(img, tmp_path, name):
    p = tmp_path / name
    img.save(p)
    return load_image(p)


def _read(image):
    form = read_form(image, ocr_lines(image))
    return form.as_dict() if form else None


def _n(s: str) -> str:
    return s.replace(" ", "").lower()


def _group(d, heading):
    return next(g for g in d["groups"] if _n(g["heading"]) == _n(heading))


def _marked(g):
    return [_n(o["label"]) for o in g["options"] if o["marked"]]


def _field(d, label):
    return next(_n(f["value"]) for f in d["fields"] if _n(f["label"]) == _n(label))


@pytest.fixture(scope="module")
def english(tmp_path_factory):
    f, b, v = (
        _font(DV + "DejaVuSans.ttf"),
        _font(DV + "DejaVuSans-Bold.ttf", 19),
        _font(DV + "DejaVuSerif-Italic.ttf", 19),
    )
    img = Image.new("RGB", (760, 640), "white")
    d = ImageDraw.Draw(img)
    d.text((40, 24), "BOOKING FORM", font=_font(DV + "DejaVuSans-Bold.ttf", 26), fill="#111111")
    d.text((40, 80), "Arrival date:", font=f, fill="#222222")
    d.rectangle([200, 74, 520, 110], outline="#333333")
    d.text((210, 81), "13 June 2025", font=v, fill="#1a3a8f")
    d.text((40, 130), "Room type:", font=f, fill="#111111")  # heading above a row: ticks
    _row(d, 60, 162, ["Single", "Double", "Twin"], {"Double"}, f, style="tick")
    d.text((40, 212), "Extras", font=b, fill="#111111")  # a bold heading over a column: crosses
    _column(d, 60, 244, ["Breakfast", "Parking", "Late checkout"], {"Breakfast", "Late checkout"}, f, style="x")
    d.text((40, 356), "Payment method:", font=f, fill="#111111")  # heading on the row: filled squares
    _row(d, 220, 356, ["Cash", "Card", "Cheque"], {"Card"}, f, style="fill")
    d.text((40, 410), "Contact by:", font=f, fill="#111111")  # radio buttons
    _row(d, 180, 410, ["Email", "Phone", "Post"], {"Phone"}, f, kind="radio")
    d.text((40, 466), "Work phone:", font=f, fill="#222222")  # an underline
    d.line([(200, 496), (520, 496)], fill="#333333", width=1)
    d.text((210, 470), "0101 335 6537", font=v, fill="#1a3a8f")
    d.text((40, 520), "Number of guests:", font=f, fill="#222222")  # a label above its box
    d.rectangle([40, 548, 300, 584], outline="#333333")
    d.text((50, 555), "3", font=v, fill="#1a3a8f")
    return _read(_save(img, tmp_path_factory.mktemp("form"), "booking.png"))


def test_checkboxes_ticked_crossed_filled_and_radios(english):
    assert english is not None
    assert _marked(_group(english, "Room type")) == ["double"]
    assert _marked(_group(english, "Extras")) == ["breakfast", "latecheckout"]
    assert [_n(o["label"]) for o in _group(english, "Extras")["options"]] == ["breakfast", "parking", "latecheckout"]
    assert _marked(_group(english, "Payment method")) == ["card"]
    g = _group(english, "Contact by")
    assert _marked(g) == ["phone"] and {o["kind"] for o in g["options"]} == {"radio"}


def test_fields_in_boxes_on_lines_and_under_labels(english):
    assert _field(english, "Arrival date") == "13june2025"
    assert _field(english, "Work phone") == "01013356537"
    assert _field(english, "Number of guests") == "3"


def test_text_and_question_facts_from_a_reading(english):
    text = form_text(english)
    assert "[x] Double" in text.replace("Double", "Double") and "[ ] Single" in text
    facts = form_question_facts(english, "Which option is selected under “Room type”?")
    assert facts[0].startswith("under “Room") and _n(facts[0]).split(":")[1].startswith("double")
    facts = form_question_facts(english, "Which option is NOT ticked under “Extras”?")
    assert "NOT marked are: Parking" in facts[0]
    facts = form_question_facts(english, "How many boxes are ticked under “Extras”?")
    assert "number of marked boxes is: 2" in facts[0]
    assert "13 June 2025" in form_question_facts(english, "What has been filled in for “Arrival date”?")[0]


def test_chinese_radios_and_labels_left_of_their_marks(tmp_path):
    f = _font(ZH, 19)
    img = Image.new("RGB", (720, 300), "#fbfbf7")
    d = ImageDraw.Draw(img)
    d.text((40, 24), "会员申请表", font=_font(ZH, 26), fill="#111111")
    d.text((40, 84), "姓名：", font=f, fill="#222222")
    d.rectangle([150, 78, 450, 114], outline="#333333")
    d.text((160, 85), "张伟", font=f, fill="#1a3a8f")
    d.text((40, 140), "会员等级：", font=f, fill="#111111")
    _row(d, 150, 140, ["普通会员", "银卡会员", "金卡会员"], {"金卡会员"}, f, kind="radio")
    d.text((40, 200), "Newsletter:", font=_font(DV + "DejaVuSans.ttf"), fill="#111111")
    x = 180
    for opt, on in (("Yes", True), ("No", False)):  # the label left of its box
        d.text((x, 200), opt, font=_font(DV + "DejaVuSans.ttf"), fill="#222222")
        w = int(d.textlength(opt, font=_font(DV + "DejaVuSans.ttf")))
        _mark(d, x + w + 10, 203, 17, "box", "x", on)
        x += w + 80
    r = _read(_save(img, tmp_path, "zh.png"))
    assert r is not None
    assert _marked(_group(r, "会员等级")) == ["金卡会员"]
    assert _field(r, "姓名") == "张伟"
    assert _marked(_group(r, "Newsletter")) == ["yes"]
    facts = form_question_facts(r, "“会员等级”下选中的是哪一项？")
    assert facts[0].startswith("“会员等级”下选中的是：金卡会员")


def test_a_bordered_table_and_plain_text_are_not_forms(tmp_path):
    f = _font(DV + "DejaVuSans.ttf")
    img = Image.new("RGB", (640, 260), "white")
    d = ImageDraw.Draw(img)
    rows = [["City", "Visitors", "Growth"], ["Lisbon", "1200", "4%"], ["Osaka", "950", "2%"], ["Leeds", "430", "7%"]]
    for i, row in enumerate(rows):
        for j, cell in enumerate(row):
            x0, y0 = 40 + j * 180, 30 + i * 48
            d.rectangle([x0, y0, x0 + 180, y0 + 48], outline="#222222", width=2)
            d.text((x0 + 12, y0 + 13), cell, font=f, fill="#111111")
    assert _read(_save(img, tmp_path, "table.png")) is None
    img = Image.new("RGB", (640, 200), "white")
    d = ImageDraw.Draw(img)
    for i, t in enumerate(["Opening hours: Monday to Friday", "Our office is on the second floor.",
                           "Please book a room before you come: o Oslo, o Oaks."]):  # fmt: skip
        d.text((40, 30 + 40 * i), t, font=f, fill="#111111")
    assert _read(_save(img, tmp_path, "text.png")) is None


def test_question_facts_match_names_without_spaces_and_in_chinese():
    d = {"type": "form", "groups": [
        {"heading": "Roomtype", "options": [{"label": "Single", "marked": True}, {"label": "Double", "marked": False}]},
        {"heading": "兴趣爱好", "options": [{"label": "阅读", "marked": True}, {"label": "旅行", "marked": False},
                                        {"label": "音乐", "marked": True}]},
    ], "fields": [{"label": "Workphone", "value": "01013356537"}, {"label": "Email", "value": ""}]}  # fmt: skip
    assert form_question_facts(d, "Which room type is ticked on the form?")[0] == (
        "under “Roomtype” the marked option is: Single (not marked: Double)"
    )
    assert form_question_facts(d, "What is written in the “Work phone” field?")[0] == (
        "the field “Workphone” holds: 01013356537"
    )
    assert "is empty" in form_question_facts(d, "What is the email given?")[0]
    assert (
        form_question_facts(d, "“兴趣爱好”中哪一项没有被勾选？")[0]
        == "“兴趣爱好”下没有勾选的是：旅行（已勾选：阅读、音乐）"
    )
    assert form_question_facts(d, "“兴趣爱好”中有几个选项被勾选？")[0].startswith("“兴趣爱好”下被勾选的选项个数是：2")
    assert "Double” is not marked" in " ".join(form_question_facts(d, "Is Double ticked?"))


def test_see_gives_the_model_the_marked_option(state_home, tmp_path):
    from multimodal_crew.flows import run_flow
    from multimodal_crew.steps.vision import SeeAnswer
    from tests.fakes import ScriptedModel

    f = _font(DV + "DejaVuSans.ttf")
    img = Image.new("RGB", (700, 260), "white")
    d = ImageDraw.Draw(img)
    d.text((40, 30), "Room type:", font=f, fill="#111111")
    _row(d, 60, 62, ["Single", "Double", "Twin"], {"Double"}, f, style="tick")
    d.text((40, 130), "Contact by:", font=f, fill="#111111")
    _row(d, 180, 130, ["Email", "Phone", "Post"], {"Email"}, f, kind="radio")
    image = _save(img, tmp_path, "form.png")
    model = ScriptedModel({"rationale": "Double is ticked under Room type."}, {"answer": "Double"})
    q = "Which option is selected under “Room type”?"
    r = SeeAnswer.model_validate(run_flow("see", {"image": image.path, "question": q,
                                                  "choices": ["Single", "Double", "Twin"]}, model=model).data)  # fmt: skip
    assert r.answer == "Double" and r.tables[0]["type"] == "form" and r.confidence == "normal"
    sent = _n(model.requests[0][0][-1]["content"])
    assert "[x]double" in sent and "markedoptionis:double" in sent
