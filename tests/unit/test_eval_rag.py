"""Scoring of ``mmcrew eval rag`` (evals/rag.py): facts in the answer, right answers, per kind."""

from __future__ import annotations

import json

from multimodal_crew.evals.rag import has_fact, load_questions, summarise


def test_a_fact_is_found_whatever_its_dollar_sign_spaces_parentheses_and_case():
    assert has_fact("Net sales were $ 94,836 million.", "94,836")
    assert has_fact("a net loss of 2,028 million", "$(2,028)")
    assert has_fact("It is NORTHWIND HEALTH PLUS.", "Northwind Health Plus")
    assert not has_fact("about $94.8 billion", "94,836")
    assert not has_fact("", "12")


def test_lines_keep_their_facts_and_kind_and_the_summary_counts_them(tmp_path):
    data = tmp_path / "q.jsonl"
    lines = [
        {"question": "a?", "citations": [{"file": "f.pdf", "page_1based": 3}], "facts": ["1,200"], "kind": "table"},
        {"question": "b?", "citations": [{"file": "f.pdf", "page_1based": 4}], "kind": "narrative"},
        {"question": "c?", "citations": []},
    ]
    data.write_text("\n".join(json.dumps(x) for x in lines), encoding="utf-8")
    items = load_questions(data)
    assert [(i["kind"], i["facts"]) for i in items] == [("table", ["1,200"]), ("narrative", []), ("unanswerable", [])]

    def row(answerable, kind, cited, facts_ok, abstained):
        return {
            "answerable": answerable, "kind": kind, "gold_in_top5": cited, "retrieval_s": 0.01, "verified": [True],
            "gold_in_passages": cited, "gold_cited": cited, "facts_ok": facts_ok, "abstained": abstained,
            "error": "", "ask_s": 1.0,
        }  # fmt: skip

    rows = [
        row(True, "table", True, True, False),
        row(True, "table", True, False, False),
        row(True, "table", False, None, True),
        row(True, "narrative", True, None, False),
        row(False, "unanswerable", None, None, True),
    ]
    rows[2]["facts_ok"] = False  # abstained: its facts are not in "The documents do not say."
    s = summarise(rows)
    assert s["facts"] == {"share": 0.3333, "n": 3, "count": 1}
    assert s["right"]["count"] == 1 and s["false_abstain"]["count"] == 1
    assert s["by_kind"]["table"]["gold_cited"]["count"] == 2 and s["by_kind"]["narrative"]["facts"]["n"] == 0
