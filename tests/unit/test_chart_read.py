"""Charts measured and tables read as grids, with real OCR on charts drawn here with known values
(tests/chart_fixtures.py); the facts computed from them; the per-question limits of offline mode."""

from __future__ import annotations

import pytest

from multimodal_crew.flows import run_flow
from multimodal_crew.steps.vision import SeeAnswer
from multimodal_crew.vision.chart import read_chart
from multimodal_crew.vision.describe import describe, ocr_lines
from multimodal_crew.vision.facts import facts, question_facts, table_rows, table_text
from multimodal_crew.vision.grid import read_grid
from multimodal_crew.vision.images import load_image
from multimodal_crew.vision.limits import offline_limit
from multimodal_crew.vision.reading import colour_name, parse_number
from tests import chart_fixtures as fx
from tests.fakes import ScriptedModel


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """Each fixture chart drawn once, read once: (truth, chart or grid, OCR lines)."""
    d = tmp_path_factory.mktemp("charts")
    out = {}
    for name, make in [
        ("labelled", lambda p: fx.vertical_bars(p, "all")),
        ("unlabelled", lambda p: fx.vertical_bars(p, "none")),
        ("some", lambda p: fx.vertical_bars(p, "some")),
        ("horizontal", fx.horizontal_bars),
        ("grouped", fx.grouped_bars),
        ("stacked", fx.stacked_bars),
        ("lines", fx.lines),
        ("zh", fx.zh_bars),
        ("table", fx.table_image),
    ]:
        path, truth = make(d / f"{name}.png")
        img = load_image(str(path))
        lines = ocr_lines(img)
        out[name] = (truth, read_chart(img, lines), lines, img)
    return out


def _errors(truth: dict, chart) -> list[float]:
    errs = []
    for series, vals in truth["series"].items():
        for cat, want in zip(truth["categories"], vals, strict=True):
            got = next(
                v for v in chart.values if v.category == cat and (v.series == series or len(truth["series"]) == 1)
            )
            errs.append(abs(got.measured - want) / abs(want))
    return errs


@pytest.mark.parametrize("name", ["labelled", "unlabelled", "some", "horizontal", "grouped", "stacked", "lines", "zh"])
def test_every_value_is_measured_within_two_percent(drawn, name):
    truth, chart, _, _ = drawn[name]
    assert chart is not None
    assert chart.categories == truth["categories"] or sorted(chart.categories) == sorted(truth["categories"])
    errs = _errors(truth, chart)
    assert len(errs) == sum(len(v) for v in truth["series"].values())
    assert max(errs) <= 0.02, errs


def test_orientation_kind_and_stacking(drawn):
    assert (drawn["horizontal"][1].orientation, drawn["horizontal"][1].kind) == ("horizontal", "bar")
    assert drawn["stacked"][1].stacked and not drawn["grouped"][1].stacked
    assert drawn["lines"][1].kind == "line"


def test_printed_labels_win_and_agree_with_the_measurement(drawn):
    some = drawn["some"][1]
    hows = {v.category: v.how for v in some.values}
    assert hows == {"North": "label", "South": "measured", "East": "label", "West": "measured", "Centre": "label"}
    north = some.cell("North", "")
    assert north.value == 34.0 and north.label == "34" and abs(north.measured - 34) < 0.5
    assert not some.notes  # label and measurement agree


def test_legend_maps_colours_and_line_styles_to_series(drawn):
    assert drawn["grouped"][1].series == {"Tea": "green bars (#2ca02c)", "Coffee": "purple bars (#9467bd)"}
    looks = drawn["lines"][1].series
    assert looks["Rome"].startswith("red dashed line") and looks["Bergen"].startswith("blue solid line")
    q = question_facts("Which city is the dashed line?", [drawn["lines"][1].as_dict()])
    assert "the dashed line is the series: Rome" in q
    q = question_facts("Which drink is shown by the green bars?", [drawn["grouped"][1].as_dict()])
    assert "the green bars are the series: Tea" in q


def test_chart_facts_compare_in_code(drawn):
    f = facts(drawn["unlabelled"][1].as_dict())
    assert f[0].startswith("values: largest South (71), smallest West (17.9)")  # shown to the 0.1 measured
    stacked = facts(drawn["stacked"][1].as_dict())
    assert any(s.startswith("stack totals (all series): largest Q4 (65") for s in stacked)
    line = " ".join(facts(drawn["lines"][1].as_dict()))
    assert "Rome: changes Jan→Feb +" in line and "overall it rises" in line and "no decrease" in line
    diff = question_facts("How much higher is Centre than North?", [drawn["unlabelled"][1].as_dict()])
    assert diff and diff[0].startswith("Centre 62.9") and "= 28.9" in diff[0]


def test_a_table_becomes_a_grid_with_merged_header_and_empty_cell(drawn):
    truth, chart, lines, img = drawn["table"]
    assert chart is None
    grid = read_grid(lines, img.width)
    assert grid.header == truth["header"]
    assert [r[0] for r in grid.rows] == ["Falcons", "Rovers", "Comets"]
    assert grid.rows[1][2] == ""  # the empty cell is kept, under its header
    assert "| Rovers | " in table_text(grid.as_dict()) and "(empty)" in table_text(grid.as_dict())
    t = grid.as_dict()
    f = facts(t)
    assert any("column Score Away is empty in the row(s): Rovers" in s for s in f)
    q = question_facts("How many teams scored more than 10 Away?", [t])
    assert "column Score Away: 1 row(s) above 10 (Comets), 1 below (Falcons)" in q


def test_receipt_totals_are_not_the_largest_item():
    t = {"type": "table", "title": "SHOP", "header": ["column 1", "column 2"],
         "rows": [["Coffee", "8.18"], ["Bread", "2.40"], ["TOTAL", "10.58"]]}  # fmt: skip
    assert facts(t)[0].startswith("column 2: largest Coffee (8.18), smallest Bread (2.4)")


def test_text_that_is_no_chart_or_table_gives_neither(tmp_path):
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (400, 200), "white")
    ImageDraw.Draw(img).text((20, 80), "NO PARKING", fill="black")
    img.save(tmp_path / "sign.png")
    d = describe(load_image(str(tmp_path / "sign.png")))
    assert d.tables == []


def test_numbers_and_colour_names():
    assert [parse_number(s) for s in ["1,250", "−3.5", "$40", "12%", "Q1", "2023a"]] == [1250, -3.5, 40, 12, None, None]
    assert [colour_name(c) for c in [(44, 160, 44), (214, 39, 40), (31, 119, 180), (255, 127, 14), (127, 127, 127)]] == [
        "green", "red", "blue", "orange", "grey"]  # fmt: skip


def test_table_rows_print_how_each_value_was_obtained(drawn):
    title, header, rows = table_rows(drawn["some"][1].as_dict())
    assert header == ["category", "series", "value", "how"] and title == "vertical bar chart"
    assert rows[0][2] == "34" and rows[0][3].startswith("label 34 (measured 3")
    assert rows[1][3].startswith("measured ±")
    assert "Chart read by measurement" in table_text(drawn["some"][1].as_dict())


@pytest.mark.parametrize(
    ("question", "tables", "limited"),
    [
        ("How many circles overlap the square?", [], True),
        ("Which shape is left of the square?", [], True),
        ("图中有几个红色的圆？", [], True),
        ("What is the total on the receipt?", [], False),
        ("How many rows are above 10?", [{"type": "table"}], False),
        ("Between which months did it increase most?", [{"type": "chart"}], False),
    ],
)
def test_offline_limits_per_question(question, tables, limited):
    assert bool(offline_limit(question, tables)) is limited


def test_the_see_result_carries_tables_facts_and_low_confidence(state_home, drawn, tmp_path):
    _, chart, _, img = drawn["grouped"]
    model = ScriptedModel({"rationale": "Tea is the green bars."}, {"answer": "Tea"})
    q = "Which drink is shown by the green bars?"
    r = SeeAnswer.model_validate(run_flow("see", {"image": img.path, "question": q, "choices": ["Tea", "Coffee"]},
                                          model=model).data)  # fmt: skip
    assert r.confidence == "normal" and not r.limits
    assert r.tables and r.tables[0]["type"] == "chart" and r.tables[0]["image"] == 1
    sent = model.requests[0][0][-1]["content"]
    assert "Chart read by measurement" in sent and "the green bars are the series: Tea" in sent
    model = ScriptedModel({"rationale": "There seem to be two shapes."}, {"answer": "2"})
    r = SeeAnswer.model_validate(run_flow("see", {"image": img.path, "question": "How many circles are there?",
                                                  "choices": ["1", "2"]}, model=model).data)  # fmt: skip
    assert r.tables  # a chart was found, so "how many" is about its values: no limit
    from PIL import Image

    Image.new("RGB", (200, 200), "white").save(tmp_path / "blank.png")
    model = ScriptedModel({"rationale": "There seem to be two shapes."}, {"answer": "2"})
    result = run_flow("see", {"image": str(tmp_path / "blank.png"), "question": "How many circles are there?",
                              "choices": ["1", "2"]}, model=model)  # fmt: skip
    r = SeeAnswer.model_validate(result.data)
    assert r.confidence == "low" and "does not see shapes" in r.limits
    assert "Confidence: low" in result.text


def test_cli_show_table_prints_the_values_read(state_home):
    import json as _json
    from pathlib import Path

    from tests.fakes import FakeOpenAIServer, mmcrew

    line = Path(__file__).resolve().parents[2] / "bench/data/vision/images/line_0.png"
    replies = [_json.dumps({"rationale": "It rose most from Feb to Mar."}), _json.dumps({"answer": "Feb-Mar"})]
    with FakeOpenAIServer(replies, models=("fake",)) as srv:
        env = {"MODEL": "openai/fake", "MMCREW_API_BASE": srv.url + "/v1", "MMCREW_VISION_MODEL": "offline"}
        proc = mmcrew("see", str(line), "Between which months did it rise most?", "-c", "Feb-Mar", "-c", "Jan-Feb",
                      "--show-table", env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "vertical line chart" in proc.stdout and "category" in proc.stdout and "label" in proc.stdout
    assert "Answer: Feb-Mar" in proc.stdout


# -- issue 18: the charts-and-tables dev set (bench/make_vision_dev_charts.py, images committed) -------
DEV = __import__("pathlib").Path(__file__).resolve().parents[2] / "bench/data/vision_dev_charts/images"


@pytest.fixture(scope="module")
def dev():
    """A few dev-set images, each read once with real OCR: name -> (chart or None, grid or None)."""
    out = {}
    for name in ["bar_en_07", "bar_en_09", "line_zh_03", "table_en_02", "table_zh_03"]:
        img = load_image(str(DEV / f"{name}.png"))
        lines = ocr_lines(img)
        chart = read_chart(img, lines)
        out[name] = (chart, None if chart else read_grid(lines, img.width))
    return out


def test_bars_hanging_from_a_zero_line_are_negative(dev):
    chart = dev["bar_en_07"][0]
    assert chart.kind == "bar" and not chart.stacked
    got = {v.category: v.measured for v in chart.values}
    want = {"Alba": 12, "Brio": -8, "Cora": 5, "Dune": -15, "Elm": 20}
    assert all(abs(got[c] - w) <= 0.4 for c, w in want.items()), got
    q = question_facts("How many companies had a negative profit change?", [chart.as_dict()])
    assert "2 below 0 (Brio, Dune)" in " ".join(q)


def test_legend_entries_may_be_numbers(dev):
    chart = dev["bar_en_09"][0]
    assert set(chart.series) == {"2019", "2024"} and chart.series["2024"].startswith("red bars")
    assert all(v.how == "measured" for v in chart.values)  # the legend's "2019" is no value label
    q = question_facts("Which city had fewer tourists in 2024 than in 2019?", [chart.as_dict()])
    assert "2024 is larger than 2019 in: Paris, Madrid; smaller in: Berlin" in q


def test_a_dotted_line_ending_in_a_gap_still_has_its_last_point(dev):
    chart = dev["line_zh_03"][0]
    assert abs(chart.cell("周五", "乙店").measured - 48) <= 1
    q = question_facts("周五哪家店的客流量更高？", [chart.as_dict()])
    assert q[0].startswith("in 周五, the series with the largest value is 乙店")


def test_right_aligned_numbers_under_left_aligned_headers_and_a_title(dev):
    grid = dev["table_en_02"][1]
    assert grid.header == ["Product", "Units", "Price ($)", "Revenue ($k)"] and grid.title.startswith("Kitchen")
    assert len(grid.rows) == 6 and grid.rows[3] == ["Mixer", "310", "129", "40.0"]
    q = question_facts("How many products sold more than 800 units?", [grid.as_dict()])
    assert "column Units: 3 row(s) above 800 (Kettle, Toaster, Juicer)" in q[-1]
    q = question_facts("What is the price of the Blender?", [grid.as_dict()])
    assert "row Blender, column Price ($): 72" in q


def test_merged_chinese_headers_over_right_aligned_numbers(dev):
    grid = dev["table_zh_03"][1]
    assert grid.header[1:] == ["预算 (万元) 上半年", "预算 (万元) 下半年", "人数 上半年", "人数 下半年"]
    q = question_facts("销售部下半年的预算是多少万元？", [grid.as_dict()])
    assert q == ["row 销售部, column 预算 (万元) 下半年: 520"]
    q = question_facts("哪个部门下半年的预算比上半年少？", [grid.as_dict()])
    assert "is smaller in: 市场部;" in q[0]


def _chart(kind, cats, series, stacked=False):
    values = [{"category": c, "series": s, "value": v, "how": "measured", "uncertainty": 0.3, "measured": v,
               "label": ""} for s, vals in series.items() for c, v in zip(cats, vals, strict=True)]  # fmt: skip
    return {"type": "chart", "kind": kind, "orientation": "vertical", "stacked": stacked, "categories": cats,
            "series": {s: "" for s in series}, "values": values, "notes": [], "ticks": []}  # fmt: skip


def test_question_facts_answer_the_question_first():
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun"]
    line = _chart("line", months, {"": [14, 18, 25, 31, 27, 22]})
    q = question_facts("Between which two consecutive months did orders increase the most?", [line])
    assert q[0].startswith("the largest increase between neighbouring categories is Feb to Mar (+7)")
    q = question_facts("How do orders change from February to June?", [line])
    assert q[0] == "from Feb to Jun it rises, then falls (Feb 18 → Apr 31 → Jun 22)", q
    q = question_facts("About how many orders were there in May?", [line])
    assert q[0] == "value of May: ≈27"
    q = question_facts("Which month had the fewest orders?", [line])
    assert q[0].startswith("the category with the smallest value is Jan (14); then Feb 18")
    bars = _chart("bar", ["Q1", "Q2"], {"A": [30, 25], "B": [15, 30]}, stacked=True)
    q = question_facts("Which quarter has the largest total?", [bars])
    assert "by stack total, the category with the largest value is Q2 (55); then Q1 45" in q


def test_table_questions_name_columns_without_their_units():
    t = {"type": "table", "title": "", "header": ["城市", "销售额 (万元）", "门店数", "利润率"],
         "rows": [["北京", "1,250", "42", "8%"], ["上海", "1,480", "51", ""], ["广州", "960", "28", "9%"]]}  # fmt: skip
    assert question_facts("哪个城市的销售额最高？", [t])[0].startswith(
        "column 销售额 (万元）: the row with the largest value is 上海"
    )
    assert "column 门店数: 2 row(s) above 30 (北京, 上海), 1 below (广州)" in question_facts(
        "门店数超过30家的城市有几个？", [t]
    )
    assert question_facts("哪个城市的利润率为空？", [t])[0] == "the row(s) with an empty cell in column 利润率: 上海"


def test_chinese_numbers_with_their_units():
    assert [parse_number(s) for s in ["1.2万", "89元", "￥45", "96％", "%96", "2023年", "万", "40k", "$1.2M"]] == [
        12000, 89, 45, 96, 96, None, None, 40000, 1200000]  # fmt: skip
    t = {"type": "table", "title": "", "header": ["商品", "价格", "月销量"],
         "rows": [["雨伞", "45元", "8600"], ["台灯", "129元", "2.5万"], ["水壶", "35元", "3.1万"]]}  # fmt: skip
    assert question_facts("哪个商品的月销量最高？", [t])[0].startswith(
        "column 月销量: the row with the largest value is 水壶"
    )
    assert "column 价格: 1 row(s) above 100 (台灯)" in question_facts("价格超过100元的商品有几个？", [t])[0]


def test_a_dull_dark_red_is_brown():
    assert [colour_name(c) for c in [(140, 86, 75), (139, 0, 0), (214, 39, 40)]] == ["brown", "red", "red"]
