"""Table rows read from a PDF page's layout (knowledge/tables.py): a synthetic statement written word by
word at known coordinates, and real pages of the SEC 10-Q filings when they are on this machine."""

from __future__ import annotations

from pathlib import Path

import pymupdf
import pytest

from multimodal_crew.knowledge.loaders import load_document
from multimodal_crew.knowledge.tables import ROWS_HEADING, rows_block, table_rows
from multimodal_crew.knowledge.text import locate

SEC = Path("/work/shared/data/rag/sec10q")
needs_sec = pytest.mark.skipif(not (SEC / "2023 Q1 AAPL.pdf").is_file(), reason=f"{SEC} is not on this machine")


def words_of(items: list[tuple[float, float, str]], tmp_path: Path, size: float = 9) -> list[tuple]:
    """The words PyMuPDF reads from a page with ``text`` written at each (x, y); a right-aligned number
    is given by its right edge as a negative x."""
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    for x, y, text in items:
        if x < 0:
            x = -x - pymupdf.get_text_length(text, fontname="helv", fontsize=size)
        page.insert_text((x, y), text, fontname="helv", fontsize=size)
    path = tmp_path / "t.pdf"
    doc.save(path)
    doc.close()
    with pymupdf.open(path) as d:
        return d[0].get_text("words")


STATEMENT = [
    (200, 60, "CONDENSED STATEMENTS OF OPERATIONS"),
    (420, 90, "Three Months Ended"),  # centred over both columns, narrower than their spacing
    (395, 102, "March 31,"),
    (405, 112, "2024"),
    (480, 102, "April 1,"),
    (488, 112, "2023"),
    (20, 130, "Net sales:"),
    (28, 142, "Products"),
    (370, 142, "$"),
    (-440, 142, "1,200"),
    (455, 142, "$"),
    (-525, 142, "1,050"),
    (28, 154, "Services"),
    (-440, 154, "300"),
    (-525, 154, "(25)"),
    (36, 166, "Total net sales"),
    (-440, 166, "1,500"),
    (-525, 166, "1,025"),
    (20, 182, "Gain on the sale of a building and of other long-lived"),
    (28, 194, "assets, net of tax"),
    (-440, 194, "12"),
    (-525, 194, "-"),
    (20, 230, "In 2023 we paid 4 dividends of $0.24 and bought back 1,000 shares in the second quarter."),
]


def test_rows_carry_their_label_section_and_column_headers(tmp_path):
    rows = table_rows(words_of(STATEMENT, tmp_path))
    three = "Three Months Ended"
    assert rows == [
        f"Net sales: Products | {three} March 31, 2024: $1,200 | {three} April 1, 2023: $1,050",
        f"Net sales: Services | {three} March 31, 2024: 300 | {three} April 1, 2023: (25)",
        f"Net sales: Total net sales | {three} March 31, 2024: 1,500 | {three} April 1, 2023: 1,025",
        f"Gain on the sale of a building and of other long-lived assets, net of tax | {three} March 31, 2024: 12"
        f" | {three} April 1, 2023: -",
    ]  # the prose line with numbers in it is no row


def test_a_heading_between_the_header_and_the_rows_names_them_and_the_header_still_heads_them(tmp_path):
    # "Operating Income (Loss)" (left of the columns, right above the rows) and "ASSETS" over "Current
    # assets:" stood between the header and the rows: the header was lost, and the rows had no columns
    items = [
        (400, 90, "Three Months Ended"),
        (405, 112, "2024"),
        (488, 112, "2023"),
        (20, 126, "Operating Income (Loss)"),
        (28, 140, "North America"),
        (-440, 140, "412"),
        (-525, 140, "(95)"),
        (28, 152, "AWS"),
        (-440, 152, "6,976"),
        (-525, 152, "5,403"),
    ]
    assert table_rows(words_of(items, tmp_path)) == [
        "Operating Income (Loss): North America | Three Months Ended 2024: 412 | Three Months Ended 2023: (95)",
        "Operating Income (Loss): AWS | Three Months Ended 2024: 6,976 | Three Months Ended 2023: 5,403",
    ]
    balance = [
        (395, 100, "March 31,"),
        (480, 100, "April 1,"),
        (405, 112, "2024"),
        (488, 112, "2023"),
        (20, 126, "ASSETS"),
        (20, 138, "Current assets:"),
        (28, 150, "Cash"),
        (-440, 150, "1,200"),
        (-525, 150, "1,050"),
    ]
    assert table_rows(words_of(balance, tmp_path)) == ["Current assets: Cash | March 31, 2024: 1,200 | April 1, 2023: 1,050"]


def test_a_page_of_prose_a_header_alone_and_an_empty_page_have_no_rows(tmp_path):
    prose = [
        (20, 100 + 12 * k, f"On March {k + 1}, 2024 the company paid 1,000 dollars to {k} vendors.") for k in range(5)
    ]
    assert table_rows(words_of(prose, tmp_path)) == []
    assert table_rows(words_of(STATEMENT[:6], tmp_path)) == []
    assert table_rows([]) == [] and rows_block([]) == ""


def test_the_block_is_appended_to_a_pdf_page_and_a_row_is_found_there_like_a_sentence(tmp_path):
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    for x, y, text in STATEMENT:
        if x < 0:
            x = -x - pymupdf.get_text_length(text, fontname="helv", fontsize=9)
        page.insert_text((x, y), text, fontname="helv", fontsize=9)
    doc.save(tmp_path / "statement.pdf")
    text = load_document(tmp_path / "statement.pdf").pages[0].text
    plain, block = text.split(ROWS_HEADING)
    assert "Total net sales\n" in plain and "1,500" in plain  # the page's own text comes first, unchanged
    row = "Net sales: Services | Three Months Ended March 31, 2024: 300 | Three Months Ended April 1, 2023: (25)"
    assert row in block and locate(row, text) is not None


@needs_sec
@pytest.mark.parametrize(
    ("file", "page", "row"),
    [
        (
            "2023 Q1 AAPL.pdf", 4,
            "Net sales: Products | Three Months Ended December 31, 2022: $96,388 | Three Months Ended December 25, "
            "2021: $104,429",
        ),
        (
            "2023 Q1 AAPL.pdf", 6,
            "Current assets: Cash and cash equivalents | December 31, 2022: $20,535 | September 24, 2022: $23,646",
        ),
        (
            "2023 Q2 AMZN.pdf", 4,
            "Net product sales | Three Months Ended June 30, 2022: $56,575 | Three Months Ended June 30, 2023: $59,032"
            " | Six Months Ended June 30, 2022: $113,030 | Six Months Ended June 30, 2023: $116,013",
        ),
        (
            "2023 Q3 AMZN.pdf", 25,
            "Operating Income (Loss): AWS | Three Months Ended September 30, 2022: 5,403 | Three Months Ended "
            "September 30, 2023: 6,976 | Nine Months Ended September 30, 2022: 17,636 | Nine Months Ended "
            "September 30, 2023: 17,464",
        ),
        ("2023 Q3 NVDA.pdf", 5, "Current assets: Inventories | October 29, 2023: 4,779 | January 29, 2023: 5,159"),
        (
            "2023 Q3 NVDA.pdf", 3,
            "Revenue | Three Months Ended October 29, 2023: $18,120 | Three Months Ended October 30, 2022: $5,931 | "
            "Nine Months Ended October 29, 2023: $38,819 | Nine Months Ended October 30, 2022: $20,923",
        ),
    ],
)  # fmt: skip
def test_rows_of_real_sec_statements(file, page, row):
    with pymupdf.open(SEC / file) as doc:
        assert row in table_rows(doc[page - 1].get_text("words"))
