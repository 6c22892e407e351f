"""The vectors of the chunks: a Chroma collection in ``<index>/chroma``, opened once, on first use.

Every vector carries its document id (what searches filter on: a display name may change, an
id does not). Chroma's errors, including a damaged HNSW segment that shows up on first use rather
than at open, become the index's one-line ``ConfigError`` (``on_damage``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError

__all__ = ["VectorIndex"]

WHAT = "vectors (chroma/)"


class VectorIndex:
    def __init__(self, root: Path, on_damage: Callable[[str, BaseException], ConfigError]):
        self.root = Path(root)
        self._on_damage = on_damage
        self._collection: Any = None
        self._lock = threading.Lock()  # opened once, whichever thread asks first

    @property
    def collection(self) -> Any:
        if self._collection is None:
            with self._lock:
                if self._collection is None:
                    self._collection = self._open_collection()
        return self._collection

    def _open_collection(self) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        try:
            client = chromadb.PersistentClient(
                path=str(self.root / "chroma"),
                settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False),
            )
            return client.get_or_create_collection("chunks", metadata={"hnsw:space": "cosine"}, embedding_function=None)
        except Exception as e:  # noqa: BLE001 - Chroma raises its own, SQLite's and OS errors here
            raise self._on_damage(WHAT, e) from None

    @contextmanager
    def _use(self) -> Iterator[Any]:
        from chromadb.errors import ChromaError

        collection = self.collection
        try:
            yield collection
        except ChromaError as e:
            raise self._on_damage(WHAT, e) from None

    def count(self) -> int:
        with self._use() as col:
            return col.count()

    def query(self, embedding, n: int, doc_id: str | None = None) -> list[str]:
        """Ids of the ``n`` nearest vectors, of one document when ``doc_id`` is given."""
        where = {"doc_id": doc_id} if doc_id else None
        with self._use() as col:
            res = col.query(query_embeddings=embedding, n_results=n, where=where, include=[])
        return list(res["ids"][0])

    def add(self, chunks: Sequence[Any], vectors: np.ndarray) -> None:
        """Store the chunks' vectors, tagged with their document id and page."""
        step = 4000
        for i in range(0, len(chunks), step):
            part = chunks[i : i + step]
            with self._use() as col:
                col.upsert(
                    ids=[c.chunk_id for c in part],
                    embeddings=vectors[i : i + step],
                    metadatas=[{"doc_id": c.doc_id, "page": c.page} for c in part],
                )

    def of_doc(self, doc_id: str) -> tuple[list[str], np.ndarray]:
        with self._use() as col:
            got = col.get(where={"doc_id": doc_id}, include=["embeddings"])
        return got["ids"], np.asarray(got["embeddings"], dtype=np.float32)

    def remove_doc(self, doc_id: str) -> None:
        with self._use() as col:
            col.delete(where={"doc_id": doc_id})
