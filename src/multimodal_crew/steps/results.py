"""One result shape for every flow, and one citation type for every quote.

Every flow ends in a :class:`RunResult`; every quote anywhere (ask, workorder,
research) is a :class:`Citation` ``{file, page, quote, start, end}`` whose offsets
locate the quote in the text of its page, found by :func:`locate`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, Field

from ..knowledge.text import locate

__all__ = ["Citation", "RunResult", "StepOutput", "cite", "cited_pages", "locate", "references"]


class Citation(BaseModel):
    """A quote checked against its page: ``page_text[start:end]`` is the quote as the page has it."""

    file: str
    page: int
    quote: str
    start: int = Field(..., ge=0, description="offset of the quote in the page's text")
    end: int = Field(..., ge=0, description="offset just after the quote")
    doc_id: str = ""  # the document's id in the store (two files may share a display name)


def cite(file: str, page: int, quote: str, page_text: str | None, doc_id: str = "") -> Citation | None:
    """A :class:`Citation` for ``quote`` on this page, or None when the page does not contain it."""
    span = locate(quote, page_text or "")
    if span is None:
        return None
    return Citation(file=file, page=page, quote=quote.strip(), start=span[0], end=span[1], doc_id=doc_id)


# -- page references written in prose: "(p. 12)", "(plan.pdf, p. 12)", "page 3", "pp. 4-5" --
_EXT = r"pdf|docx|xlsx|txt|md|csv|json"
# a file name may hold folders (``DIR_B/notes.txt``: display names are made unique that way) and
# backslash escapes (``caf\xe9.txt``: a name that is not UTF-8)
_REF = re.compile(
    rf"(?:([\w\-. /\\]+?\.(?:{_EXT}))\s*,?\s*)?\b(?:p|pp|pg|page)\.?\s*(\d+)(?:\s*[-–]\s*(\d+))?", re.IGNORECASE
)
_BOUNDARY = re.compile(r"[.!?。！？](?:\s|$)|\n")


def references(text: str) -> Iterator[tuple[str, int, str]]:
    """``(file, page, claim)`` for each page reference, with the sentence of ``text`` around it."""
    for m in _REF.finditer(text):
        file = (m.group(1) or "").strip()
        first = int(m.group(2))
        last = int(m.group(3)) if m.group(3) else first
        before = [b.end() for b in _BOUNDARY.finditer(text, 0, m.start())]
        after = _BOUNDARY.search(text, m.end())
        claim = text[before[-1] if before else 0 : m.start()] + " " + text[m.end() : after.start() if after else None]
        for p in range(first, min(last, first + 10) + 1):
            yield file, p, claim


def cited_pages(text: str) -> list[tuple[str, int]]:
    """Page references in ``text``: ``(p. 12)``, ``(plan.pdf, p. 12)``, ``page 3``, ``pp. 4-5``."""
    return list(dict.fromkeys((file, page) for file, page, _ in references(text)))


class StepOutput(BaseModel):
    """Base of a step's typed output. ``result_fields`` says what a flow ending in it reports."""

    def result_fields(self) -> dict[str, Any]:
        return {"text": str(self)}

    def plan_value(self) -> str:
        """What a plan's ``<task-N>`` reference to this output becomes inside another task's text
        argument: the text, unless the output has one plain value (a number, a file, a total)."""
        return str(self.result_fields().get("text", ""))


class RunResult(BaseModel):
    """What every flow returns (``run_flow``, ``crewai run``, the scheduler, HTTP)."""

    flow: str
    status: Literal["ok", "abstained", "incomplete"] = "ok"
    text: str = Field("", description="the answer, summary or report, for a person to read")
    output_dir: str | None = None
    files: list[str] = Field(default_factory=list)
    citations: list[Citation] = Field(default_factory=list)
    timings: dict[str, float] = Field(default_factory=dict, description="seconds per step, in order")
    model_calls: int = 0
    reason: str = ""  # why it abstained or is incomplete
    data: dict[str, Any] = Field(default_factory=dict, description="the final step's own typed output")

    @property
    def raw(self) -> str:
        """What ``crewai run`` prints."""
        lines = [self.text.strip()]
        if self.reason:
            lines.append(f"({self.status}: {self.reason})")
        lines += [f'  [{i}] {c.file}, p. {c.page}: "{c.quote}"' for i, c in enumerate(self.citations, 1)]
        if self.output_dir:
            lines.append(f"output: {self.output_dir}")
        return "\n".join(x for x in lines if x)
