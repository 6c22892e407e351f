"""The knowledge store: a SQLite catalog, a persistent Chroma folder and a BM25 index.

Layout, under ``$MMCREW_HOME/knowledge/<embedder>-<hash>/`` (one store per embedder,
since vectors from different embedders cannot be mixed)::

    catalog.sqlite   documents, their pages (for citation checks) and chunks; the source of truth
    chroma/          the chunk vectors (cosine), id = chunk id
    bm25/            keyword index over the committed chunks, tagged with the catalog generation
    .lock            held by the one ingestion allowed at a time

A document becomes visible in one SQLite transaction, after all its vectors are
in Chroma. Vectors written before an interruption are listed in ``pending`` and
removed by the next ingestion; vectors of replaced or deleted documents are
listed in ``garbage`` in the same transaction that retires them. Retrieval only
returns chunks that the catalog holds, so a half-ingested file is never seen.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, UserError
from .text import tokenize

__all__ = ["KnowledgeStore", "DocRecord", "ChunkRecord", "StoreBusyError", "store_dir"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    doc_id TEXT PRIMARY KEY, path TEXT UNIQUE NOT NULL, file TEXT NOT NULL, sha256 TEXT NOT NULL,
    size INTEGER NOT NULL, kind TEXT NOT NULL, n_pages INTEGER NOT NULL, n_chunks INTEGER NOT NULL,
    ingested_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS docs_file ON docs(file);
CREATE INDEX IF NOT EXISTS docs_sha ON docs(sha256);
CREATE TABLE IF NOT EXISTS pages (doc_id TEXT NOT NULL, page INTEGER NOT NULL, text TEXT NOT NULL,
    PRIMARY KEY (doc_id, page));
CREATE TABLE IF NOT EXISTS chunks (chunk_id TEXT PRIMARY KEY, doc_id TEXT NOT NULL, seq INTEGER NOT NULL,
    page INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL, text TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE TABLE IF NOT EXISTS pending (doc_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS garbage (doc_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class StoreBusyError(UserError):
    """Another ingestion holds the store's lock."""


@dataclass(frozen=True)
class DocRecord:
    doc_id: str
    path: str
    file: str
    sha256: str
    size: int
    kind: str
    n_pages: int
    n_chunks: int
    ingested_at: float


@dataclass(frozen=True)
class ChunkRecord:
    chunk_id: str
    doc_id: str
    seq: int
    page: int
    start: int
    end: int
    text: str


def store_dir(index_root: Path, embedder_name: str) -> Path:
    """A folder name that is safe whatever the embedder is called, and unique to it (hashed)."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", embedder_name).strip("-")[:40] or "embedder"
    return index_root / f"{slug}-{hashlib.sha256(embedder_name.encode()).hexdigest()[:8]}"


class KnowledgeStore:
    def __init__(self, root: Path, embedder_name: str):
        self.root = Path(root)
        self.embedder_name = embedder_name
        self.root.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            self.root / "catalog.sqlite", timeout=30, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        try:
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as e:
            raise ConfigError(
                f"the knowledge catalog {self.root / 'catalog.sqlite'} is damaged ({e}); move the folder aside "
                f"(mv {self.root} {self.root}.broken) and run `mmcrew ingest` again"
            ) from None
        self._check_embedder()
        self._collection = None
        self._lock_fd: int | None = None
        self._bm25 = None  # (generation, retriever, chunk_ids array)

    # -- housekeeping -------------------------------------------------------------------
    def _check_embedder(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key='embedder'").fetchone()
        if row is None:
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('embedder', ?)", (self.embedder_name,))
        elif row[0] != self.embedder_name:
            raise ConfigError(f"the index at {self.root} was built with {row[0]}, not {self.embedder_name}")

    @property
    def collection(self):
        if self._collection is None:
            import chromadb
            from chromadb.config import Settings as ChromaSettings

            client = chromadb.PersistentClient(
                path=str(self.root / "chroma"),
                settings=ChromaSettings(anonymized_telemetry=False, allow_reset=False),
            )
            self._collection = client.get_or_create_collection(
                "chunks", metadata={"hnsw:space": "cosine"}, embedding_function=None
            )
        return self._collection

    def lock(self) -> None:
        """Take the ingestion lock, or raise ``StoreBusyError`` at once."""
        path = self.root / ".lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise StoreBusyError(
                f"another ingestion (pid {holder}) is writing to {self.root}; wait for it to finish"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def close(self) -> None:
        self.unlock()
        self._db.close()

    def generation(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return int(row[0]) if row else 0

    def collect_garbage(self) -> int:
        """Remove vectors of documents that were never committed or have been retired."""
        ids = [r[0] for r in self._db.execute("SELECT doc_id FROM pending UNION SELECT doc_id FROM garbage")]
        for doc_id in ids:
            if not self._db.execute("SELECT 1 FROM docs WHERE doc_id=?", (doc_id,)).fetchone():
                self.collection.delete(where={"doc_id": doc_id})
            self._db.execute("DELETE FROM pending WHERE doc_id=?", (doc_id,))
            self._db.execute("DELETE FROM garbage WHERE doc_id=?", (doc_id,))
        return len(ids)

    # -- reading ------------------------------------------------------------------------
    def docs(self) -> list[DocRecord]:
        return [DocRecord(*r) for r in self._db.execute("SELECT * FROM docs ORDER BY file")]

    def doc_by_path(self, path: str) -> DocRecord | None:
        r = self._db.execute("SELECT * FROM docs WHERE path=?", (path,)).fetchone()
        return DocRecord(*r) if r else None

    def doc_by_sha(self, sha: str) -> DocRecord | None:
        r = self._db.execute("SELECT * FROM docs WHERE sha256=? LIMIT 1", (sha,)).fetchone()
        return DocRecord(*r) if r else None

    def n_chunks(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]

    def chunks(self, ids: Sequence[str]) -> dict[str, ChunkRecord]:
        out: dict[str, ChunkRecord] = {}
        ids = list(ids)
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            q = f"SELECT * FROM chunks WHERE chunk_id IN ({','.join('?' * len(part))})"
            out.update({r[0]: ChunkRecord(*r) for r in self._db.execute(q, part)})
        return out

    def doc(self, doc_id: str) -> DocRecord | None:
        r = self._db.execute("SELECT * FROM docs WHERE doc_id=?", (doc_id,)).fetchone()
        return DocRecord(*r) if r else None

    def page_text(self, file: str, page: int) -> str | None:
        """The text of ``page`` of the document named ``file`` (None if there is no such page)."""
        r = self._db.execute(
            "SELECT p.text FROM pages p JOIN docs d ON d.doc_id=p.doc_id WHERE d.file=? AND p.page=? LIMIT 1",
            (file, page),
        ).fetchone()
        return r[0] if r else None

    # -- writing ------------------------------------------------------------------------
    def begin_doc(self, doc_id: str) -> None:
        self._db.execute("INSERT OR IGNORE INTO pending VALUES (?)", (doc_id,))

    def add_vectors(self, chunks: Sequence[ChunkRecord], file: str, vectors: np.ndarray) -> None:
        step = 4000
        for i in range(0, len(chunks), step):
            part = chunks[i : i + step]
            self.collection.upsert(
                ids=[c.chunk_id for c in part],
                embeddings=vectors[i : i + step],
                metadatas=[{"doc_id": c.doc_id, "file": file, "page": c.page} for c in part],
            )

    def vectors_of(self, doc_id: str) -> tuple[list[str], np.ndarray]:
        got = self.collection.get(where={"doc_id": doc_id}, include=["embeddings"])
        return got["ids"], np.asarray(got["embeddings"], dtype=np.float32)

    def commit_doc(self, rec: DocRecord, pages: Iterable[tuple[int, str]], chunks: Sequence[ChunkRecord]) -> None:
        """Make ``rec`` visible and retire whatever document had its path, in one transaction."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            old = db.execute("SELECT doc_id FROM docs WHERE path=?", (rec.path,)).fetchone()
            if old and old[0] != rec.doc_id:
                self._retire(old[0])
            db.execute("INSERT OR REPLACE INTO docs VALUES (?,?,?,?,?,?,?,?,?)", _astuple(rec))
            db.executemany("INSERT OR REPLACE INTO pages VALUES (?,?,?)", [(rec.doc_id, n, t) for n, t in pages])
            db.executemany("INSERT OR REPLACE INTO chunks VALUES (?,?,?,?,?,?,?)", [_astuple(c) for c in chunks])
            db.execute("DELETE FROM pending WHERE doc_id=?", (rec.doc_id,))
            self._bump(db)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def remove_doc(self, doc_id: str) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            self._retire(doc_id)
            self._bump(db)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _retire(self, doc_id: str) -> None:
        for table in ("docs", "pages", "chunks"):
            self._db.execute(f"DELETE FROM {table} WHERE doc_id=?", (doc_id,))
        self._db.execute("INSERT OR IGNORE INTO garbage VALUES (?)", (doc_id,))

    @staticmethod
    def _bump(db: sqlite3.Connection) -> None:
        db.execute(
            "INSERT INTO meta VALUES ('generation', '1') "
            "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    # -- keyword index ------------------------------------------------------------------
    def bm25(self):
        """(retriever or None, chunk ids, file per chunk) for the current generation; rebuilt when stale."""
        gen = self.generation()
        if self._bm25 is not None and self._bm25[0] == gen:
            return self._bm25[1:]
        folder = self.root / "bm25"
        loaded = self._load_bm25(folder, gen)
        if loaded is None:
            loaded = self._build_bm25(gen)
        self._bm25 = (gen, *loaded)
        return loaded

    def _load_bm25(self, folder: Path, gen: int):
        try:
            meta = json.loads((folder / "mmcrew.json").read_text())
            if meta.get("generation") != gen:
                return None
            import bm25s

            ret = bm25s.BM25.load(str(folder), mmap=False, show_progress=False) if meta["n"] else None
            ids = np.load(folder / "ids.npy", allow_pickle=False)
            files = np.load(folder / "files.npy", allow_pickle=False)
            return ret, ids, files
        except (OSError, ValueError, KeyError):
            return None

    def rebuild_bm25(self) -> None:
        self._bm25 = None
        self.bm25()

    def _build_bm25(self, gen: int):
        import bm25s

        rows = self._db.execute(
            "SELECT c.chunk_id, d.file, c.text FROM chunks c JOIN docs d ON d.doc_id=c.doc_id ORDER BY c.rowid"
        ).fetchall()
        ids = np.array([r[0] for r in rows], dtype=str)
        files = np.array([r[1] for r in rows], dtype=str)
        ret = None
        if rows:
            ret = bm25s.BM25()
            ret.index([tokenize(r[2]) or [""] for r in rows], show_progress=False)
        tmp = self.root / f"bm25.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        if ret is not None:
            ret.save(str(tmp), show_progress=False)
        np.save(tmp / "ids.npy", ids, allow_pickle=False)
        np.save(tmp / "files.npy", files, allow_pickle=False)
        (tmp / "mmcrew.json").write_text(json.dumps({"generation": gen, "n": len(rows), "built": time.time()}))
        final = self.root / "bm25"
        old = self.root / f"bm25.old-{os.getpid()}"
        try:  # another reader may be publishing the same generation; either copy is right
            if final.exists():
                os.replace(final, old)
            os.replace(tmp, final)
        except OSError:
            pass
        shutil.rmtree(old, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
        return ret, ids, files


def _astuple(rec) -> tuple:
    return tuple(rec.__dict__.values())
