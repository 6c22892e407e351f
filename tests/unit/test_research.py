"""The research flow (config/flows/research.yaml): wiring, citation checks and the revision loop, with
scripted fake models over a real store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from multimodal_crew.crews.research.checks import (
    add_missing_sources,
    citation_problems,
    render_draft,
    report_citations,
    source_problems,
    unsupported_sentences,
    verify_findings,
)
from multimodal_crew.crews.research.models import Draft, Finding
from multimodal_crew.crews.research.steps import ResearchReport
from multimodal_crew.errors import InputError
from multimodal_crew.flows import run_flow
from multimodal_crew.knowledge.retrieval import EmptyKnowledgeError, Retriever
from multimodal_crew.knowledge.text import normalize
from multimodal_crew.settings import get_settings
from multimodal_crew.steps.results import Citation, RunResult
from tests.fakes import HashEmbedder, ScriptedRuntime, make_store

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "knowledge"

TOPIC = {"topic": "elevator maintenance duties"}
PLAN = '{"questions": ["When must the elevator door sensors be replaced?"]}'
SEARCH = {"tool": "knowledge_search", "arguments": {"query": "elevator door sensors", "file": ""}}
QUOTE = "The contractor must replace the door sensors of elevator B within 30 days of the inspection."
GOOD_FINDING = {"fact": "Elevator B's door sensors must be replaced within 30 days.", "file": "contract.pdf",
                "page": 2, "quote": QUOTE}  # fmt: skip
INVENTED = {"fact": "The elevators are repainted weekly.", "file": "contract.pdf", "page": 2,
            "quote": "The contractor must repaint the elevators every week."}  # fmt: skip
FINDINGS = json.dumps({"findings": [GOOD_FINDING, INVENTED]})
NONE_VERIFY = json.dumps({"findings": [INVENTED]})
DRAFT = json.dumps({"title": "Elevator duties", "paragraphs": [
    {"text": "The contractor must replace elevator B's door sensors within 30 days.", "sources": [1]}]})  # fmt: skip
DRAFT_BAD_NUMBER = json.dumps({"title": "Elevator duties", "paragraphs": [
    {"text": "The contractor must repaint the elevators every week.", "sources": [2]}]})  # fmt: skip
GOOD = (
    "# Elevator duties\n\nThe contractor must replace elevator B's door sensors within 30 days (contract.pdf, p. 2).\n"
)
APPROVE = '{"approved": true, "problems": []}'
REJECT = json.dumps({"problems": [{"paragraph": 1, "words": "elevator B's door sensors", "reason": "reworded"}],
                     "approved": False})  # fmt: skip
STANDS = 'paragraph 1: its quotes do not say "elevator B\'s door sensors" (reworded)'


def run(retriever, model, progress=None, **inputs) -> tuple[RunResult, ResearchReport]:
    """The research flow on fakes: its RunResult, and its typed report (``RunResult.data``)."""
    r = run_flow("research", {**TOPIC, **inputs}, model=model, retriever=retriever, progress=progress)
    return r, ResearchReport.model_validate(r.data)


def assert_points_at_its_quote(c: Citation, store) -> None:
    page = store.page_text(c.file, c.page)
    quote = normalize(c.quote).casefold().strip(" .\"'…")  # as locate() matches it: without its end punctuation
    assert isinstance(c, Citation) and normalize(page[c.start : c.end]).casefold() == quote


def test_findings_are_verified_on_their_pages_and_a_bad_source_number_is_sent_back(retriever):
    model = ScriptedRuntime([PLAN, SEARCH, FINDINGS, DRAFT_BAD_NUMBER, DRAFT, APPROVE])
    steps = []
    r, rep = run(retriever, model, steps.append)
    assert (r.status, rep.review, rep.rounds) == ("ok", "passed", 0)
    assert [(c.file, c.page, c.quote) for c in r.citations] == [("contract.pdf", 2, QUOTE)]
    assert_points_at_its_quote(r.citations[0], retriever.store)
    assert r.text == GOOD
    seen = model.llm.seen
    assert seen[1]["tools"][0]["function"]["name"] == "knowledge_search"
    shown = seen[1]["tools"][0]["function"]["parameters"]["properties"]  # what a small model can fill in
    assert set(shown) == {"query", "file"} and "mmcrew kb" not in json.dumps(shown)
    writer_prompt = str(seen[3]["messages"])
    assert QUOTE in writer_prompt and "repaint" not in writer_prompt  # the invented finding never reached the writer
    assert "the findings are numbered 1 to 1" in str(seen[4]["messages"])  # the guardrail's feedback
    out = Path(r.output_dir)
    assert (out / "report.md").read_text() == GOOD
    assert json.loads((out / "findings.json").read_text()) == [GOOD_FINDING]
    assert {"draft-0.md", "evidence.json", "steps.jsonl", "result.json", "plan.json"} <= {p.name for p in out.iterdir()}
    assert {str(out / "report.md"), str(out / "result.json")} <= set(r.files)
    assert any(h["file"] == "contract.pdf" and h["page"] == 2 for h in json.loads((out / "evidence.json").read_text()))
    log = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    assert any("dropped a finding: the quote 'The contractor must repaint" in e["step"] for e in log)
    assert any("1 of 2 findings verified" in s for s in steps)
    assert any("knowledge_search 'elevator door sensors': contract.pdf p. 2" in s for s in steps)


def test_a_pasted_passage_is_cut_to_the_sentence_closest_to_the_fact(retriever, monkeypatch):
    monkeypatch.setattr("multimodal_crew.crews.research.checks.MAX_QUOTE_CHARS", 100)
    page = "Section 4: Elevators. Elevator B failed its annual safety inspection on 3 March. " + QUOTE
    pasted = json.dumps({"findings": [{**GOOD_FINDING, "quote": page}]})
    model = ScriptedRuntime([PLAN, SEARCH, pasted, DRAFT, APPROVE])
    r, rep = run(retriever, model)
    assert rep.review == "passed"
    kept = json.loads((Path(r.output_dir) / "findings.json").read_text())
    assert kept[0]["quote"] == QUOTE and r.citations[0].quote == QUOTE


def test_a_misquote_of_a_sentence_on_the_page_is_replaced_by_the_page_s_words(retriever):
    misquote = "The contractor shall replace the door sensors of elevator B within 30 days after the inspection."
    model = ScriptedRuntime(
        [PLAN, SEARCH, json.dumps({"findings": [{**GOOD_FINDING, "quote": misquote}]}), DRAFT, APPROVE]
    )
    r, rep = run(retriever, model)
    assert rep.review == "passed"
    assert json.loads((Path(r.output_dir) / "findings.json").read_text())[0]["quote"] == QUOTE
    assert "replaced a misquote on (contract.pdf, p. 2)" in (Path(r.output_dir) / "steps.jsonl").read_text()
    assert_points_at_its_quote(r.citations[0], retriever.store)


def test_sentences_its_quotes_do_not_support_are_sent_back_even_when_the_critic_approves(retriever):
    made_up = json.dumps({"title": "Elevator duties", "paragraphs": [{"text": "The contractor must replace elevator "
                          "B's door sensors within 30 days. Repairs are free and include a yearly party for tenants.",
                          "sources": [1]}]})  # fmt: skip
    model = ScriptedRuntime([PLAN, SEARCH, FINDINGS, made_up, APPROVE], DRAFT, APPROVE)
    r, rep = run(retriever, model)
    assert rep.review == "passed" and rep.rounds == 1
    feedback = model.requests[0][0][-1]["content"]
    assert "'Repairs are free and include a yearly party for tenants.' are in none of its quotes" in feedback
    assert "door sensors within 30 days. are in none" not in feedback


def test_a_researcher_whose_quotes_are_its_own_tries_again_constrained_to_the_search_results(retriever):
    model = ScriptedRuntime(
        [PLAN, SEARCH, NONE_VERIFY, SEARCH, json.dumps({"findings": [GOOD_FINDING]}), DRAFT, APPROVE]
    )
    r, rep = run(retriever, model)
    assert rep.review == "passed"
    first, second = model.llm.seen[2]["output"], model.llm.seen[4]["output"]
    assert "enum" not in json.dumps(first.model_json_schema())
    schema = json.dumps(second.model_json_schema(), ensure_ascii=False)
    assert QUOTE in schema and "Section 4" not in schema  # sentences of the results; no heading
    assert "quoting only search results" in (Path(r.output_dir) / "steps.jsonl").read_text()


def test_a_quote_cited_to_the_wrong_page_moves_to_the_page_that_has_it(retriever):
    wrong = json.dumps({"findings": [{**GOOD_FINDING, "page": 3}]})
    search_both = {"tool": "knowledge_search", "arguments": {"query": "elevator door sensors roof drains", "file": ""}}
    r, rep = run(retriever, ScriptedRuntime([PLAN, search_both, wrong, DRAFT, APPROVE]))
    assert rep.review == "passed"
    assert json.loads((Path(r.output_dir) / "findings.json").read_text())[0]["page"] == 2
    assert r.citations[0].page == 2
    assert_points_at_its_quote(r.citations[0], retriever.store)


def test_a_sentence_copied_from_a_finding_the_paragraph_forgot_to_cite_gets_its_source():
    f = [Finding(**GOOD_FINDING), Finding(fact="x", file="contract.pdf", page=3,
         quote="The contractor must clear the roof drains every quarter and after storms.")]  # fmt: skip
    d = Draft.model_validate_json(json.dumps({"title": "T", "paragraphs": [{"text": "Elevator B's door sensors must "
        "be replaced within 30 days of the inspection. The roof drains must be cleared every quarter and after storms.",
        "sources": [1]}]}))  # fmt: skip
    assert add_missing_sources(d, f) == ["paragraph 1 now cites [2], whose quote it repeats"]
    assert d.paragraphs[0].sources == [1, 2] and unsupported_sentences(d, f) == []
    assert render_draft(d, f).endswith("(contract.pdf, p. 2; contract.pdf, p. 3).\n")


def test_a_heading_is_not_a_finding(retriever):
    heading = json.dumps({"findings": [{**GOOD_FINDING, "quote": "Section 4: Elevators."}]})
    r, rep = run(retriever, ScriptedRuntime([PLAN, SEARCH, heading, SEARCH, heading]))
    assert rep.review == "not_covered" and r.status == "incomplete" and r.citations == []


def test_the_critic_sends_the_draft_back_and_the_revision_passes(retriever):
    model = ScriptedRuntime([PLAN, SEARCH, FINDINGS, DRAFT, REJECT], DRAFT, APPROVE)
    r, rep = run(retriever, model)
    assert rep.review == "passed" and rep.rounds == 1
    revise_prompt = model.requests[0][0][-1]["content"]
    assert STANDS in revise_prompt and QUOTE in revise_prompt
    out = Path(r.output_dir)
    log = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    assert [e["agent"] for e in log if e["agent"] in ("writer", "critic")] == ["writer", "critic"]


def test_a_model_that_keeps_failing_stops_after_n_rounds_and_says_why(retriever):
    model = ScriptedRuntime([PLAN, SEARCH, FINDINGS, DRAFT, REJECT], DRAFT, REJECT, DRAFT, REJECT)
    r, rep = run(retriever, model)
    assert rep.review == "failed_review" and rep.rounds == 2
    assert r.status == "incomplete" and r.reason.startswith("failed review: ")
    assert STANDS in rep.problems
    assert r.output_dir.split("/")[-1].split("-")[2] == "failed_review"
    assert [c.quote for c in r.citations] == [QUOTE]  # what the last draft cites, still checked on its page


def test_a_revision_the_model_cannot_produce_ends_the_review_with_its_reason(retriever):
    model = ScriptedRuntime([PLAN, SEARCH, FINDINGS, DRAFT, REJECT], '{"title": "no paragraphs"}')
    r, rep = run(retriever, model)
    assert rep.review == "failed_review" and rep.rounds == 1
    assert any("no valid Draft" in p for p in rep.problems) and STANDS in rep.problems


def test_a_critic_that_rejects_without_a_reason_is_asked_for_one(retriever):
    model = ScriptedRuntime([PLAN, SEARCH, FINDINGS, DRAFT, '{"approved": false, "problems": []}', REJECT],
                            DRAFT, APPROVE)  # fmt: skip
    r, rep = run(retriever, model)
    assert "name each problem" in str(model.llm.seen[5]["messages"])
    assert rep.review == "passed" and rep.rounds == 1


def test_an_objection_to_words_the_cited_quote_contains_is_overruled(retriever):
    quoted = json.dumps({"problems": [{"paragraph": 1, "words": "within 30 days", "reason": "unsupported"}],
                         "approved": False})  # fmt: skip
    r, rep = run(retriever, ScriptedRuntime([PLAN, SEARCH, FINDINGS, DRAFT, quoted]))
    assert rep.review == "passed" and rep.rounds == 0
    log = (Path(r.output_dir) / "steps.jsonl").read_text()
    assert "overruled the critic: paragraph 1's quote says 'within 30 days'" in log


def test_findings_that_never_verify_end_as_not_covered_without_a_report(retriever):
    model = ScriptedRuntime([PLAN, SEARCH, NONE_VERIFY, SEARCH, NONE_VERIFY, DRAFT])
    r, rep = run(retriever, model)
    assert rep.review == "not_covered" and r.citations == [] and "do not cover" in r.text
    assert "No finding could be verified" in str(model.llm.seen[3]["messages"])
    assert len(model.llm.seen) == 5  # the writer never ran


def test_a_topic_the_documents_do_not_cover_gets_no_invented_report(retriever):
    model = ScriptedRuntime([PLAN])
    r, rep = run(retriever, model, topic="volcano surveys on Mars")
    assert rep.review == "not_covered" and "do not cover" in r.text and "'volcano'" in r.text
    assert r.status == "incomplete" and "'volcano'" in r.reason
    assert r.citations == [] and model.llm.seen == [] and model.requests == []  # no model call at all


def test_extra_tools_come_from_the_registry_by_name(retriever):
    model = ScriptedRuntime([PLAN, SEARCH, FINDINGS, DRAFT, APPROVE])
    r, rep = run(retriever, model, tools="report_query, see")
    assert rep.review == "passed"
    names = [t["function"]["name"] for t in model.llm.seen[1]["tools"]]
    assert names == ["knowledge_search", "report_query", "see"]


def test_an_unknown_extra_tool_is_a_clear_error_before_any_work(retriever, state_home):
    model = ScriptedRuntime([PLAN])
    with pytest.raises(InputError, match=r"unknown tool 'vision_ask'; the tools an agent can use are: .*see"):
        run(retriever, model, tools="report_query, vision_ask")
    assert model.llm.seen == [] and not list((state_home / "outputs").glob("research/*"))


def test_empty_knowledge_base(tmp_path, monkeypatch):
    (tmp_path / "no-docs").mkdir()
    monkeypatch.setenv("MMCREW_KNOWLEDGE_DIR", str(tmp_path / "no-docs"))  # nothing in it to ingest
    get_settings(refresh=True)
    emb = HashEmbedder()
    with pytest.raises(EmptyKnowledgeError, match="knowledge base is empty"):
        run(Retriever(make_store(emb), emb), ScriptedRuntime([PLAN]))


def test_an_interrupted_run_keeps_what_it_produced(retriever, state_home):
    model = ScriptedRuntime([PLAN, SEARCH, FINDINGS, KeyboardInterrupt()])
    with pytest.raises(KeyboardInterrupt):
        run(retriever, model)
    kept = list((state_home / "outputs" / "research").glob("*-incomplete-*"))
    assert len(kept) == 1 and (kept[0] / "steps.jsonl").read_text().count("\n") >= 2


def test_citation_check_and_rendering():
    found = {("contract.pdf", 2)}
    assert citation_problems("A (contract.pdf, p. 2). B (p. 2).", found) == []
    problems = citation_problems("A (contract.pdf, p. 3).", found)
    assert len(problems) == 1 and "p. 3" in problems[0]
    assert citation_problems("No sources.", found)[0].startswith("the report cites no source")
    f = [Finding(**GOOD_FINDING), Finding(fact="x", file="b.pdf", page=7, quote="y")]
    d = Draft.model_validate_json('{"title": "## T", "paragraphs": [{"text": "A.", "sources": [1, 2, 1]}]}')
    assert render_draft(d, f) == "# T\n\nA (contract.pdf, p. 2; b.pdf, p. 7).\n"
    assert source_problems(Draft.model_validate_json(DRAFT_BAD_NUMBER), 1) == [
        "paragraph 1 cites [2], but the findings are numbered 1 to 1"
    ]


def test_report_citations_carry_offsets_of_the_quote_on_its_page():
    page = "Section 4: Elevators.\nElevator B failed its inspection.  " + QUOTE.replace(" door ", "\n door ")
    f = [Finding(**GOOD_FINDING), Finding(fact="x", file="b.pdf", page=7, quote="not on the page")]
    d = Draft.model_validate_json('{"title": "T", "paragraphs": [{"text": "A.", "sources": [2, 1, 1]}]}')
    pages = {("contract.pdf", 2): page, ("b.pdf", 7): "Something else entirely."}
    cites, problems = report_citations(d, f, lambda file, p: pages.get((file, p)), {"contract.pdf": "doc-1"})
    assert [(c.file, c.page, c.doc_id) for c in cites] == [("contract.pdf", 2, "doc-1")]
    c = cites[0]
    assert page[c.start : c.end] == QUOTE.replace(" door ", "\n door ").rstrip(".") and c.end > c.start > 0
    assert problems == ["the quote of finding [2] is no longer on (b.pdf, p. 7)"]


def test_verify_findings_on_page_texts_alone():
    pages = {("contract.pdf", 2): "Section 4: Elevators. " + QUOTE, ("contract.pdf", 3): "The roof drains are blocked."}
    findings = [Finding(**{**GOOD_FINDING, "page": 3}), Finding(**INVENTED), Finding(**GOOD_FINDING)]
    verified, refused, notes = verify_findings(findings, pages)
    assert [(f.page, f.quote) for f in verified] == [(2, QUOTE)]  # moved to p. 2, and the copy dropped
    assert notes == ["moved a quote from (contract.pdf, p. 3) to the page that has it, ('contract.pdf', 2)"]
    assert len(refused) == 1 and "repaint" in refused[0]
