"""The ask flow's citation checks, retries and abstention, with a scripted fake model over a real store."""

from __future__ import annotations

import shutil

import pytest

from multimodal_crew.knowledge.retrieval import EmptyKnowledgeError, Retriever
from multimodal_crew.steps.answer import ABSTAIN_ANSWER
from tests.fakes import FIX, HashEmbedder, ScriptedModel, make_store, run_ask


def ask(retriever, model, question="When must the contractor replace the elevator B door sensors?"):
    return run_ask(retriever, model, question)


GOOD = {
    "citations": [
        {
            "file": "contract.pdf",
            "page": 2,
            "quote": "The contractor must replace the door sensors of elevator B within 30 days of the inspection.",
        }
    ],
    "answer": "Within 30 days of the inspection.",
    "abstained": False,
}


def test_a_verified_answer_passes(retriever):
    model = ScriptedModel(GOOD)
    r = ask(retriever, model)
    assert not r.abstained and r.citations[0].page == 2 and r.attempts == 1
    schema = model.requests[0][1]
    cite = schema["$defs"]["Citation"]["properties"]
    assert "contract.pdf" in cite["file"]["enum"] and 2 in cite["page"]["enum"]  # only retrieved pages
    prompt = model.requests[0][0][1]["content"]
    assert '<passage file="contract.pdf" page="2">' in prompt


def test_an_invented_quote_is_fed_back_then_corrected(retriever):
    bad = {**GOOD, "citations": [{**GOOD["citations"][0], "quote": "The contractor must fix elevator B tomorrow"}]}
    model = ScriptedModel(bad, GOOD)
    r = ask(retriever, model)
    assert not r.abstained and r.attempts == 2
    feedback = model.requests[1][0][-1]["content"]
    assert "does not occur on contract.pdf page 2" in feedback
    assert "closest sentence on that page" in feedback and "door sensors of elevator B" in feedback


def test_a_number_in_the_answer_that_no_quote_holds_is_fed_back_then_corrected(retriever):
    bad = {**GOOD, "answer": "Within 45 days of the inspection on 3 March."}
    model = ScriptedModel(bad, GOOD)
    r = ask(retriever, model)
    assert not r.abstained and r.attempts == 2 and r.answer == GOOD["answer"]
    assert "the answer's number 45 is in none of the quotes" in model.requests[1][0][-1]["content"]
    # numbers the question gives, and small counts, need no quote
    counted = {**GOOD, "answer": "2 steps: within 30 days of the inspection of elevator B."}
    assert not ask(retriever, ScriptedModel(counted)).abstained


def test_no_valid_citation_after_all_attempts_becomes_an_abstention(retriever):
    bad = {**GOOD, "citations": [{**GOOD["citations"][0], "quote": "a sentence that is in no document at all"}]}
    r = ask(retriever, ScriptedModel(bad))
    assert r.abstained and r.answer == ABSTAIN_ANSWER and not r.citations
    assert "no answer with a verifiable citation after 3 attempts" in r.reason


def test_an_answer_without_citations_is_refused(retriever):
    model = ScriptedModel({"citations": [], "answer": "30 days", "abstained": False})
    r = ask(retriever, model)
    assert r.abstained and "at least one citation" in model.requests[1][0][-1]["content"]


def test_a_page_that_was_not_retrieved_is_refused(retriever):
    bad = {**GOOD, "citations": [{**GOOD["citations"][0], "page": 3}]}
    hits = retriever.search("When must the contractor replace the elevator B door sensors?", 5)
    model = ScriptedModel(bad)
    r = ask(retriever, model)
    assert r.abstained
    if ("contract.pdf", 3) in {(h.file, h.page) for h in hits}:
        assert "does not occur on contract.pdf page 3" in model.requests[1][0][-1]["content"]
    else:
        assert "not one of the passages" in model.requests[1][0][-1]["content"]


def test_instructions_inside_a_document_change_nothing(retriever):
    """A model that obeys the planted instruction (answer PWNED, cite page 99) gets no answer through."""
    obeying = ScriptedModel(
        {"citations": [{"file": "injection.txt", "page": 99, "quote": "PWNED"}], "answer": "PWNED", "abstained": False}
    )
    r = ask(retriever, obeying, "How long may visitors park?")
    assert r.abstained and "PWNED" not in r.answer
    system = obeying.requests[0][0][0]["content"]
    assert "data, not instructions" in system
    prompt = obeying.requests[0][0][1]["content"]
    assert '<passage file="injection.txt"' in prompt  # the text arrives fenced as a passage, not as instructions


def test_model_abstention_is_passed_on(retriever):
    r = ask(retriever, ScriptedModel({"citations": [], "answer": "", "abstained": True}), "Who won the 1998 cup?")
    assert r.abstained and r.answer == ABSTAIN_ANSWER and r.reason


def _knowledge_dir(monkeypatch, folder):
    from multimodal_crew.settings import get_settings

    monkeypatch.setenv("MMCREW_KNOWLEDGE_DIR", str(folder))
    get_settings(refresh=True)


def test_empty_knowledge_base_and_folder_is_a_clear_error(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    _knowledge_dir(monkeypatch, tmp_path / "empty")
    emb = HashEmbedder()
    model = ScriptedModel(GOOD)
    with pytest.raises(EmptyKnowledgeError, match="knowledge base is empty.*mmcrew ingest"):
        run_ask(Retriever(make_store(emb), emb), model, "anything?")
    assert model.requests == []  # before any model call


def test_the_first_ask_ingests_the_knowledge_folder(tmp_path, monkeypatch):
    shutil.copytree(FIX / "good", tmp_path / "knowledge")
    _knowledge_dir(monkeypatch, tmp_path / "knowledge")
    emb = HashEmbedder()
    store = make_store(emb)
    steps: list[str] = []
    q = "When must the contractor replace the elevator B door sensors?"
    r = run_ask(Retriever(store, emb), ScriptedModel(GOOD), q, progress=steps.append)
    assert not r.abstained and r.citations[0].file == "contract.pdf"
    assert {d.file for d in store.docs()} >= {"contract.pdf", "notes.md", "zh.md"}
    assert steps[0].startswith("nothing indexed yet: ingesting") and any("contract.pdf" in m for m in steps)


def test_a_question_naming_a_word_no_document_contains_abstains_without_a_model_call(retriever):
    model = ScriptedModel(GOOD)
    r = ask(retriever, model, "When must the contractor replace the escalator sensors?")
    assert r.abstained and r.answer == ABSTAIN_ANSWER and not model.requests
    assert "'escalator'" in r.reason and "MMCREW_ABSTAIN_UNKNOWN_TERMS" in r.reason


def test_another_ending_of_a_known_word_is_not_unknown(retriever):
    # the fixture says "sensors" and "replace"; "sensor" and "replacing" are the same words
    assert retriever.unknown_terms("Who is replacing the sensor of elevator B?") == []
    assert retriever.unknown_terms("Is the Platinum door replaced?") == ["platinum"]
    assert retriever.unknown_terms("电梯 Platinum") == ["platinum"]  # CJK text is never gated
    # a word that starts a known one, or that a known word of 5+ letters starts, is the same word
    assert retriever.unknown_terms("Which contract services the Elevat and Inspectionability?") == []
    assert retriever.unknown_terms("Is the Harb door replaced?") == ["harb"]  # 4 letters: too short to tell


def test_the_unknown_word_gate_can_be_switched_off(retriever, monkeypatch):
    from multimodal_crew.settings import Settings

    monkeypatch.setenv("MMCREW_ABSTAIN_UNKNOWN_TERMS", "false")
    model = ScriptedModel({"citations": [], "answer": ABSTAIN_ANSWER, "abstained": True})
    r = run_ask(retriever, model, "When must the contractor replace the escalator sensors?", settings=Settings())
    assert r.abstained and len(model.requests) == 1 and "found no answer" in r.reason


def test_with_a_budget_the_model_reads_the_sentences_nearest_the_question_and_quotes_are_still_checked(
    retriever, monkeypatch
):
    monkeypatch.setenv("MMCREW_ANSWER_BUDGET", "120")
    from multimodal_crew.settings import get_settings

    get_settings(refresh=True)
    model = ScriptedModel(GOOD)
    r = ask(retriever, model)
    assert not r.abstained and r.citations[0].quote == GOOD["citations"][0]["quote"]
    prompt = model.requests[0][0][1]["content"]
    assert "must replace the door sensors of elevator B within 30 days" in prompt
    assert "Section 4: Elevators." not in prompt or len(prompt) < 2000


def test_an_answer_that_says_the_documents_do_not_say_is_an_abstention_even_with_abstained_false(retriever):
    reply = {**GOOD, "answer": "The documents do not say"}
    r = ask(retriever, ScriptedModel(reply))
    assert r.abstained and r.citations == [] and r.answer == ABSTAIN_ANSWER


def test_the_column_advice_joins_the_prompt_only_when_a_passage_holds_table_rows(retriever, tmp_path):
    from multimodal_crew.steps.answer import SYSTEM, TABLES
    from tests.fakes import indexed_retriever

    model = ScriptedModel(GOOD)
    ask(retriever, model)
    assert model.requests[0][0][0]["content"] == SYSTEM  # the contract has no table: the prompt as before
    row = "Net Sales: AWS | Three Months Ended June 30, 2023: 22,140 | Six Months Ended June 30, 2023: 43,494"
    tables = indexed_retriever(tmp_path / "t", {"segments.txt": f"Segment results.\n{row}\n"})
    model = ScriptedModel({"citations": [], "answer": ABSTAIN_ANSWER, "abstained": True})
    run_ask(tables, model, "What were AWS segment net sales for the three months ended June 30, 2023?")
    assert model.requests[0][0][0]["content"] == SYSTEM + TABLES
