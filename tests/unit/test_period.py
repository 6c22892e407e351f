"""A quoted table row backs only the values in the column of the question's period
(knowledge/tables.off_period_cells, used by steps/answer.check_citations)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from multimodal_crew.knowledge.tables import off_period_cells, row_cells
from multimodal_crew.models.structured import ValidationFailed
from multimodal_crew.steps.answer import check_citations

ROW = (
    "Net Sales: AWS | Three Months Ended June 30, 2022: 19,739 | Three Months Ended June 30, 2023: 22,140 | "
    "Six Months Ended June 30, 2022: 38,180 | Six Months Ended June 30, 2023: 43,494"
)
PAGE = f"Segment Information\nTable rows (label | column: value):\n{ROW}\n"
QUESTION = "What were AWS segment net sales for the three months ended June 30, 2023?"


def test_cells_of_another_date_or_length_are_off_period():
    assert row_cells(ROW)[1] == ("Three Months Ended June 30, 2023", "22,140")
    assert [v for _, v in off_period_cells(ROW, QUESTION)] == ["19,739", "38,180", "43,494"]
    # "quarter ended" is three months; a balance sheet's columns are dates alone
    assert [v for _, v in off_period_cells(ROW, "AWS net sales in the quarter ended June 30, 2022?")] == [
        "22,140", "38,180", "43,494",
    ]  # fmt: skip
    sheet = "Total assets | July 1, 2023: $335,038 | September 24, 2022: $352,755"
    assert off_period_cells(sheet, "Apple's total assets as of Jul. 1, 2023?") == [("September 24, 2022", "$352,755")]
    # no date in the question, a sentence, or a row without headers: nothing is off
    assert off_period_cells(ROW, "What were AWS net sales?") == []
    assert off_period_cells("As of June 25, 2022, obligations were $43.1 billion.", "As of June 25, 2022?") == []
    assert off_period_cells("AWS | 5,403 | 6,976", QUESTION) == []


def reply(answer: str, quote: str = ROW):
    return SimpleNamespace(
        abstained=False, answer=answer, citations=[SimpleNamespace(file="q2.pdf", page=24, quote=quote)]
    )


PASSAGES = [SimpleNamespace(file="q2.pdf", page=24)]


def read(file, page):
    return PAGE


def test_a_value_from_the_question_period_passes_and_one_from_another_column_is_fed_back_by_its_column():
    check_citations(reply("22,140 million dollars"), PASSAGES, read, QUESTION)
    with pytest.raises(ValidationFailed, match="in the column 'Six Months Ended June 30, 2023', another period"):
        check_citations(reply("$43,494 million"), PASSAGES, read, QUESTION)
    with pytest.raises(ValidationFailed, match="in none of the quotes"):
        check_citations(reply("$99,000 million"), PASSAGES, read, QUESTION)
    # a question about a period no column has: every value is off, the answer must abstain or cite another row
    with pytest.raises(ValidationFailed, match="another period"):
        check_citations(reply("22,140"), PASSAGES, read, "AWS net sales for the three months ended September 30, 2023?")
    # without a date in the question any column may answer
    check_citations(reply("43,494"), PASSAGES, read, "What were AWS net sales in the first half?")


def test_a_row_quoted_with_only_its_label_and_the_cell_used_verifies_and_points_at_the_whole_row():
    from multimodal_crew.knowledge.text import locate
    from multimodal_crew.steps.results import cite

    short = "Net Sales: AWS | Three Months Ended June 30, 2023: 22,140"
    check_citations(reply("22,140", short), PASSAGES, read, QUESTION)
    c = cite("q2.pdf", 24, short, PAGE)
    assert PAGE[c.start : c.end] == ROW
    # a cell the row does not have, another row's label, or a changed value do not verify
    for wrong in (
        "Net Sales: AWS | Nine Months Ended June 30, 2023: 22,140",
        "Net Sales: North America | Three Months Ended June 30, 2023: 22,140",
        "Net Sales: AWS | Three Months Ended June 30, 2023: 22,104",
    ):
        assert locate(wrong, PAGE) is None
        with pytest.raises(ValidationFailed, match="does not occur"):
            check_citations(reply("22,140", wrong), PASSAGES, read, QUESTION)
    # the short quote's cell is still checked against the question's period
    with pytest.raises(ValidationFailed, match="another period"):
        check_citations(
            reply("19,739", "Net Sales: AWS | Three Months Ended June 30, 2022: 19,739"), PASSAGES, read, QUESTION
        )


def test_the_period_of_a_question_in_another_language_is_read_from_its_translation():
    zh = "亚马逊截至2023年6月30日的三个月AWS净销售额是多少？"
    with pytest.raises(ValidationFailed, match="another period"):
        check_citations(reply("43,494"), PASSAGES, read, zh, QUESTION)
    check_citations(reply("22,140"), PASSAGES, read, zh, QUESTION)
