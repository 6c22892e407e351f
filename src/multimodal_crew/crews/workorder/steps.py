"""``workorder``: the YAML work-order crew drafts an email; a guard in code checks the pages it cites.

``workorder_draft`` runs the crew (``config/workorder/``): the researcher collects what the
documents say about a section with ``knowledge_search``; the writer drafts an email asking a
contractor or provider to act. ``workorder_guard`` checks that the email cites at least one page
and that each cited page exists and was returned to the researcher; a refused draft gets one
revision by the reviser with the reason, and if that fails too the step raises
``ModelBehaviorError`` and publishes nothing. Each cited page becomes a :class:`Citation`: the
sentence of the found passage that the email's sentence overlaps most (or its first sentence),
located on the page. The email, the evidence and the findings go to a new output folder.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import Field

from ...errors import ModelBehaviorError
from ...knowledge.text import _SENTENCE, normalize, word_overlap
from ...steps.answer import MIN_QUOTE_CHARS, page_reader
from ...steps.crewing import crew_llm, found_passages, search_tool
from ...steps.knowledge import Passage
from ...steps.outputs import staged
from ...steps.registry import Deps, StepInputs, call_step, step
from ...steps.results import Citation, StepOutput, cite, cited_pages, references

__all__ = [
    "WorkOrderDraft", "WorkOrderResult", "check_email", "email_citations", "trim_after_signature",
]  # fmt: skip


def trim_after_signature(email: str, signature: str) -> str:
    """Cut anything a model appended after the signature (an echoed prompt, notes to itself)."""
    i = email.find(signature)
    return email[: i + len(signature)].rstrip() if i != -1 else email.strip()


def check_email(email: str, found: set[tuple[str, int]], page_exists) -> list[str]:
    """Problems with the email's page references (empty: it passes)."""
    refs = cited_pages(email)
    if not refs:
        return ["the email cites no page; refer to each finding with its page, as (p. N)"]
    problems = []
    found_pages = {p for _, p in found}
    for file, page in refs:
        if file:
            ok = (file, page) in found and page_exists(file, page)
        else:
            ok = page in found_pages and any(page_exists(f, page) for f, p in found if p == page)
        if not ok:
            where = f"{file} p. {page}" if file else f"p. {page}"
            problems.append(f"{where} was not among the pages the research found")
    return problems


def _best_sentence(claim: str, passages: list[Passage]) -> tuple[Passage, str] | None:
    """The sentence of ``passages`` that ``claim`` overlaps most, else the first passage's first sentence."""
    best: tuple[float, Passage, str] | None = None
    first: tuple[Passage, str] | None = None
    for p in passages:
        for sent in _SENTENCE.split(p.text):
            sent = normalize(sent)[:300]
            if len(sent) < MIN_QUOTE_CHARS:
                continue
            first = first or (p, sent)
            score = word_overlap(claim, sent)
            if score > 0 and (best is None or score > best[0]):
                best = (score, p, sent)
    return (best[1], best[2]) if best else first


def email_citations(email: str, passages: list[Passage], page_text) -> tuple[list[Citation], list[str]]:
    """(citations, problems): one :class:`Citation` per page the email cites, its quote located on the page."""
    claims: dict[tuple[str, int], str] = {}
    for file, page, claim in references(email):
        claims[(file, page)] = (claims.get((file, page), "") + " " + claim).strip()
    out: list[Citation] = []
    problems: list[str] = []
    for (file, page), claim in claims.items():
        picked = _best_sentence(claim, [p for p in passages if p.page == page and (not file or p.file == file)])
        c = picked and cite(picked[0].file, page, picked[1], page_text(picked[0].file, page), picked[0].doc_id)
        if c:
            out.append(c)
        else:
            problems.append(f"{file + ' ' if file else ''}p. {page}: no sentence of a found passage is on that page")
    return list({(c.file, c.page, c.start): c for c in out}.values()), problems


class WorkOrderInputs(StepInputs):
    section: str = Field(..., min_length=1, description="the section or topic of the documents to act on")
    signature: str = Field(..., min_length=1, description="who signs the email")
    recipient: str = Field("the contractor", description="who the email is for")


class WorkOrderDraft(StepOutput):
    section: str
    signature: str
    recipient: str
    findings: str
    email: str
    found: list[Passage] = Field(default_factory=list, description="every passage knowledge_search returned")

    def result_fields(self) -> dict:
        return {"text": self.email}


class WorkOrderResult(StepOutput):
    email: str
    findings: str
    citations: list[Citation]
    found: list[tuple[str, int]] = Field(default_factory=list)  # (file, page) returned by knowledge_search
    revisions: int = 0
    output_dir: str
    files: list[str]  # names in output_dir

    def result_fields(self) -> dict:
        return {
            "text": self.email, "status": "ok", "citations": self.citations, "output_dir": self.output_dir,
            "files": [str(Path(self.output_dir) / f) for f in self.files], "reason": "",
        }  # fmt: skip


@step("workorder_draft", "The work-order crew: a researcher searches, a writer drafts the email", WorkOrderInputs,
      "text", tool=False)  # fmt: skip
def workorder_draft(inputs: WorkOrderInputs, deps: Deps) -> WorkOrderDraft:
    from .crew import WorkOrderCrew

    def searched(args: dict, out) -> None:
        pages = ", ".join(dict.fromkeys(f"{p.file} p. {p.page}" for p in out.passages)) or "nothing"
        deps.step(f"researcher: knowledge_search {str(args.get('query', ''))[:60]!r}: {pages[:120]}")

    search = search_tool(deps, on_output=searched)
    deps.step(f"the researcher is searching the documents for {inputs.section!r}; then the writer drafts")
    with crew_llm(deps) as llm:
        crew = WorkOrderCrew(deps.settings.config_path / "workorder", llm, [search]).crew()
        out = crew.kickoff(inputs=inputs.model_dump())
    return WorkOrderDraft(
        **inputs.model_dump(), findings=out.tasks_output[0].raw if out.tasks_output else "",
        email=trim_after_signature(out.raw, inputs.signature), found=found_passages(search),
    )  # fmt: skip


class GuardInputs(StepInputs):
    draft: WorkOrderDraft = Field(..., description="the output of workorder_draft")


def _revise(d: WorkOrderDraft, email: str, problems: list[str], found: set, deps: Deps) -> str:
    from .crew import WorkOrderCrew

    deps.step("the email cites pages the research did not find; the writer revises")
    pages = ", ".join(f"{f} p. {p}" for f, p in sorted(found))
    inputs = {"findings": d.findings, "email": email, "problems": "; ".join(problems), "pages": pages,
              "signature": d.signature}  # fmt: skip
    with crew_llm(deps) as llm:
        raw = WorkOrderCrew(deps.settings.config_path / "workorder", llm, []).revision_crew().kickoff(inputs=inputs).raw
    return trim_after_signature(raw, d.signature)


@step("workorder_guard", "Check every page a work-order email cites (one revision), cite it, save the email",
      GuardInputs, "report", tool=False)  # fmt: skip
def workorder_guard(inputs: GuardInputs, deps: Deps) -> WorkOrderResult:
    d = inputs.draft
    read = page_reader(d.found, deps.retriever.store)  # the very documents the search returned
    found = {(p.file, p.page) for p in d.found}

    def exists(file: str, page: int) -> bool:
        return read(file, page) is not None

    email, revisions = d.email, 0
    problems = check_email(email, found, exists)
    if problems and found:
        email, revisions = _revise(d, email, problems, found, deps), 1
        problems = check_email(email, found, exists)
    citations, unlocated = email_citations(email, d.found, read) if not problems else ([], [])
    if problems or unlocated:
        raise ModelBehaviorError(
            "the work-order email failed its page check"
            + (" (the research found nothing)" if not found else f" after {revisions} revision")
            + ": " + "; ".join((problems or unlocated)[:3])
        )  # fmt: skip
    files = ["email.md", "evidence.json", "findings.md"]
    with staged(deps.settings, "workorder") as out:
        (out.path / "email.md").write_text(email, encoding="utf-8")
        evidence = json.dumps([p.model_dump() for p in d.found], indent=1, ensure_ascii=False)
        (out.path / "evidence.json").write_text(evidence, encoding="utf-8")
        (out.path / "findings.md").write_text(d.findings, encoding="utf-8")
        final = out.publish("workorder")
    return WorkOrderResult(
        email=email, findings=d.findings, citations=citations, found=sorted(found), revisions=revisions,
        output_dir=str(final), files=files,
    )  # fmt: skip


@step("workorder", "Draft an email asking a contractor or provider to act on a section of the documents, "
      "every cited page checked and quoted", WorkOrderInputs, "report")  # fmt: skip
def workorder(inputs: WorkOrderInputs, deps: Deps) -> WorkOrderResult:
    call_step("prepare_knowledge", {}, deps)
    draft = call_step("workorder_draft", inputs, deps)
    return call_step("workorder_guard", {"draft": draft}, deps)
