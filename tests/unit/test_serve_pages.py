"""Page images with a highlighted quote (serve/pages.py), on real PDFs and PDFs made here with PyMuPDF.

Highlights are checked three ways: against ``page.search_for`` of the quote's single words (scaled to
pixels), by the yellow pixels of the decoded PNG, and by no yellow anywhere else.
"""

from __future__ import annotations

import hashlib
import io
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pymupdf
import pytest
from PIL import Image

from multimodal_crew.errors import InputError
from multimodal_crew.knowledge.text import locate
from multimodal_crew.serve.pages import fold, render_page
from tests.fakes import ROOT

CONTRACT = ROOT / "knowledge" / "harbor_tower_maintenance_contract.pdf"
RAG = Path("/work/shared/data/rag")
NORTHWIND = RAG / "northwind" / "Northwind_Standard_Benefits_Details.pdf"
AAPL = RAG / "sec10q" / "2023 Q1 AAPL.pdf"
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
needs_rag = pytest.mark.skipif(not NORTHWIND.is_file(), reason=f"{RAG} is not on this machine")


# ---------- helpers ----------


def make_pdf(path: Path, pages: list[list[tuple[float, str]]], font: str = "helv", fontfile: str | None = None):
    """A Letter-size PDF; each page is a list of (y, text) lines written at x=72 (text may hold newlines)."""
    doc = pymupdf.open()
    for lines in pages:
        page = doc.new_page(width=612, height=792)
        for y, text in lines:
            page.insert_text((72, y), text, fontsize=11, fontname=font, fontfile=fontfile)
    doc.save(path)
    doc.close()
    return path


def word_rects(pdf: Path, page: int, word: str, zoom: float = 2.0) -> list[tuple[float, ...]]:
    """Every occurrence of ``word`` on the page (page.search_for), in pixels of a render at ``zoom``."""
    with pymupdf.open(pdf) as doc:
        pg = doc[page - 1]
        m = pg.rotation_matrix * pymupdf.Matrix(zoom, zoom)
        return [tuple(r * m) for r in pg.search_for(word)]


def char_box(pdf: Path, page: int, char: str, zoom: float = 2.0) -> tuple[float, ...]:
    """The box of the first glyph ``char`` on the page, in pixels."""
    with pymupdf.open(pdf) as doc:
        for block in doc[page - 1].get_text("rawdict")["blocks"]:
            for line in block.get("lines", ()):
                for span in line["spans"]:
                    for ch in span["chars"]:
                        if ch["c"] == char:
                            return tuple(v * zoom for v in ch["bbox"])
    raise AssertionError(f"no {char!r} on page {page}")


def covered(box, rects, share: float = 0.8) -> bool:
    """Whether at least ``share`` of ``box`` lies inside the highlight rectangles."""
    x0, y0, x1, y1 = box
    area = (x1 - x0) * (y1 - y0)
    inside = sum(max(0.0, min(x1, a1) - max(x0, a0)) * max(0.0, min(y1, b1) - max(y0, b0)) for a0, b0, a1, b1 in rects)
    return area > 0 and inside >= share * area


def assert_words_highlighted(img, pdf: Path, words: list[str], zoom: float = 2.0):
    """Each word has an occurrence mostly inside the highlight; the highlight starts at the first word's left
    edge and ends at the last word's right edge."""
    for w in words:
        assert any(covered(r, img.rects) for r in word_rects(pdf, img.page, w, zoom)), f"{w!r} not highlighted"
    first = word_rects(pdf, img.page, words[0].lstrip('"“‘('), zoom)
    last = word_rects(pdf, img.page, words[-1].rstrip('"”’,.;:)'), zoom)
    assert any(abs(r[0] - img.rects[0][0]) < 2 and covered(r, img.rects) for r in first)
    assert any(abs(r[2] - img.rects[-1][2]) < 2 and covered(r, img.rects) for r in last)


def pixels(img) -> np.ndarray:
    im = Image.open(io.BytesIO(img.png))
    assert im.format == "PNG" and im.size == (img.width, img.height)
    return np.asarray(im.convert("RGB")).astype(int)


def yellow(px: np.ndarray) -> np.ndarray:
    r, g, b = px[..., 0], px[..., 1], px[..., 2]
    return (r > 200) & (g > 170) & (b < 120)


def assert_yellow_only_in_rects(img):
    mask = yellow(pixels(img))
    inside = np.zeros_like(mask)
    for x0, y0, x1, y1 in img.rects:
        box = mask[int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1))]
        assert box.mean() > 0.4, f"rect {(x0, y0, x1, y1)} is not yellow ({box.mean():.0%})"
        inside[max(int(y0) - 1, 0) : int(np.ceil(y1)) + 1, max(int(x0) - 1, 0) : int(np.ceil(x1)) + 1] = True
    assert not (mask & ~inside).any(), "yellow pixels outside the highlight"


def line_crossing_quote(text: str) -> str:
    """Four words before and after the first line break inside a paragraph of ``text``."""
    lines = text.split("\n")
    for a, b in zip(lines, lines[1:], strict=False):
        if len(a.split()) >= 6 and len(b.split()) >= 6:
            return " ".join(a.split()[-4:]) + "\n" + " ".join(b.split()[:4])
    raise AssertionError("no paragraph with a line break")


# ---------- real PDFs ----------


def test_a_quote_crossing_a_line_of_the_knowledge_contract_is_highlighted_on_both_lines():
    with pymupdf.open(CONTRACT) as doc:
        text = doc[1].get_text()
    quote = line_crossing_quote(text)
    img = render_page(CONTRACT, 2, quote.replace("\n", " "))
    assert img.found and not img.continues and not img.continued
    assert len(img.rects) == 2 and img.rects[1][1] > img.rects[0][3] - 1  # two lines, one under the other
    assert_words_highlighted(img, CONTRACT, quote.split())
    assert (img.width, img.height) == (1190, 1684)
    assert_yellow_only_in_rects(img)


def test_every_sentence_locate_finds_on_a_contract_page_is_found_on_its_image():
    with pymupdf.open(CONTRACT) as doc:
        texts = [p.get_text() for p in doc]
    checked = 0
    for n, text in enumerate(texts, start=1):
        for sentence in re.split(r"(?<=\.)\s+", text):
            if len(sentence) > 20 and locate(sentence, text):
                img = render_page(CONTRACT, n, sentence, zoom=0.5, page_text=text)
                assert img.found and img.rects, (n, sentence)
                checked += 1
    assert checked > 20


def test_the_page_text_the_store_keeps_folds_to_the_same_characters_as_the_image_stream():
    from multimodal_crew.serve.pages import _stream

    with pymupdf.open(CONTRACT) as doc:
        for page in doc:
            assert _stream(page).text == fold(page.get_text())


@needs_rag
def test_a_quote_crossing_a_page_break_in_northwind_is_split_between_the_two_pages():
    with pymupdf.open(NORTHWIND) as doc:
        end, start = doc[3].get_text().rstrip(), doc[4].get_text().lstrip()
    quote = " ".join(end.split()[-6:] + start.split()[:6])
    first, second = render_page(NORTHWIND, 4, quote), render_page(NORTHWIND, 5, quote)
    assert first.found and first.continues and not first.continued
    assert second.found and second.continued and not second.continues
    assert_words_highlighted(first, NORTHWIND, end.split()[-6:])
    assert_words_highlighted(second, NORTHWIND, start.split()[:6])
    assert first.rects[-1][1] > first.height * 0.6  # the bottom of page 4
    assert second.rects[0][3] < second.height * 0.4  # the top of page 5
    assert render_page(NORTHWIND, 6, quote).found is False


@needs_rag
def test_a_line_in_a_10q_table_page_with_curly_apostrophes_is_highlighted():
    img = render_page(AAPL, 6, "Total shareholders' equity")  # the PDF has a curly apostrophe
    assert img.found and len(img.rects) == 1
    assert_words_highlighted(img, AAPL, ["Total", "shareholders’", "equity"])
    assert_yellow_only_in_rects(img)


def test_a_quote_not_on_the_page_still_returns_the_image():
    img = render_page(CONTRACT, 3, "the elevator was painted blue")
    assert not img.found and img.rects == [] and not img.continues and not img.continued
    assert not yellow(pixels(img)).any()
    assert render_page(CONTRACT, 3).found is False and render_page(CONTRACT, 3, " ... ").found is False


# ---------- PDFs made here ----------


def test_wrapped_text_with_different_whitespace_and_case_is_highlighted(tmp_path):
    pdf = tmp_path / "wrap.pdf"
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    body = "The contractor must clear all roof drains every quarter, and again within 48 hours after a storm warning."
    assert page.insert_textbox(pymupdf.Rect(72, 72, 260, 300), body, fontsize=11) > 0
    doc.save(pdf)
    img = render_page(pdf, 1, "ROOF   drains every\tquarter, and AGAIN within 48 hours")
    assert img.found and len(img.rects) >= 2
    assert_words_highlighted(img, pdf, ["roof", "drains", "every", "quarter,", "again", "within", "48", "hours"])
    assert_yellow_only_in_rects(img)


@pytest.mark.parametrize("quote", ["pay the maintenance fee before", "pay the mainte- nance fee before"])
def test_a_word_hyphenated_at_a_line_end_is_highlighted(tmp_path, quote):
    pdf = make_pdf(
        tmp_path / "hyphen.pdf", [[(100, "The tenant must pay the mainte-\nnance fee before the first day.")]]
    )
    img = render_page(pdf, 1, quote)
    assert img.found and len(img.rects) == 2
    assert_words_highlighted(img, pdf, ["pay", "the", "mainte", "nance", "fee", "before"])
    assert covered(char_box(pdf, 1, "-"), img.rects)  # the hyphen at the line end too


def test_plain_fi_in_the_pdf_matches_a_quote_with_ligatures_and_curly_quotes(tmp_path):
    pdf = make_pdf(tmp_path / "plain.pdf", [[(100, 'The "first" floor is filled with office space.')]])
    img = render_page(pdf, 1, "The “ﬁrst” ﬂoor is ﬁlled")
    assert img.found and pymupdf.open(pdf)[0].search_for("The “ﬁrst” ﬂoor is ﬁlled") == []  # search_for misses it
    assert_words_highlighted(img, pdf, ["The", '"first"', "floor", "is", "filled"])


@pytest.mark.skipif(not DEJAVU.is_file(), reason="DejaVu Sans (Debian fonts-dejavu-core) is not installed")
def test_ligature_glyphs_and_curly_quotes_in_the_pdf_match_a_plain_quote(tmp_path):
    text = "The “ﬁrst” ﬂoor of the owner’s building"
    pdf = make_pdf(tmp_path / "lig.pdf", [[(100, text)]], font="dejavu", fontfile=str(DEJAVU))
    with pymupdf.open(pdf) as doc:
        assert "ﬁ" in doc[0].get_text()  # the ligature really is one character in the PDF
    img = render_page(pdf, 1, 'the "first" floor of the owner\'s')
    assert img.found and len(img.rects) == 1 and pymupdf.open(pdf)[0].search_for("owner's") == []
    assert_words_highlighted(img, pdf, ["The", "owner’s"])


def test_chinese_text_crossing_a_line_with_different_punctuation_is_highlighted(tmp_path):
    lines = [(100, "大楼管理规定如下：住户必须在晚上十点以后保持安静，"), (120, "垃圾每天早上八点前放到一楼的回收室。")]
    pdf = make_pdf(tmp_path / "zh.pdf", [lines], font="china-s")
    img = render_page(pdf, 1, "住户必须在晚上十点以后保持安静, 垃圾每天早上八点前")
    assert img.found and len(img.rects) == 2
    assert_words_highlighted(img, pdf, ["住户必须", "保持安静", "垃圾每天", "八点前"])
    assert_yellow_only_in_rects(img)


@pytest.mark.parametrize(
    "font,end,start,quote",
    [
        ("helv", "The deposit is returned to the tenant within", "thirty days after the keys are handed back.",
         "returned to the tenant within thirty days after the keys"),
        ("china-s", "押金在住户交还钥匙", "以后的三十天内退还。", "押金在住户交还钥匙以后的三十天内"),
    ],
)  # fmt: skip
def test_a_quote_crossing_a_page_break_past_a_footer_and_a_header(tmp_path, font, end, start, quote):
    page1 = [(100 + 14 * i, f"Rule {i}: visitors sign the book at the desk.") for i in range(20)]
    page1 += [(400, end), (760, "Page 1 of 2")]
    page2 = [(40, "Harbor Tower house rules"), (100, start), (130, "Rule 21: pets stay on a lead.")]
    pdf = make_pdf(tmp_path / "break.pdf", [page1, page2], font=font)
    first, second = render_page(pdf, 1, quote), render_page(pdf, 2, quote)
    assert (first.found, first.continues, first.continued) == (True, True, False)
    assert (second.found, second.continues, second.continued) == (True, False, True)
    part1, part2 = quote[: len(quote) // 3], quote[-len(quote) // 3 :]
    assert any(covered(r, first.rects) for r in word_rects(pdf, 1, part1.split()[0]))
    assert not any(covered(r, first.rects) for r in word_rects(pdf, 1, "Page"))  # the footer is not highlighted
    assert any(covered(r, second.rects) for r in word_rects(pdf, 2, part2.split()[-1]))
    assert_yellow_only_in_rects(first)
    assert_yellow_only_in_rects(second)


def test_a_quote_wholly_at_the_top_of_the_next_page_is_not_claimed_by_this_page(tmp_path):
    pdf = make_pdf(
        tmp_path / "top.pdf", [[(100, "Rules about the lobby and the desk.")], [(100, "the desk is open all day")]]
    )
    assert render_page(pdf, 1, "the desk is open all day").found is False
    assert render_page(pdf, 2, "the desk is open all day").found is True


def test_page_text_picks_the_occurrence_a_citation_points_at(tmp_path):
    lines = [(100, "A therapist visits the residents weekly."), (130, "Police caught the rapist quickly.")]
    pdf = make_pdf(tmp_path / "twice.pdf", [lines])
    with pymupdf.open(pdf) as doc:
        text = doc[0].get_text()
    first = render_page(pdf, 1, "the rapist")  # letters only: "therapist" comes first
    cited = render_page(pdf, 1, "the rapist", page_text=text)  # where locate() puts it: the second line
    in_therapist, alone = sorted(word_rects(pdf, 1, "rapist"), key=lambda r: r[1])
    assert covered(in_therapist, first.rects) and not covered(alone, first.rects)
    assert covered(alone, cited.rects) and not covered(in_therapist, cited.rects)


def test_a_rotated_page_is_highlighted_in_image_coordinates(tmp_path):
    pdf = tmp_path / "rot.pdf"
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    page.insert_text((72, 100), "The roof membrane is inspected each spring.", fontsize=11)
    page.set_rotation(90)
    doc.save(pdf)
    img = render_page(pdf, 1, "membrane is inspected")
    assert (img.width, img.height) == (1584, 1224) and img.found
    assert_words_highlighted(img, pdf, ["membrane", "is", "inspected"])
    assert_yellow_only_in_rects(img)


def test_zoom_scales_the_image_and_the_rectangles():
    small, large = render_page(CONTRACT, 2, "Elevator B", zoom=1.0), render_page(CONTRACT, 2, "Elevator B", zoom=3.0)
    assert (small.width, small.height) == (595, 842) and (large.width, large.height) == (1785, 2526)
    assert large.rects[0] == pytest.approx(tuple(3 * v for v in small.rects[0]), abs=0.2)


def test_the_pdf_on_disk_is_never_changed():
    before = hashlib.sha256(CONTRACT.read_bytes()).hexdigest(), CONTRACT.stat().st_mtime_ns
    render_page(CONTRACT, 2, "Elevator B")
    assert (hashlib.sha256(CONTRACT.read_bytes()).hexdigest(), CONTRACT.stat().st_mtime_ns) == before


def test_a_rewritten_file_is_read_again_not_served_from_the_cache(tmp_path):
    pdf = make_pdf(tmp_path / "v.pdf", [[(100, "first version of the rules")]])
    assert render_page(pdf, 1, "first version").found
    make_pdf(pdf, [[(100, "second version of the rules")], [(100, "a new page")]])
    assert render_page(pdf, 1, "second version").found and render_page(pdf, 2, "a new page").found


def test_concurrent_requests_give_the_same_rectangles_as_one_at_a_time():
    jobs = [(n, q) for n, q in [(2, "Elevator B"), (3, "roof drains"), (7, "4,850 euros"), (8, "Dana Lee")]] * 4
    serial = [render_page(CONTRACT, n, q).rects for n, q in jobs]
    with ThreadPoolExecutor(8) as pool:
        parallel = list(pool.map(lambda job: render_page(CONTRACT, *job).rects, jobs))
    assert parallel == serial and all(serial)


# ---------- bad input: one line naming file and page ----------


def _encrypted(path: Path) -> Path:
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "secret")
    doc.save(path, encryption=pymupdf.PDF_ENCRYPT_AES_256, owner_pw="owner", user_pw="user")
    return path


@pytest.mark.parametrize(
    "make,page,reason",
    [
        (lambda d: d / "missing.pdf", 1, "file not found"),
        (lambda d: d, 1, "not a regular file"),
        (lambda d: (d / "notes.pdf").write_text("just some notes") and d / "notes.pdf", 1, "not a PDF"),
        (lambda d: (d / "bad.pdf").write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 8) and d / "bad.pdf", 1, "corrupt"),
        (lambda d: _encrypted(d / "locked.pdf"), 1, "encrypted"),
        (lambda d: CONTRACT, 0, "no such page (the PDF has 8 pages)"),
        (lambda d: CONTRACT, 9, "no such page (the PDF has 8 pages)"),
        (lambda d: CONTRACT, True, "whole number"),
    ],
)
def test_bad_input_is_one_line_naming_the_file_and_the_page(tmp_path, make, page, reason):
    path = make(tmp_path)
    with pytest.raises(InputError) as err:
        render_page(path, page, "anything")
    msg = str(err.value)
    assert reason in msg and path.name in msg and "\n" not in msg
    if page is not True:
        assert f"page {page}" in msg


@pytest.mark.parametrize(
    "name,reason",
    [("truncated.pdf", "corrupt PDF"), ("encrypted.pdf", "encrypted PDF"), ("not_a_pdf.pdf", "not a PDF")],
)
def test_the_broken_ingest_fixtures_are_refused_without_their_server_path(name, reason):
    path = ROOT / "tests" / "fixtures" / "knowledge" / "broken" / name
    with pytest.raises(InputError) as err:
        render_page(path, 1, "anything")
    assert str(err.value).startswith(f"cannot show {name} page 1: {reason}")
    assert "fixtures" not in str(err.value)


def test_a_scanned_pdf_renders_with_nothing_found():
    img = render_page(ROOT / "tests" / "fixtures" / "knowledge" / "broken" / "scanned.pdf", 1, "anything")
    assert not img.found and img.width > 0 and pixels(img).shape == (img.height, img.width, 3)


@pytest.mark.parametrize("zoom", [0, -1, 9, float("nan"), "2"])
def test_a_bad_zoom_is_refused(zoom):
    with pytest.raises(InputError, match="zoom must be above 0"):
        render_page(CONTRACT, 1, zoom=zoom)


def test_an_overlong_quote_is_refused():
    with pytest.raises(InputError, match="longer than"):
        render_page(CONTRACT, 1, "word " * 2000)


@needs_rag
def test_a_quoted_table_row_highlights_its_label_and_its_values_on_the_labels_line():
    row = (
        "Net sales: Services | Three Months Ended December 31, 2022: 20,766 | Three Months Ended December 25, "
        "2021: 19,516"
    )
    img = render_page(AAPL, 4, row, zoom=1.0)
    assert img.found and len(img.rects) >= 3
    label, *values = img.rects[-3:]
    centre = (label[1] + label[3]) / 2
    assert all(v[1] <= centre <= v[3] for v in values)  # the values of this row, not another's 20,766
    assert values[0][0] > label[2] + 200 and values[1][0] > values[0][2]  # in the columns, left to right
    with pymupdf.open(AAPL) as doc:
        words = doc[3].get_text("words")
    got = {w[4] for w in words if any(_inside(w, r) for r in img.rects)}
    assert {"Services", "20,766", "19,516"} <= got and "117,154" not in got


def _inside(word, rect, slack: float = 1.0) -> bool:
    cx, cy = (word[0] + word[2]) / 2, (word[1] + word[3]) / 2
    return rect[0] - slack <= cx <= rect[2] + slack and rect[1] - slack <= cy <= rect[3] + slack


@needs_rag
def test_a_row_label_that_occurs_twice_is_highlighted_where_its_values_are():
    row = "Cost of sales: Services | Three Months Ended December 31, 2022: 6,057 | Three Months Ended December 25, 2021: 5,393"
    img = render_page(AAPL, 4, row, zoom=1.0)
    with pymupdf.open(AAPL) as doc:
        words = doc[3].get_text("words")
    got = [w[4] for w in words if any(_inside(w, r) for r in img.rects)]
    assert got == ["Services", "6,057", "5,393"]
