"""The research step's checks in code: pure functions over findings, drafts and verdicts.

The step (``steps.py``, ``run.py``) runs the crew and calls these between the
agents; nothing here calls a model or touches the store (pages come in as text or a reader).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, create_model

from ...knowledge.text import _SENTENCE, closest_sentence, normalize, quote_in, stem, tokenize, word_overlap
from ...steps.answer import MIN_QUOTE_CHARS
from ...steps.results import Citation, cite, cited_pages
from .models import Draft, Finding, Paragraph

__all__ = [
    "add_missing_sources", "citation_problems", "constrained_findings", "numbered_draft", "quotable_sentences",
    "render_draft", "render_findings", "report_citations", "review_view", "source_problems", "unsupported_sentences",
    "verify_findings", "weigh_verdict",
]  # fmt: skip

SALVAGE_OVERLAP = 0.6  # a misquote sharing this share of its words with a sentence of the page is that sentence
MAX_QUOTE_CHARS = 300  # longer verified quotes are cut to their sentence closest to the finding's fact


SUPPORT = 0.5  # a sentence of the report must share at least this share of its words with its quotes
MIN_QUOTE_WORDS = 4  # a quote with fewer distinct words is a heading or a fragment, not a finding
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")


def _words(text: str) -> set[str]:
    return {stem(t) for t in tokenize(text) if len(t) > 2 or not t.isascii()}


def _size(text: str) -> float:
    """Words in ``text``: Latin words of 3+ letters, and CJK characters counted two to a word."""
    toks = tokenize(text)
    return (
        sum(1 for t in toks if t.isascii() and len(t) > 2) + sum(1 for t in toks if not t.isascii() and len(t) == 1) / 2
    )


def _sentences(draft, findings: list):
    """(paragraph number, paragraph, sentence words, words of the quotes the paragraph cites)."""
    for i, para in enumerate(draft.paragraphs, 1):
        quoted = set().union(*(_words(findings[n - 1].quote) for n in para.sources if 1 <= n <= len(findings)))
        for sentence in _SENTENCE_END.split(para.text.strip()):
            yield i, para, sentence, _words(sentence), quoted


def _supported(words: set[str], quoted: set[str]) -> bool:
    return len(words) < 3 or len(words & quoted) >= SUPPORT * len(words)


def add_missing_sources(draft, findings: list) -> list[str]:
    """Cite the finding a sentence was taken from when its paragraph forgot to (the writer
    copies a quote and leaves its number out). Changes ``draft`` in place; says what it added."""
    added = []
    for i, para, _, words, quoted in _sentences(draft, findings):
        if _supported(words, quoted):
            continue
        best = max(range(1, len(findings) + 1), key=lambda n: len(words & _words(findings[n - 1].quote)), default=0)
        if best and best not in para.sources and _supported(words, _words(findings[best - 1].quote)):
            para.sources.append(best)
            added.append(f"paragraph {i} now cites [{best}], whose quote it repeats")
    return added


def unsupported_sentences(draft, findings: list) -> list[str]:
    """Problems for sentences of the draft most of whose words are in none of the quotes their
    paragraph cites: a lexical check in code, so a report cannot drift far from its pages even
    when the critic approves it."""
    return [
        f"paragraph {i}: most words of {sentence.strip()[:160]!r} are in none of its quotes; say only what the quotes say"
        for i, _, sentence, words, quoted in _sentences(draft, findings)
        if not _supported(words, quoted)
    ]


def verify_findings(findings: list, pages: dict[tuple[str, int], str]) -> tuple[list, list[str], list[str]]:
    """(verified, refused, notes): each finding checked against ``pages``, the text of every page
    the search returned, keyed by (file, page).

    A quote found on another returned page moves there; a heading is refused; a misquote sharing
    ``SALVAGE_OVERLAP`` of its words with a sentence of its page becomes that sentence; a pasted
    passage is cut to its sentence closest to the finding's fact. Duplicates are dropped.
    """
    verified, refused, notes = [], [], []
    for f in findings:
        if not quote_in(f.quote, pages.get((f.file, f.page), "")):
            home = [
                fp for fp, t in pages.items() if len(normalize(f.quote)) >= MIN_QUOTE_CHARS and quote_in(f.quote, t)
            ]
            if home:  # the quote is on another page the search returned: that page is its source
                notes.append(f"moved a quote from ({f.file}, p. {f.page}) to the page that has it, {home[0]}")
                f = f.model_copy(update={"file": home[0][0], "page": home[0][1]})
        text = pages.get((f.file, f.page))
        if text is None:
            refused.append(f"({f.file}, p. {f.page}) is not a page knowledge_search returned")
            continue
        if _size(f.quote) < MIN_QUOTE_WORDS:
            refused.append(f"the quote {f.quote!r} is a heading or a fragment; quote a whole sentence")
            continue
        if len(normalize(f.quote)) < MIN_QUOTE_CHARS or not quote_in(f.quote, text):
            near = closest_sentence(f.quote, text)
            if not (near and word_overlap(f.quote, near) >= SALVAGE_OVERLAP and quote_in(near, text)):
                refused.append(f"the quote {f.quote[:60]!r} is not on ({f.file}, p. {f.page})"
                               + (f'; the closest sentence there is "{near}"' if near else ""))  # fmt: skip
                continue
            notes.append(f"replaced a misquote on ({f.file}, p. {f.page}) by the page's {near[:60]!r}")
            f = f.model_copy(update={"quote": near})
        elif len(f.quote) > MAX_QUOTE_CHARS:
            best = closest_sentence(f.fact, f.quote)
            if best and quote_in(best, text):
                f = f.model_copy(update={"quote": best})
        if all((f.file, f.page, normalize(f.quote)) != (v.file, v.page, normalize(v.quote)) for v in verified):
            verified.append(f)
    return verified, refused, notes


def weigh_verdict(verdict, draft, findings: list) -> tuple[list[str], list[str]]:
    """(standing problems, notes on overruled ones) of the critic's verdict.

    An objection must copy words of the paragraph it names; words that occur in a quote the
    paragraph cites are supported by the page, so that objection is overruled.
    """
    paragraphs = draft.paragraphs if draft is not None else []
    standing, notes = [], []
    for p in verdict.problems:
        if not 1 <= p.paragraph <= len(paragraphs):
            notes.append(f"overruled the critic: there is no paragraph {p.paragraph}")
            continue
        para = paragraphs[p.paragraph - 1]
        quotes = [findings[n - 1].quote for n in para.sources if 1 <= n <= len(findings)]
        if not p.words.strip() or not quote_in(p.words, para.text):
            notes.append(f"overruled the critic: {p.words[:60]!r} is not in paragraph {p.paragraph}")
        elif any(quote_in(p.words, q) for q in quotes):
            notes.append(f"overruled the critic: paragraph {p.paragraph}'s quote says {p.words[:60]!r}")
        else:
            standing.append(f"paragraph {p.paragraph}: its quotes do not say {p.words!r}"
                            + (f" ({p.reason})" if p.reason else ""))  # fmt: skip
    if not verdict.approved and not verdict.problems:
        notes.append("the critic did not approve but named no problem; nothing to revise")
    return standing, notes


MAX_CHOICES = 60  # sentences offered to a researcher whose quotes did not verify


def quotable_sentences(hits: list) -> list[str]:
    """Sentences of the passages the researcher was shown, best-ranked first, once each."""
    out: dict[str, None] = {}
    for h in hits:
        for sent in _SENTENCE.split(h.text):
            sent = normalize(sent)
            if _size(sent) >= MIN_QUOTE_WORDS and len(sent) <= MAX_QUOTE_CHARS:
                out.setdefault(sent)
    return list(out)[:MAX_CHOICES]


def constrained_findings(hits: list):
    """A ``Findings`` model whose file, page and quote can only be what the search returned:
    the schema of a researcher's second try, after quotes of its own making were refused."""
    sentences = tuple(quotable_sentences(hits))
    if not sentences:
        return None
    Quoted = create_model(
        "Finding",
        fact=(str, Field(..., description="what the quote says, in one short sentence")),
        file=(Literal[tuple(sorted({h.file for h in hits}))], ...),  # type: ignore[valid-type]
        page=(Literal[tuple(sorted({h.page for h in hits}))], ...),  # type: ignore[valid-type]
        quote=(Literal[sentences], Field(..., description="a sentence of a search result, as it is")),  # type: ignore[valid-type]
        __base__=Finding,
    )
    return create_model("Findings", findings=(list[Quoted], Field(..., max_length=8)))  # type: ignore[valid-type]


def numbered_draft(n: int):
    """A ``Draft`` model whose paragraphs can only cite findings 1..n."""
    Para = create_model(
        "Paragraph",
        sources=(list[Literal[tuple(range(1, n + 1))]], Field(..., min_length=1, max_length=4)),  # type: ignore[valid-type]
        __base__=Paragraph,
    )
    return create_model("Draft", paragraphs=(list[Para], Field(..., min_length=1, max_length=6)), __base__=Draft)  # type: ignore[valid-type]


def render_findings(findings: list) -> str:
    """Numbered findings as the writer and the critic see them: the verified quotes, not the
    researcher's paraphrase of them (which a small model may have got wrong)."""
    return "\n".join(f'[{i}] ({f.file}, p. {f.page}) "{f.quote}"' for i, f in enumerate(findings, 1))


def render_draft(draft, findings: list) -> str:
    """The writer's typed draft as Markdown: each paragraph followed by the pages of its findings."""
    parts = [f"# {draft.title.strip().lstrip('#').strip()}"]
    for para in draft.paragraphs:
        refs = [findings[n - 1] for n in para.sources if 1 <= n <= len(findings)]
        pages = "; ".join(dict.fromkeys(f"{f.file}, p. {f.page}" for f in refs))
        text = para.text.strip()
        if pages:  # the reference goes before the paragraph's last full stop
            end = text[-1] if text[-1:] in (".", "!", "?") else ""
            text = f"{text[: len(text) - len(end)]} ({pages}){end}"
        parts.append(text)
    return "\n\n".join(parts) + "\n"


def review_view(draft, findings: list) -> str:
    """The draft as the critic reads it: each paragraph with the quotes of the findings it cites."""
    lines = [f"Title: {draft.title.strip()}"]
    for i, para in enumerate(draft.paragraphs, 1):
        lines.append(f"\nParagraph {i}: {para.text.strip()}")
        for n in para.sources:
            if 1 <= n <= len(findings):
                f = findings[n - 1]
                lines.append(f'  cites [{n}] ({f.file}, p. {f.page}): "{f.quote}"')
            else:
                lines.append(f"  cites [{n}], which is not a finding")
    return "\n".join(lines)


def source_problems(draft, n_findings: int) -> list[str]:
    """Paragraphs that cite no finding or a number that is not a finding."""
    problems = []
    for i, para in enumerate(draft.paragraphs, 1):
        bad = [n for n in para.sources if not 1 <= n <= n_findings]
        if bad:
            problems.append(f"paragraph {i} cites {bad}, but the findings are numbered 1 to {n_findings}")
        elif not para.sources:
            problems.append(f"paragraph {i} cites no finding")
    return problems


def citation_problems(report: str, found: set[tuple[str, int]]) -> list[str]:
    """Problems with the ``(FILE, p. N)`` references in ``report``: none, or one not found by the research."""
    refs = cited_pages(report)
    if not refs:
        return ["the report cites no source; follow each claim with (FILE, p. N)"]
    pages = {p for _, p in found}
    return [
        f"the source ({file + ', ' if file else ''}p. {page}) is not a page the research found"
        for file, page in refs
        if not ((file and (file, page) in found) or (not file and page in pages))
    ]


def report_citations(draft, findings: list, page_text, doc_ids: dict[str, str]) -> tuple[list[Citation], list[str]]:
    """(citations, problems): a :class:`Citation` with offsets for each finding the draft cites, in the
    order first cited; ``page_text(file, page)`` reads the document the search returned."""
    used = dict.fromkeys(n for para in draft.paragraphs for n in para.sources if 1 <= n <= len(findings))
    out, problems = [], []
    for n in used:
        f = findings[n - 1]
        c = cite(f.file, f.page, f.quote, page_text(f.file, f.page), doc_ids.get(f.file, ""))
        if c is None:
            problems.append(f"the quote of finding [{n}] is no longer on ({f.file}, p. {f.page})")
        else:
            out.append(c)
    return out, problems
