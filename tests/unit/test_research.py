"""The research flow's wiring, citation check and revision loop, with scripted fake models over a real store."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from multimodal_crew.flows.research import ResearchFlow, citation_problems, clean_report
from multimodal_crew.knowledge.ingest import ingest
from multimodal_crew.knowledge.retrieval import EmptyKnowledgeError, Retriever
from tests.fakes import HashEmbedder, ScriptedRuntime
from tests.unit.test_knowledge import FIX, make_store

TOPIC = {"topic": "elevator maintenance duties"}
PLAN = '{"questions": ["When must the elevator door sensors be replaced?"]}'
SEARCH = {"tool": "knowledge_search", "arguments": {"query": "elevator door sensors", "file": ""}}
FINDINGS = "The door sensors of elevator B must be replaced within 30 days (contract.pdf, p. 2)"
GOOD = "# Elevator duties\n\nThe contractor must replace elevator B's door sensors within 30 days (contract.pdf, p. 2)."
BAD = "# Elevator duties\n\nThe contractor must repaint the elevators every week (contract.pdf, p. 9)."
APPROVE = '{"approved": true, "problems": []}'


@pytest.fixture
def retriever(tmp_path) -> Retriever:
    folder = tmp_path / "docs"
    shutil.copytree(FIX / "good", folder)
    emb = HashEmbedder()
    store = make_store(emb)
    ingest([folder], embedder=emb, store=store)
    return Retriever(store, emb)


def run(retriever, model, progress=None):
    return ResearchFlow(model=model, retriever=retriever, progress=progress).kickoff(inputs=dict(TOPIC))


def test_a_bad_citation_is_sent_back_and_the_revision_passes(retriever):
    model = ScriptedRuntime([PLAN, SEARCH, FINDINGS, BAD, APPROVE, GOOD], {"covered": True}, APPROVE)
    steps = []
    r = run(retriever, model, steps.append)
    assert r.status == "passed" and r.rounds == 1 and (r.citations, r.citations_verified) == (1, 1)
    revision_prompt = str(model.llm._seen[5]["messages"])
    assert "(contract.pdf, p. 9) is not a page the research found" in revision_prompt
    assert "(contract.pdf, p. 2)" in revision_prompt  # the pages that may be cited
    assert model.llm._seen[1]["tools"][0]["function"]["name"] == "knowledge_search"
    out = Path(r.output_dir)
    assert (out / "report.md").read_text() == GOOD
    assert {"draft-0.md", "draft-1.md", "evidence.json", "steps.jsonl", "result.json"} <= {
        p.name for p in out.iterdir()
    }
    assert any(h["file"] == "contract.pdf" and h["page"] == 2 for h in json.loads((out / "evidence.json").read_text()))
    log = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    assert [e["agent"] for e in log if e["agent"] in ("writer", "critic")] == ["writer", "critic"]
    assert any("revision 1/2" in s for s in steps)


def test_a_model_that_keeps_failing_stops_after_n_rounds_and_says_why(retriever):
    model = ScriptedRuntime([PLAN, SEARCH, FINDINGS, BAD, APPROVE, BAD], {"covered": True}, APPROVE)
    r = run(retriever, model)
    assert r.status == "failed_review" and r.rounds == 2
    assert any("p. 9) is not a page the research found" in p for p in r.problems)
    assert r.output_dir.split("/")[-1].split("-")[2] == "failed_review"


def test_the_critic_can_reject_a_draft_whose_citations_verify(retriever):
    reject = '{"approved": false, "problems": ["the 30 days claim is not in the findings"]}'
    model = ScriptedRuntime([PLAN, SEARCH, FINDINGS, GOOD, reject, GOOD], {"covered": True}, reject)
    r = run(retriever, model)
    assert r.status == "failed_review" and "the 30 days claim is not in the findings" in r.problems


def test_a_topic_the_documents_do_not_cover_gets_no_invented_report(retriever):
    model = ScriptedRuntime([PLAN], {"covered": False})
    r = run(retriever, model)
    assert r.status == "not_covered" and "do not cover" in r.report and r.citations == 0
    assert model.llm._seen == []  # the crew never ran


def test_empty_knowledge_base(tmp_path):
    emb = HashEmbedder()
    with pytest.raises(EmptyKnowledgeError, match="nothing to research"):
        ResearchFlow(model=ScriptedRuntime([PLAN]), retriever=Retriever(make_store(emb), emb)).kickoff(
            inputs=dict(TOPIC)
        )


def test_an_interrupted_run_keeps_what_it_produced(retriever, state_home):
    model = ScriptedRuntime([PLAN, SEARCH, FINDINGS, KeyboardInterrupt()], {"covered": True})
    with pytest.raises(KeyboardInterrupt):
        run(retriever, model)
    kept = list((state_home / "outputs" / "research").glob("*-incomplete-*"))
    assert len(kept) == 1 and (kept[0] / "steps.jsonl").read_text().count("\n") >= 2


def test_citation_check_and_report_cleaning():
    found = {("contract.pdf", 2)}
    assert citation_problems("A (contract.pdf, p. 2). B (p. 2).", found) == ([], 2, 2)
    problems, n, ok = citation_problems("A (contract.pdf, p. 3).", found)
    assert (n, ok) == (1, 0) and "p. 3" in problems[0]
    assert citation_problems("No sources.", found)[0][0].startswith("the report cites no source")
    assert clean_report("# T\n## Current Task: Write a report\nBody (p. 2)") == "# T\nBody (p. 2)"
