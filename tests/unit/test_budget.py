"""The answer's prompt budget: units of text (sentences, table rows) and the ones nearest a question."""

from __future__ import annotations

from multimodal_crew.knowledge.text import best_units, units
from multimodal_crew.steps.answer import within_budget
from multimodal_crew.steps.knowledge import Passage

PAGE = (
    "Section 4: Elevators.\nElevator B failed its annual safety inspection on 3 March. The contractor must\n"
    "replace the door sensors of elevator B within 30 days of the inspection. Invoices are paid monthly.\n\n"
    "Table rows (label | column: value):\n"
    "Net sales: Products | Three Months Ended December 31, 2022: $96,388 | Three Months Ended December 25, 2021: $104,429\n"
    "Net sales: Services | Three Months Ended December 31, 2022: 20,766 | Three Months Ended December 25, 2021: 19,516\n"
)


def test_units_are_sentences_across_line_breaks_and_each_table_row():
    got = units(PAGE)
    assert "The contractor must\nreplace the door sensors of elevator B within 30 days of the inspection." in got
    assert [u for u in got if " | " in u][-2:] == PAGE.strip().splitlines()[-2:]
    assert "Invoices are paid monthly." in got


def test_the_best_unit_comes_with_its_neighbours_within_the_budget_in_text_order():
    got = best_units(PAGE, "What were net sales of services?", 300)
    assert got[-2].startswith("Net sales: Products") and got[-1].startswith("Net sales: Services")
    assert not any("door sensors" in u for u in got)
    assert best_units(PAGE, "What were net sales of services?", 120) == [PAGE.strip().splitlines()[-1]]
    assert best_units(PAGE, "door sensors elevator B", 10) == [
        "The contractor must\nreplace the door sensors of elevator B within 30 days of the inspection."
    ]  # over budget, the best unit is still given
    assert best_units("", "anything", 100) == []


def test_a_budget_of_zero_keeps_whole_passages_and_a_budget_is_shared():
    ps = [Passage(file="a.pdf", page=1, text=PAGE), Passage(file="b.pdf", page=2, text=PAGE)]
    assert within_budget(ps, "door sensors", 0) == ps
    cut = within_budget(ps, "door sensors", 200)
    assert all(len(p.text) < len(PAGE) and "door sensors" in p.text for p in cut)
    assert [(p.file, p.page) for p in cut] == [("a.pdf", 1), ("b.pdf", 2)]


def test_the_best_ranked_passages_get_the_larger_shares():
    ps = [Passage(file=f"{k}.pdf", page=1, text=PAGE) for k in range(5)]
    cut = within_budget(ps, "net sales of services door sensors elevator", 700)
    sizes = [len(p.text) for p in cut]
    assert sizes[0] >= sizes[1] >= sizes[2] and sizes[0] > sizes[4]  # shares 300, 200, 100, 100, 100
