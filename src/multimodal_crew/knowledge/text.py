"""Text helpers shared by ingestion, retrieval and citation checks.

* ``chunk_page``: cut one page into overlapping chunks at paragraph, sentence or
  word boundaries, keeping each chunk's character offsets in the page.
* ``tokenize``: keyword tokens for BM25. Latin words are lower-cased; CJK runs
  become single characters plus bigrams, so Chinese text and questions match
  without a segmenter.
* ``normalize``: NFKC plus collapsed whitespace, used to check that a quote occurs
  in its page.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = [
    "Span",
    "chunk_page",
    "tokenize",
    "stem",
    "content_terms",
    "script_of",
    "normalize",
    "locate",
    "quote_in",
    "closest_sentence",
]


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str


_BREAKS = ("\n\n", "\n", ". ", "。", "！", "？", "; ", ", ", " ")


def chunk_page(text: str, size: int, overlap: int) -> list[Span]:
    """Chunks of at most ``size`` characters covering ``text``; whitespace-only chunks are dropped."""
    spans: list[Span] = []
    n = len(text)
    start = 0
    while start < n:
        end = min(start + size, n)
        if end < n:  # end at the last good boundary in the second half of the window
            window = text[start:end]
            for sep in _BREAKS:
                cut = window.rfind(sep, size // 2)
                if cut != -1:
                    end = start + cut + len(sep)
                    break
        piece = text[start:end]
        if piece.strip():
            spans.append(Span(start, end, piece))
        if end >= n:
            break
        nxt = max(end - overlap, start + 1)
        # start the overlap at a word boundary
        ws = text.find(" ", nxt, end)
        start = ws + 1 if ws != -1 and overlap else nxt
        if start >= end:
            start = end
    return spans


_WORD = re.compile(r"[0-9a-z]+(?:[.'][0-9a-z]+)*|[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")
_STOP = frozenset(
    "a an and are as at be by for from has have how i if in is it its of on or that the this to was what when "
    "where which who will with do does my can you your we our not no".split()
)


def tokenize(text: str) -> list[str]:
    out: list[str] = []
    for m in _WORD.finditer(unicodedata.normalize("NFKC", text).lower()):
        tok = m.group()
        if _CJK.match(tok):
            out.extend(tok)
            out.extend(tok[i : i + 2] for i in range(len(tok) - 1))
        elif tok not in _STOP:
            out.append(tok)
    return out


_SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "es", "ed", "s", "al", "ly")


# Words a question uses without naming anything the documents would have to contain.
_GENERIC = frozenset(
    "about after again all also any anything are been before being between both but could did each else even "
    "ever every few get gets got had happen happens her him his into just know long many may me might more most "
    "much must need needs often one only other others own please same shall she should since some something "
    "still such tell than then their them there these they those through too under until upon use used using "
    "very want was way ways were what's whether while whom whose why would yes "
    # adjectives and verbs of asking ("the typical cost", "what does it entail")
    "typical usual common general main key important basic overall specific particular various different "
    "entail entails involve involves include includes mean means apply applies work works "
    "say says said describe describes described explain explains mention mentions mentioned "
    # prepositions and connectives that name nothing ("besides the deductible", "regarding fees")
    "besides except excluding including regarding concerning per via within without across along among "
    "against beyond despite toward towards onto versus whereas".split()
)


_POSSESSIVE = re.compile(r"(?<=[a-z])'s?$")


def stem(token: str) -> str:
    """A crude suffix strip (``desks``/``desk``, ``disputing``/``dispute``, ``apple's``/``apple`` meet);
    keeps 4+ letters."""
    token = _POSSESSIVE.sub("", token)
    for suf in _SUFFIXES:
        if token.endswith(suf) and len(token) - len(suf) >= 4:
            token = token[: -len(suf)]
            break
    return token[:-1] if token.endswith("e") and len(token) > 4 else token


def content_terms(text: str) -> list[str]:
    """The Latin-script keyword tokens of ``text`` that could name something, once each, in order.
    Possessives count as their noun (``Apple's`` names ``apple``)."""
    terms = (_POSSESSIVE.sub("", t) for t in tokenize(text))
    return [t for t in dict.fromkeys(terms) if len(t) > 2 and not _CJK.match(t) and t not in _GENERIC]


def script_of(text: str) -> str:
    """``"cjk"`` or ``"latin"``, whichever script most letters of ``text`` are in; ``""`` with no letters."""
    cjk = len(_CJK.findall(text))
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    if not cjk and not latin:
        return ""
    return "cjk" if cjk * 2 >= latin else "latin"  # a CJK character carries about a word


_SPACE = re.compile(r"\s+")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"})


def normalize(text: str) -> str:
    """NFKC (ligatures, full-width forms), typographic quotes and dashes as ASCII, whitespace collapsed."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).translate(_QUOTES)).strip()


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
        return _locate_row(q, page_text)
    return where[at], where[at + len(q) - 1] + 1


def _locate_row(q: str, page_text: str) -> tuple[int, int] | None:
    """A quoted table row with only some of its cells (``label | column: value``, folded): the page's row
    line with that label and every quoted cell, as ``(start, end)``; None if none has them all."""
    parts = [p.strip() for p in q.split(" | ")]
    if len(parts) < 2 or not all(parts):
        return None
    for m in re.finditer(r"[^\n]*\S[^\n]*", page_text):
        line = m.group(0)
        if " | " not in line:
            continue
        cells = [_folded(p)[0].strip() for p in line.split(" | ")]
        if cells[0] == parts[0] and set(parts[1:]) <= set(cells[1:]):
            return m.start() + len(line) - len(line.lstrip()), m.end() - (len(line) - len(line.rstrip()))
    return None


def quote_in(quote: str, page_text: str) -> bool:
    """Whether ``quote`` occurs in ``page_text``, ignoring whitespace, case, typographic quote
    marks and surrounding punctuation or ellipses (``locate`` finds where)."""
    return locate(quote, page_text) is not None


_SENTENCE = re.compile(r"(?<=[.!?。！？])\s+|\n\s*\n")


def word_overlap(a: str, b: str) -> float:
    """Share of the keyword tokens of ``a`` and ``b`` that they have in common (Jaccard)."""
    x, y = set(tokenize(a)), set(tokenize(b))
    return len(x & y) / (len(x | y) or 1)


def units(text: str) -> list[str]:
    """``text`` cut into sentences, with each table row (a line holding `` | ``) a unit of its own."""
    out: list[str] = []
    for line in text.split("\n"):
        if " | " in line:
            out.append(line.strip())
        elif out and " | " not in out[-1] and not out[-1].endswith((".", "!", "?", "。", "！", "？")):
            out[-1] += "\n" + line
        else:
            out.append(line)
    return [u for part in out for u in (_SENTENCE.split(part) if " | " not in part else [part]) if u.strip()]


def best_units(text: str, query: str, budget: int) -> list[str]:
    """The units of ``text`` (``units``) sharing the most words with ``query``, and their neighbours,
    in text order, within ``budget`` characters; at least the best one."""
    parts = units(text)
    if not parts:
        return []
    wanted = {stem(t) for t in tokenize(query)}
    scores = [len(wanted & {stem(t) for t in tokenize(u)}) for u in parts]
    order = sorted(range(len(parts)), key=lambda k: -scores[k])
    keep: set[int] = set()
    used = 0
    for k in order:
        for j in (k, k - 1, k + 1):
            if 0 <= j < len(parts) and j not in keep and (not keep or used + len(parts[j]) <= budget):
                keep.add(j)
                used += len(parts[j])
        if used >= budget:
            break
    return [parts[k] for k in sorted(keep)]


def closest_sentence(quote: str, page_text: str) -> str:
    """The sentence of ``page_text`` that shares the most words with ``quote`` (for feedback)."""
    best, best_score = "", 0.0
    for sent in _SENTENCE.split(page_text):
        sent = normalize(sent)
        if len(sent) < 12:
            continue
        score = word_overlap(quote, sent)
        if score > best_score:
            best, best_score = sent, score
    return best[:300]
