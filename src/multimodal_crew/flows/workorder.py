"""The ``workorder`` flow: the YAML work-order crew, then a guard on the pages its email cites.

The crew's researcher collects what the documents say about a section with
``knowledge_search``; the writer drafts an email asking a contractor or provider to act.
The guard, in code, checks that the email cites at least one page, and that each cited page
exists in the store and was returned to the researcher by ``knowledge_search``. A failed
guard gets the writer one revision with the reason; if that fails too the flow raises
``ModelBehaviorError`` and publishes nothing.
"""

from __future__ import annotations

import json
import re
from typing import Any

from crewai.flow.flow import listen, start
from pydantic import BaseModel, Field, PrivateAttr

from ..errors import ModelBehaviorError
from .base import FlowInputs, MMFlow, OutputFlowState

__all__ = ["WorkOrderFlow", "WorkOrderInputs", "WorkOrderResult", "cited_pages", "check_email"]


class WorkOrderInputs(FlowInputs):
    section: str = Field(..., min_length=1, description="the section or topic of the documents to act on")
    signature: str = Field(..., min_length=1, description="who signs the email")
    recipient: str = Field("the contractor", description="who the email is for")


class WorkOrderResult(BaseModel):
    email: str
    findings: str
    cited: list[list] = Field(default_factory=list)  # [file or "", page]
    found: list[list] = Field(default_factory=list)  # [file, page] returned by knowledge_search
    revisions: int = 0
    output_dir: str = ""


class WorkOrderState(OutputFlowState):
    section: str = ""
    signature: str = ""
    recipient: str = ""
    findings: str = ""
    email: str = ""
    revisions: int = 0
    result: WorkOrderResult | None = None


_EXT = r"pdf|docx|xlsx|txt|md|csv|json"
# a file name may hold folders (``DIR_B/notes.txt``: display names are made unique that way) and
# backslash escapes (``caf\xe9.txt``: a name that is not UTF-8)
_REF = re.compile(
    rf"(?:([\w\-. /\\]+?\.(?:{_EXT}))\s*,?\s*)?\b(?:p|pp|pg|page)\.?\s*(\d+)(?:\s*[-–]\s*(\d+))?", re.IGNORECASE
)


def cited_pages(text: str) -> list[tuple[str, int]]:
    """Page references in ``text``: ``(p. 12)``, ``(plan.pdf, p. 12)``, ``page 3``, ``pp. 4-5``."""
    refs = []
    for m in _REF.finditer(text):
        file = (m.group(1) or "").strip()
        first = int(m.group(2))
        last = int(m.group(3)) if m.group(3) else first
        for p in range(first, min(last, first + 10) + 1):
            refs.append((file, p))
    return list(dict.fromkeys(refs))


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


class WorkOrderFlow(MMFlow[WorkOrderState]):
    flow_name = "workorder"
    inputs_model = WorkOrderInputs
    description = (
        "Draft an email asking a contractor/provider to act on a section of the documents (cited pages checked)"
    )

    _tool: Any = PrivateAttr(default=None)

    def kickoff(self, inputs=None, **kwargs):
        from ..knowledge.ingest import ingest_if_empty, open_store, step_progress

        store = open_store(self.settings)
        try:
            ingest_if_empty(store, self.settings, step_progress(self.step))
        finally:
            store.close()
        return super().kickoff(inputs, **kwargs)

    def _llm(self):
        return getattr(self.model, "llm", self.model)

    @start()
    def draft(self) -> None:
        from ..crews.workorder.crew import WorkOrderCrew
        from ..tools.knowledge_search import KnowledgeSearchTool

        s = self.state
        self._tool = KnowledgeSearchTool()
        self.step(f"the researcher is searching the documents for {s.section!r}; then the writer drafts")
        crew = WorkOrderCrew(llm=self._llm(), tool=self._tool).crew()
        out = crew.kickoff(inputs={"section": s.section, "signature": s.signature, "recipient": s.recipient})
        s.findings = out.tasks_output[0].raw if out.tasks_output else ""
        s.email = trim_after_signature(out.raw, s.signature)

    @listen(draft)
    def guard(self) -> WorkOrderResult:
        from crewai import Agent, Crew, Task

        from ..knowledge.retrieval import get_retriever
        from .ask import page_reader

        s = self.state
        read = page_reader(self._tool.found, get_retriever(self.settings).store)
        found = {(h.file, h.page) for h in self._tool.found}

        def exists(file: str, page: int) -> bool:
            return read(file, page) is not None  # in the very document the research found

        problems = check_email(s.email, found, exists)
        if problems and found:
            self.step("the email cites pages the research did not find; the writer revises")
            s.revisions += 1
            pages = ", ".join(f"{f} p. {p}" for f, p in sorted(found))
            crew = Crew(
                agents=[
                    writer := Agent(
                        role="Professional writer",
                        goal="Correct the email's page references",
                        backstory="You fix business emails so every page reference is one the research found.",
                        llm=self._llm(),
                        allow_delegation=False,
                        max_iter=2,
                    )
                ],
                tasks=[
                    Task(
                        description=(
                            f"Findings:\n{s.findings}\n\nDraft email:\n{s.email}\n\nThe draft was rejected: "
                            f"{'; '.join(problems)}. Sources the research found: {pages}. Rewrite the draft so that "
                            "each fact is followed by its source from the findings, as (FILE, p. N), and nothing "
                            f"else changes. The last line is the signature {s.signature}."
                        ),
                        expected_output="Only the corrected email, nothing before or after it.",
                        agent=writer,
                    )
                ],
                verbose=False,
            )
            s.email = trim_after_signature(crew.kickoff().raw, s.signature)
            problems = check_email(s.email, found, exists)
        if problems:
            raise ModelBehaviorError(
                "the work-order email failed its page check"
                + (" (the research found nothing)" if not found else f" after {s.revisions} revision")
                + ": "
                + "; ".join(problems[:3])
            )
        folder = self.stage()
        (folder / "email.md").write_text(s.email, encoding="utf-8")
        evidence = [h.as_dict() for h in self._tool.found]
        (folder / "evidence.json").write_text(json.dumps(evidence, indent=1, ensure_ascii=False), encoding="utf-8")
        (folder / "findings.md").write_text(s.findings, encoding="utf-8")
        final = self.publish("workorder")
        s.result = WorkOrderResult(
            email=s.email,
            findings=s.findings,
            cited=[list(r) for r in cited_pages(s.email)],
            found=[list(f) for f in sorted(found)],
            revisions=s.revisions,
            output_dir=str(final),
        )
        return s.result
