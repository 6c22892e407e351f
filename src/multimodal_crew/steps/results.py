"""One result shape for every flow, and one citation type for every quote.

Every flow ends in a :class:`RunResult`; every quote anywhere (ask, workorder,
research) is a :class:`Citation` ``{file, page, quote, start, end}`` whose offsets
locate the quote in the text of its page, found by :func:`locate`.
"""

from __future__ import annotations

import unicodedata
from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = ["Citation", "RunResult", "StepOutput", "locate", "cite"]

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"})


class Citation(BaseModel):
    """A quote checked against its page: ``page_text[start:end]`` is the quote as the page has it."""

    file: str
    page: int
    quote: str
    start: int = Field(..., ge=0, description="offset of the quote in the page's text")
    end: int = Field(..., ge=0, description="offset just after the quote")
    doc_id: str = ""  # the document's id in the store (two files may share a display name)


def _folded(text: str) -> tuple[str, list[int]]:
    """``text`` normalised for matching (NFKC, ASCII quotes and dashes, casefolded, whitespace runs as
    one space), with the offset in ``text`` of each character of the result."""
    out: list[str] = []
    where: list[int] = []
    space = True  # drop leading whitespace
    for i, ch in enumerate(text):
        if ch.isspace():
            if not space:
                out.append(" ")
                where.append(i)
            space = True
            continue
        space = False
        for c in unicodedata.normalize("NFKC", ch).translate(_QUOTES).casefold():
            out.append(c)
            where.append(i)
    return "".join(out), where


def locate(quote: str, page_text: str) -> tuple[int, int] | None:
    """Where ``quote`` occurs in ``page_text`` (ignoring case, whitespace, typographic quote marks and
    the quote's surrounding punctuation or ellipses): ``(start, end)`` offsets, or None."""
    q, _ = _folded(quote)
    q = q.strip(" .\"'…")
    if not q:
        return None
    text, where = _folded(page_text)
    at = text.find(q)
    if at < 0:
        return None
    return where[at], where[at + len(q) - 1] + 1


def cite(file: str, page: int, quote: str, page_text: str | None, doc_id: str = "") -> Citation | None:
    """A :class:`Citation` for ``quote`` on this page, or None when the page does not contain it."""
    span = locate(quote, page_text or "")
    if span is None:
        return None
    return Citation(file=file, page=page, quote=quote.strip(), start=span[0], end=span[1], doc_id=doc_id)


class StepOutput(BaseModel):
    """Base of a step's typed output. ``result_fields`` says what a flow ending in it reports."""

    def result_fields(self) -> dict[str, Any]:
        return {"text": str(self)}


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
        lines += [f"  [{i}] {c.file}, p. {c.page}: \"{c.quote}\"" for i, c in enumerate(self.citations, 1)]
        if self.output_dir:
            lines.append(f"output: {self.output_dir}")
        return "\n".join(x for x in lines if x)
