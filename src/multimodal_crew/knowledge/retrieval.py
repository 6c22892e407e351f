"""Hybrid retrieval: BM25 and vector search fused by reciprocal rank.

>>> hits = search("what does the plan pay for an ambulance?", k=5)      # doctest: +SKIP
>>> hits[0].file, hits[0].page, round(hits[0].score, 4)
('Northwind_Standard_Benefits_Details.pdf', 31, 0.0325)

Each list contributes ``1 / (60 + rank)`` (Cormack et al., 2009) for its top
``depth`` chunks; only chunks the catalog holds are returned, so vectors of a
half-ingested file are never seen, and the vector search looks past as many
nearest vectors as there are uncommitted ones, so they cannot crowd out the
committed. ``file=`` (a display name, unique in the store, or a document id)
restricts both searches to that one document. Each hit carries its ``doc_id``.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..settings import Settings, get_settings
from .store import KnowledgeStore
from .text import content_terms, script_of, stem, tokenize

__all__ = ["Hit", "Retriever", "search", "EmptyKnowledgeError"]

RRF_K = 60


class EmptyKnowledgeError(InputError):
    """Nothing has been ingested into the store yet (``ingest.ingest_if_empty`` is the one check)."""

    @classmethod
    def of(cls, folder: Path) -> EmptyKnowledgeError:
        return cls(
            f"the knowledge base is empty: put documents in {folder} and run `mmcrew ingest` (or `mmcrew ingest PATH`)"
        )


@dataclass(frozen=True)
class Hit:
    file: str
    page: int
    score: float
    text: str
    chunk_id: str
    start: int
    end: int
    vector_rank: int | None = None
    keyword_rank: int | None = None
    doc_id: str = ""  # the document's id in the store: a citation reads exactly this document

    def as_dict(self) -> dict:
        return asdict(self)


_PREFIX = 5  # letters a word and a known word must share as a whole prefix to count as one word


def _prefix_known(term: str, vocab, ordered: list[str]) -> bool:
    """``term`` starts a known word ("crypto": "cryptocurrency") or a known word of ``_PREFIX``+ letters
    starts it ("usefulness": "useful")."""
    if len(term) >= _PREFIX:
        k = bisect.bisect_left(ordered, term)
        if k < len(ordered) and ordered[k].startswith(term):
            return True
    return any(term[:n] in vocab for n in range(_PREFIX, len(term)))


class Retriever:
    def __init__(self, store: KnowledgeStore, embedder=None, depth: int = 30, settings: Settings | None = None):
        self.store = store
        self._embedder = embedder
        self._settings = settings
        self.depth = depth
        # (catalog generation, value...): each replaced whole, so threads sharing the retriever read a consistent set
        self._stems: tuple[int, set[str], list[str]] | None = None  # stems, and the vocabulary sorted
        self._script: tuple[int, str] | None = None

    @property
    def embedder(self):
        """Loaded on first use, so an empty store is reported before the model loads."""
        if self._embedder is None:
            from .embedder import get_embedder

            self._embedder = get_embedder(self._settings)
        return self._embedder

    def keyword(self, query: str, n: int, doc_id: str | None = None) -> list[str]:
        ret, ids, docs = self.store.bm25()
        if ret is None or len(ids) == 0:
            return []
        toks = [t for t in tokenize(query) if t in ret.vocab_dict]
        if not toks:
            return []
        mask = (docs == doc_id).astype(np.float32) if doc_id else None
        scores = ret.get_scores(toks, weight_mask=mask)
        n = min(n, len(scores))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top])]
        return [str(ids[i]) for i in top if scores[i] > 0]

    def documents_script(self) -> str:
        """The script most of the indexed text is in (``"latin"``/``"cjk"``), from a sample of chunks;
        remembered per catalog generation."""
        gen = self.store.generation()
        if self._script is None or self._script[0] != gen:
            self._script = (gen, script_of(" ".join(self.store.sample_texts(200))))
        return self._script[1]

    def unknown_terms(self, query: str) -> list[str]:
        """Words of ``query`` that occur nowhere in the knowledge base, not even with another ending.

        A question that names something the documents never mention ("the Platinum plan",
        "standing desks") cannot be answered from them, whatever passages come back.
        """
        ret, _, _ = self.store.bm25()
        if ret is None:
            return []
        gen = self.store.generation()
        if self._stems is None or self._stems[0] != gen:
            self._stems = (gen, {stem(t) for t in ret.vocab_dict}, sorted(ret.vocab_dict))
        _, stems, ordered = self._stems
        vocab = ret.vocab_dict
        return [
            t for t in content_terms(query)
            if t not in vocab and stem(t) not in stems and not _prefix_known(t, vocab, ordered)
        ]  # fmt: skip

    def vector(self, query: str, n: int, doc_id: str | None = None) -> list[str]:
        """The ``n`` nearest committed chunks. Vectors Chroma holds beyond the catalog's chunks
        (a running or interrupted ingestion's, a retired document's not yet collected) may all be
        nearer than the first committed one, so the query reaches that many further."""
        count = self.store.vectors.count()
        if count == 0:
            return []
        extra = max(0, count - self.store.n_chunks())
        q = self.embedder.embed([query])
        ids = self.store.vectors.query(q, min(n + extra, count), doc_id)
        committed = self.store.committed(ids)
        return [cid for cid in ids if cid in committed][:n]

    def document(self, file: str):
        """The document a ``file=`` filter names: its display name (unique) or its id."""
        doc = self.store.doc_by_file(file) or self.store.doc(file)
        if doc is None:
            known = ", ".join(sorted(d.file for d in self.store.docs())[:10])
            raise InputError(f"no ingested document is named {file!r}; use a name `mmcrew kb` lists: {known}")
        return doc

    def search(self, query: str, k: int = 5, file: str | None = None) -> list[Hit]:
        if not query.strip():
            raise InputError("the search query is empty")
        if self.store.n_chunks() == 0:
            raise EmptyKnowledgeError.of((self._settings or get_settings()).knowledge_path)
        doc_id = self.document(file).doc_id if file else None
        vec = self.vector(query, self.depth, doc_id)
        kw = self.keyword(query, self.depth, doc_id)
        fused: dict[str, float] = {}
        for ranks in (vec, kw):
            for r, cid in enumerate(ranks):
                fused[cid] = fused.get(cid, 0.0) + 1.0 / (RRF_K + r + 1)
        order = sorted(fused, key=fused.get, reverse=True)
        records = self.store.chunks(order)  # a chunk retired since the search began drops out here
        vrank = {c: i + 1 for i, c in enumerate(vec)}
        krank = {c: i + 1 for i, c in enumerate(kw)}
        hits: list[Hit] = []
        files: dict[str, str] = {}
        for cid in order:
            rec = records.get(cid)
            if rec is None:
                continue
            if rec.doc_id not in files:
                d = self.store.doc(rec.doc_id)
                files[rec.doc_id] = d.file if d else ""
            hits.append(
                Hit(
                    files[rec.doc_id],
                    rec.page,
                    fused[cid],
                    rec.text,
                    cid,
                    rec.start,
                    rec.end,
                    vrank.get(cid),
                    krank.get(cid),
                    rec.doc_id,
                )
            )
            if len(hits) == k:
                break
        return hits


_retrievers: dict[tuple, Retriever] = {}
_LOCK = threading.Lock()


def get_retriever(settings: Settings | None = None) -> Retriever:
    """One retriever per store and process (the embedder and the BM25 index load once), however
    many threads ask for it at once."""
    from .ingest import open_store

    s = settings or get_settings()
    key = (str(s.index_path), s.embedder, s.database_url, s.chroma_url, s.namespace)
    found = _retrievers.get(key)
    if found is None:
        with _LOCK:
            found = _retrievers.get(key)
            if found is None:
                found = _retrievers[key] = Retriever(open_store(s), settings=s)
    return found


def search(query: str, k: int | None = None, file: str | None = None, settings: Settings | None = None) -> list[Hit]:
    s = settings or get_settings()
    return get_retriever(s).search(query, k or s.top_k, file)
