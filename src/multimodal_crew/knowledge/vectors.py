"""The vectors of the chunks: a Chroma collection, opened once, on first use. By default it is a
folder, ``<index>/chroma``; with ``MMCREW_CHROMA_URL`` it is a collection on a Chroma server
(``chromadb.HttpClient``, see :class:`ChromaServer`), shared by every machine that uses that server.

Every vector carries its document id (what searches filter on: a display name may change, an
id does not). Chroma's errors, including a damaged HNSW segment that shows up on first use rather
than at open, become the index's one-line ``ConfigError`` (``on_damage``). A server that cannot be
reached, or goes away mid-work, is ``BackendUnavailableError`` naming it; the next call tries again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from ..errors import BackendUnavailableError, ConfigError

__all__ = ["VectorIndex", "ChromaServer"]

WHAT = "vectors (chroma/)"


@dataclass(frozen=True)
class ChromaServer:
    """Where the vectors live when they are not a local folder (``MMCREW_CHROMA_URL``)."""

    url: str
    token: str = ""
    token_header: str = "Authorization"

    @classmethod
    def from_settings(cls, s) -> ChromaServer | None:
        url = s.chroma_url.strip()
        if not url:
            return None
        return cls(url, s.chroma_token, s.chroma_token_header.strip() or "Authorization")

    def parts(self) -> tuple[str, int, bool]:
        u = urlsplit(self.url if "://" in self.url else f"http://{self.url}")
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ConfigError(f"MMCREW_CHROMA_URL={self.url!r} is not a Chroma server URL: use http://host:8000")
        ssl = u.scheme == "https"
        return u.hostname, u.port or (443 if ssl else 8000), ssl

    def headers(self) -> dict[str, str]:
        if not self.token:
            return {}
        if self.token_header.lower() == "authorization":
            return {"Authorization": f"Bearer {self.token}"}
        return {self.token_header: self.token}

    def client(self) -> Any:
        """A ``chromadb.HttpClient`` for this server (telemetry off). Constructing it already talks to the
        server; its errors are the caller's to turn into :meth:`unavailable`."""
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        host, port, ssl = self.parts()
        return chromadb.HttpClient(
            host=host,
            port=port,
            ssl=ssl,
            headers=self.headers(),
            settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False),
        )

    def unavailable(self, e: BaseException) -> BackendUnavailableError:
        why = " ".join(str(e).split())[:200] or type(e).__name__
        return BackendUnavailableError(
            f"the Chroma server at {self.url} cannot be used ({why}); check that it is running and "
            "MMCREW_CHROMA_URL is right. Nothing was lost: a document is only visible once all its vectors are in"
        )


def _is_transport(e: BaseException) -> bool:
    """A connection-level failure talking to a Chroma server (not a refusal of what we sent)."""
    import httpx

    if isinstance(e, httpx.TransportError | ConnectionError | TimeoutError):
        return True
    text = str(e).lower()
    return isinstance(e, ValueError) and "could not connect" in text


class VectorIndex:
    def __init__(
        self,
        root: Path,
        on_damage: Callable[[str, BaseException], ConfigError],
        *,
        server: ChromaServer | None = None,
        collection: str = "chunks",
    ):
        self.root = Path(root)
        self._on_damage = on_damage
        self.server = server
        self.collection_name = collection if server is not None else "chunks"
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

        if self.server is not None:
            self.server.parts()  # a malformed URL is a ConfigError, not "unavailable"
            try:
                return self.server.client().get_or_create_collection(
                    self.collection_name, metadata={"hnsw:space": "cosine"}, embedding_function=None
                )
            except Exception as e:  # noqa: BLE001 - httpx's, Chroma's and the server's own errors
                raise self.server.unavailable(e) from None
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
            if self.server is not None:
                raise self.server.unavailable(e) from None
            raise self._on_damage(WHAT, e) from None
        except Exception as e:
            if self.server is not None and _is_transport(e):
                raise self.server.unavailable(e) from None
            raise

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
