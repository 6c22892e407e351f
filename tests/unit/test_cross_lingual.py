"""Questions in another language than the documents, and the unknown-word gate on new wording."""

from __future__ import annotations

import pytest

from multimodal_crew.knowledge.retrieval import Retriever
from multimodal_crew.knowledge.text import content_terms, script_of
from multimodal_crew.settings import get_settings
from tests.fakes import ScriptedModel, indexed_retriever, run_ask

ZH_QUESTION = "电梯B的门传感器必须在什么时候更换？"
EN_QUERY = {"query": "When must the contractor replace the door sensors of elevator B?"}
GOOD = {
    "citations": [
        {
            "file": "contract.pdf",
            "page": 2,
            "quote": "The contractor must replace the door sensors of elevator B within 30 days of the inspection.",
        }
    ],
    "answer": "检查后30天内。",
    "abstained": False,
}


@pytest.fixture
def retriever(tmp_path) -> Retriever:
    filing = "Apple's net sales for the quarter were $81.8 billion. The Commission's rules on long-term debt apply.\n"
    return indexed_retriever(tmp_path / "docs", {"filing.txt": filing})


def test_script_of():
    assert script_of(ZH_QUESTION) == "cjk" and script_of("When is it due?") == "latin" and script_of("42 !") == ""
    assert script_of("B号电梯的door sensors什么时候换？") == "cjk"


def test_possessives_and_connectives_are_not_unknown_words(retriever):
    assert "apple" in content_terms("What were Apple's net sales?") and "apple's" not in content_terms("Apple's")
    assert "besides" not in content_terms("What besides the deductible is owed?")
    assert retriever.unknown_terms("What were Apple's net sales besides services?") == []
    assert retriever.unknown_terms("What does the Commission's rule say about long-term debt?") == []
    assert retriever.unknown_terms("What were Amazon's net sales?") == ["amazon"]  # still names what is absent


def test_a_chinese_question_about_english_documents_is_searched_in_english(retriever):
    model = ScriptedModel(EN_QUERY, GOOD)
    steps: list[str] = []
    r = run_ask(retriever, model, ZH_QUESTION, progress=steps.append)
    assert len(model.requests) == 2
    assert "English" in model.requests[0][0][0]["content"] and model.requests[0][0][1]["content"] == ZH_QUESTION
    assert ("contract.pdf", 2) in {(x["file"], x["page"]) for x in r.retrieved}
    prompt = model.requests[1][0][-1]["content"]
    # the model reads the question in the documents' language first, then as asked
    assert f"Question: {EN_QUERY['query']}\n(Asked in Chinese: {ZH_QUESTION})" in prompt
    assert "Write the answer in Chinese" in prompt
    assert not r.abstained and r.answer == GOOD["answer"] and r.citations[0].page == 2
    assert "writing the search query in English" in steps


def test_a_translation_in_the_wrong_language_is_sent_back_then_the_question_is_searched(retriever):
    model = ScriptedModel({"query": "电梯门传感器"}, {"query": "电梯门传感器"}, {"query": "电梯门传感器"}, GOOD)
    run_ask(retriever, model, ZH_QUESTION)
    feedback = model.requests[1][0][-1]["content"]
    assert "must be written in English" in feedback


def test_no_translation_when_the_languages_match_or_it_is_switched_off(retriever, monkeypatch):
    model = ScriptedModel(GOOD)
    run_ask(retriever, model, "When must the contractor replace the elevator B door sensors?")
    assert len(model.requests) == 1
    monkeypatch.setenv("MMCREW_CROSS_LINGUAL", "false")
    get_settings(refresh=True)
    model = ScriptedModel(GOOD)
    run_ask(retriever, model, ZH_QUESTION)
    assert len(model.requests) == 1 and "Write the answer in" not in model.requests[0][0][-1]["content"]
