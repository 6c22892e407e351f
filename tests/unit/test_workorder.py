"""The work-order flow (config/flows/workorder.yaml): the guard on cited pages, the text cut after the
signature, and citations quoted from the pages, with a scripted fake crew over a real store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from multimodal_crew.crews.workorder.steps import WorkOrderResult, check_email, email_citations
from multimodal_crew.errors import ModelBehaviorError
from multimodal_crew.flows import run_flow
from multimodal_crew.steps.knowledge import Passage
from multimodal_crew.steps.results import Citation, cited_pages
from tests.fakes import ScriptedRuntime

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "knowledge"
INPUTS = {"section": "elevator inspection", "signature": "Dana Lee", "recipient": "Bluewater Facilities"}
SEARCH = {"tool": "knowledge_search", "arguments": {"query": "elevator inspection", "file": ""}}
FINDINGS = "Elevator B failed its inspection; its door sensors must be replaced within 30 days (contract.pdf, p. 2)."
EMAIL = (
    "Subject: Elevator B door sensors\n\nDear Bluewater Facilities,\n\nElevator B failed its annual safety "
    "inspection, so please replace the door sensors of elevator B within 30 days (contract.pdf, p. 2).\n\n"
    "Regards,\nDana Lee\n\nNotes to self: done."
)
SENSORS = "The contractor must replace the door\nsensors of elevator B within 30 days of the inspection."


def run(retriever, model, **inputs):
    r = run_flow("workorder", {**INPUTS, **inputs}, model=model, retriever=retriever)
    return r, WorkOrderResult.model_validate(r.data)


def test_cited_pages_are_parsed():
    text = "Please fix the sensors (p. 2) and the drains (contract.pdf, p. 3); see also pages 4, and pp. 5-6."
    assert cited_pages(text) == [("", 2), ("contract.pdf", 3), ("", 5), ("", 6)]


def test_the_guard_accepts_only_found_pages_that_exist():
    found = {("contract.pdf", 2), ("contract.pdf", 3)}

    def exists(f, p):
        return f == "contract.pdf" and p in (1, 2, 3)

    assert check_email("Replace the sensors (p. 2). Clear drains (contract.pdf, p. 3).", found, exists) == []
    assert check_email("Fix it (p. 1).", found, exists) == ["p. 1 was not among the pages the research found"]
    assert check_email("Fix it (contract.pdf, p. 9).", found, exists)
    assert check_email("Fix it soon.", found, exists)[0].startswith("the email cites no page")


def test_text_after_the_signature_is_cut():
    from multimodal_crew.crews.workorder.steps import trim_after_signature

    email = "Hi,\nFix it (p. 2).\nDana Lee\n\nProblems: ... ends with the signature Dana Lee. (p. 1)"
    assert trim_after_signature(email, "Dana Lee") == "Hi,\nFix it (p. 2).\nDana Lee"


def test_a_page_cited_without_a_quote_is_quoted_with_the_sentence_the_email_sentence_overlaps_most():
    page2 = "Section 4: Elevators.\nElevator B failed its annual safety inspection on 3 March. " + SENSORS + "\n"
    page3 = "Section 5: Roof.\nThe roof drains on the north side are blocked with leaves."
    passages = [Passage(file="contract.pdf", page=2, text=page2, doc_id="d1"),
                Passage(file="contract.pdf", page=3, text=page3, doc_id="d1")]  # fmt: skip
    pages = {("contract.pdf", 2): "\n" + page2, ("contract.pdf", 3): page3}
    email = "Please replace elevator B's door sensors within 30 days (p. 2). And see to the roof (contract.pdf, p. 3)."
    cites, problems = email_citations(email, passages, lambda f, p: pages.get((f, p)))
    assert problems == []
    assert [(c.file, c.page, c.doc_id) for c in cites] == [("contract.pdf", 2, "d1"), ("contract.pdf", 3, "d1")]
    assert cites[0].quote == " ".join(SENSORS.split())  # the sentence about the sensors, not the failed inspection
    assert pages[("contract.pdf", 2)][cites[0].start : cites[0].end] == SENSORS.rstrip(".")  # offsets on the page
    assert cites[1].quote == "Section 5: Roof."  # the sentence sharing most of "see to the roof"
    (first,), _ = email_citations("Call them today (p. 3).", passages, lambda f, p: pages.get((f, p)))
    assert first.quote == "Section 5: Roof." and page3[first.start : first.end] == "Section 5: Roof"  # no overlap
    _, missing = email_citations("Fix it (p. 7).", passages, lambda f, p: pages.get((f, p)))
    assert missing == ["p. 7: no sentence of a found passage is on that page"]


def test_the_flow_drafts_checks_cites_and_saves_the_email(retriever):
    model = ScriptedRuntime([SEARCH, FINDINGS, EMAIL])
    r, res = run(retriever, model)
    assert r.status == "ok" and r.text.endswith("Dana Lee") and "Notes to self" not in r.text
    assert model.llm.seen[0]["tools"][0]["function"]["name"] == "knowledge_search"
    assert [(c.file, c.page) for c in r.citations] == [("contract.pdf", 2)]
    c = r.citations[0]
    assert isinstance(c, Citation) and c.quote == " ".join(SENSORS.split())
    page = retriever.store.page_text("contract.pdf", 2)
    assert " ".join(page[c.start : c.end].split()) == " ".join(SENSORS.split()).rstrip(".")
    assert ("contract.pdf", 2) in res.found and res.revisions == 0
    out = Path(r.output_dir)
    assert (out / "email.md").read_text() == r.text and (out / "findings.md").read_text() == FINDINGS
    assert any(h["page"] == 2 for h in json.loads((out / "evidence.json").read_text()))
    assert sorted(r.files) == sorted(str(out / f) for f in ("email.md", "evidence.json", "findings.md"))
    assert {"prepare_knowledge", "knowledge_search", "workorder_draft", "workorder_guard"} <= set(r.timings)


def test_a_page_the_research_did_not_find_is_revised_once(retriever):
    bad = EMAIL.replace("(contract.pdf, p. 2)", "(contract.pdf, p. 9)")
    model = ScriptedRuntime([SEARCH, FINDINGS, bad, EMAIL])
    r, res = run(retriever, model)
    assert res.revisions == 1 and [c.page for c in r.citations] == [2]
    revise_prompt = str(model.llm.seen[-1]["messages"])
    assert "contract.pdf p. 9 was not among the pages the research found" in revise_prompt
    assert "Sources the research found: " in revise_prompt and "contract.pdf p. 2" in revise_prompt


def test_an_email_that_stays_wrong_fails_and_publishes_nothing(retriever, state_home):
    bad = EMAIL.replace("(contract.pdf, p. 2)", "(contract.pdf, p. 9)")
    with pytest.raises(ModelBehaviorError, match=r"failed its page check after 1 revision: contract.pdf p. 9"):
        run(retriever, ScriptedRuntime([SEARCH, FINDINGS, bad, bad]))
    assert not [p for p in (state_home / "outputs" / "workorder").glob("*") if not p.name.startswith(".")]


def test_the_workorder_step_alone_does_what_the_flow_does(retriever):
    from multimodal_crew.steps import Deps, call_step

    out = call_step("workorder", INPUTS, Deps(model=ScriptedRuntime([SEARCH, FINDINGS, EMAIL]), retriever=retriever))
    assert isinstance(out, WorkOrderResult) and [(c.file, c.page) for c in out.citations] == [("contract.pdf", 2)]
    assert out.email.endswith("Dana Lee") and Path(out.output_dir, "email.md").is_file()
