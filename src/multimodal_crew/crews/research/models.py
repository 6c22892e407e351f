"""The typed outputs of the research crew's tasks (no CrewAI import: the checks use them too)."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["Plan", "Finding", "Findings", "Paragraph", "Draft", "Problem", "Verdict"]


class Plan(BaseModel):
    questions: list[str] = Field(..., min_length=1, max_length=4)


class Finding(BaseModel):
    fact: str = Field(..., description="what the page says, in one short sentence")
    file: str = Field(..., description="the file of the knowledge_search result")
    page: int = Field(..., description="the page of the knowledge_search result")
    quote: str = Field(..., description="one sentence copied word for word from that result")


class Findings(BaseModel):
    findings: list[Finding] = Field(..., max_length=8)


class Paragraph(BaseModel):
    text: str = Field(..., description="one paragraph of the report, using only the findings it cites")
    sources: list[int] = Field(..., min_length=1, max_length=4, description="numbers of the findings it uses")


class Draft(BaseModel):
    title: str
    paragraphs: list[Paragraph] = Field(..., min_length=1, max_length=6)


class Problem(BaseModel):
    paragraph: int = Field(..., description="the number of the paragraph")
    words: str = Field(..., description="the words of that paragraph that its quotes do not say, copied exactly")
    reason: str = Field("", description="why, in a few words")


class Verdict(BaseModel):
    problems: list[Problem] = Field(default_factory=list, max_length=8)
    approved: bool
