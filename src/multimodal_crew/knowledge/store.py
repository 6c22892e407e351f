"""The knowledge store: the SQLite catalog, the source of truth, which owns the chunk vectors
(``vectors.py``, Chroma) and the keyword index (``keywords.py``, BM25) and keeps them in step.

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

A document's display name (``file``, what citations show) is unique in the store: a
name that another path already has gets as many parent folders in front as make it
differ (``DIR_B/notes.txt``). Every read of a document's pages goes by its id or that
unique name, so a citation always reads the document it names.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..db import Database, PostgresDatabase, SharedLock, SQLiteDatabase, schema_name
from ..errors import ConfigError, UserError
from ..hashing import short_hash
from ..locks import PidLock
from .keywords import KeywordIndex
from .vectors import VectorIndex

__all__ = ["KnowledgeStore", "DocRecord", "ChunkRecord", "StoreBusyError", "store_dir", "name_candidates", "printable"]

# the same SQL on SQLite and PostgreSQL (``db.Database``): "end" is quoted, times are DOUBLE PRECISION
SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    doc_id TEXT PRIMARY KEY, path TEXT UNIQUE NOT NULL, file TEXT NOT NULL, sha256 TEXT NOT NULL,
    size BIGINT NOT NULL, kind TEXT NOT NULL, n_pages INTEGER NOT NULL, n_chunks INTEGER NOT NULL,
    ingested_at DOUBLE PRECISION NOT NULL);
CREATE INDEX IF NOT EXISTS docs_file ON docs(file);
CREATE INDEX IF NOT EXISTS docs_sha ON docs(sha256);
CREATE TABLE IF NOT EXISTS pages (doc_id TEXT NOT NULL, page INTEGER NOT NULL, text TEXT NOT NULL,
    PRIMARY KEY (doc_id, page));
CREATE TABLE IF NOT EXISTS chunks (chunk_id TEXT PRIMARY KEY, doc_id TEXT NOT NULL, seq INTEGER NOT NULL,
    page INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL, text TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE TABLE IF NOT EXISTS pending (doc_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS garbage (doc_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# created after older catalogs have had their duplicate display names made unique (``_migrate``)
UNIQUE_NAMES = "CREATE UNIQUE INDEX IF NOT EXISTS docs_file_unique ON docs(file)"


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


def printable(text: str) -> str:
    """``text`` with the bytes of a file name that is not valid UTF-8 (surrogate escapes from
    ``os.fsdecode``) written as ``\\xe9``: SQLite, Chroma and the terminal all refuse surrogates."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def name_candidates(name: str, path: str) -> Iterator[str]:
    """``name``, then ``name`` with one, two, ... of the folders above it in ``path`` in front,
    then ``path`` itself: the display names a document may take, shortest first."""
    yield name
    parts = PurePosixPath(path).parts
    depth = len(PurePosixPath(name).parts)
    above = [p for p in parts[: max(len(parts) - depth, 0)] if p != "/"]
    for i in range(1, len(above) + 1):
        yield "/".join([*above[-i:], name])
    yield path


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())[:200] or type(e).__name__


def store_dir(index_root: Path, embedder_name: str) -> Path:
    """A folder name that is safe whatever the embedder is called, and unique to it (hashed)."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", embedder_name).strip("-")[:40] or "embedder"
    return index_root / f"{slug}-{short_hash(embedder_name, 8)}"


class KnowledgeStore:
    """A store's catalog, vectors and keyword index. By default all three are files under ``root``.
    With ``database_url`` (``MMCREW_DATABASE_URL``) the catalog is a PostgreSQL schema named for the
    store and the ingestion lock an advisory lock, shared by every machine; with ``chroma``
    (``MMCREW_CHROMA_URL``, see ``vectors.ChromaServer``) the vectors are a collection on a Chroma
    server. The keyword index stays a local file under ``root``, rebuilt from the catalog whenever
    the catalog's generation changes, so every machine sharing the catalog ranks alike."""

    def __init__(
        self,
        root: Path,
        embedder_name: str,
        *,
        database_url: str = "",
        chroma=None,
        machine: str = "",
        namespace: str = "main",
    ):
        self.root = Path(root)
        self.embedder_name = embedder_name
        self.database_url = database_url.strip()
        self.shared_name = f"{namespace}_{self.root.name}"  # its schema, lock and collection on shared servers
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(
                f"cannot create the knowledge index folder {self.root} ({e.strerror}); "
                "set MMCREW_HOME to a folder you can write to"
            ) from None
        self._db = self._open_catalog()
        holder = f"{machine or 'this machine'} pid {os.getpid()}"
        if self.database_url:
            self._ingest_lock = SharedLock(self.database_url, f"ingest:{self.shared_name}", holder)
        else:
            self._ingest_lock = PidLock(self.root / ".lock")
        # a collection on a server is named for the store, and for the machine when its catalog is local
        # (a local catalog's garbage collection must never remove another machine's vectors)
        collection = f"mmcrew-{self.shared_name}"
        if not self.database_url:
            collection += f"-{short_hash(machine, 6)}"
        self.vectors = VectorIndex(self.root, self.damaged, server=chroma, collection=collection)  # vectors.py
        self.keywords = KeywordIndex(self.root)  # BM25: keywords.py
        self._wrote = False  # this store changed the catalog: its own searches wait for the new index

    @property
    def where(self) -> str:
        """Where the catalog lives, for messages: the folder, or the database and schema."""
        if self.database_url:
            from ..db import safe_url

            return f"{safe_url(self.database_url)} (schema {schema_name(self.shared_name)})"
        return str(self.root)

    def damaged(self, what: str, e: BaseException) -> ConfigError:
        """The one-line error for a part of the index that cannot be read: the whole folder goes
        aside, since the catalog and the vectors only make sense together."""
        return ConfigError(
            f"the knowledge {what} in {self.root} is damaged ({_one_line(e)}); move the folder aside with "
            f"`mv {self.root} {self.root}.broken` and run `mmcrew ingest` again"
        )

    def _open_catalog(self) -> Database:
        """Every failure to open a SQLite catalog (not a database, a damaged page, a folder in its place)
        is a ``ConfigError``, the first statement included: SQLite only reads the file then. A shared
        catalog that cannot be reached is ``BackendUnavailableError`` (``db.unavailable``)."""
        if self.database_url:
            db: Database = PostgresDatabase(self.database_url, schema_name(self.shared_name))
            with db.transaction():  # two machines opening a new store at once: one creates, one waits
                db.run("SELECT pg_advisory_xact_lock(hashtext(?))", (f"catalog:{self.shared_name}",))
                db.script(SCHEMA)
            self._migrate(db)
            self._db = db
            self._check_embedder()
            return db
        db = None
        try:
            db = SQLiteDatabase(self.root / "catalog.sqlite")
            db.script(SCHEMA)
            self._migrate(db)
            self._db = db
            self._check_embedder()
            return db
        except sqlite3.Error as e:
            if db is not None:
                db.close()
            raise self.damaged("catalog (catalog.sqlite)", e) from None

    # -- housekeeping -------------------------------------------------------------------
    def _migrate(self, db: Database) -> None:
        """Give documents of an older catalog that share a display name unique names, then let
        the database keep them unique."""
        dupes = db.one("SELECT file FROM docs GROUP BY file HAVING COUNT(*) > 1 LIMIT 1")
        if dupes:
            with db.transaction():
                taken = {r[0] for r in db.all("SELECT file FROM docs")}
                seen: set[str] = set()
                for doc_id, path, file in db.all("SELECT doc_id, path, file FROM docs ORDER BY ingested_at, path"):
                    if file in seen:
                        new = next(c for c in name_candidates(file, path) if c not in taken)
                        db.run("UPDATE docs SET file=? WHERE doc_id=?", (new, doc_id))
                        taken.add(new)
                        file = new
                    seen.add(file)
                self._bump(db)
        db.run(UNIQUE_NAMES)

    def _check_embedder(self) -> None:
        row = self._db.one("SELECT value FROM meta WHERE key='embedder'")
        if row is None:
            self._db.run("INSERT INTO meta VALUES ('embedder', ?) ON CONFLICT DO NOTHING", (self.embedder_name,))
        elif row[0] != self.embedder_name:
            raise ConfigError(f"the index at {self.where} was built with {row[0]}, not {self.embedder_name}")

    def lock(self) -> None:
        """Take the ingestion lock, or raise ``StoreBusyError`` at once."""
        if not self._ingest_lock.acquire():
            who = self._ingest_lock.holder
            who = f"pid {who}" if who.isdigit() or who == "?" else who
            raise StoreBusyError(f"another ingestion ({who}) is writing to {self.where}; wait for it to finish")

    def unlock(self) -> None:
        self._ingest_lock.release()

    def close(self) -> None:
        self.unlock()
        self._db.close()

    def generation(self) -> int:
        row = self._db.one("SELECT value FROM meta WHERE key='generation'")
        return int(row[0]) if row else 0

    def collect_garbage(self) -> int:
        """Remove vectors of documents that were never committed or have been retired."""
        ids = [r[0] for r in self._db.all("SELECT doc_id FROM pending UNION SELECT doc_id FROM garbage")]
        for doc_id in ids:
            if not self._db.one("SELECT 1 FROM docs WHERE doc_id=?", (doc_id,)):
                self.vectors.remove_doc(doc_id)
            self._db.run("DELETE FROM pending WHERE doc_id=?", (doc_id,))
            self._db.run("DELETE FROM garbage WHERE doc_id=?", (doc_id,))
        return len(ids)

    # -- reading ------------------------------------------------------------------------
    def docs(self) -> list[DocRecord]:
        return [DocRecord(*r) for r in self._db.all("SELECT * FROM docs ORDER BY file")]

    def doc_by_path(self, path: str) -> DocRecord | None:
        r = self._db.one("SELECT * FROM docs WHERE path=?", (path,))
        return DocRecord(*r) if r else None

    def docs_by_sha(self, sha: str) -> list[DocRecord]:
        return [DocRecord(*r) for r in self._db.all("SELECT * FROM docs WHERE sha256=?", (sha,))]

    def doc_by_file(self, file: str) -> DocRecord | None:
        """The document whose display name is ``file`` (names are unique in a store)."""
        r = self._db.one("SELECT * FROM docs WHERE file=?", (file,))
        return DocRecord(*r) if r else None

    def unique_name(self, path: str, name: str, where: str | None = None) -> str:
        """The display name for the document at ``path`` whose natural name is ``name``: the
        shortest of ``name_candidates(name, where)`` no other path has (``where``: the path as
        given, before symlinks are resolved; default ``path``). A path already indexed under one
        of them keeps it, so re-ingesting a file (also from another folder level) keeps its citations."""

        def taken(candidate: str) -> bool:
            return self._db.one("SELECT 1 FROM docs WHERE file=? AND path<>?", (candidate, path)) is not None

        candidates = list(dict.fromkeys(name_candidates(name, where or path)))
        old = self.doc_by_path(path)
        if old is not None and old.file in candidates and not taken(old.file):
            return old.file
        for candidate in candidates:
            if not taken(candidate):
                return candidate
        n = 2
        while taken(f"{path} ({n})"):  # a name that is another document's path: vanishingly rare
            n += 1
        return f"{path} ({n})"

    def chunk_spans(self, doc_id: str) -> list[tuple[int, int, int]]:
        """(page, start, end) of each chunk of a document, in order: equal spans over equal content
        mean equal chunk texts, so their vectors can be reused."""
        q = 'SELECT page, start, "end" FROM chunks WHERE doc_id=? ORDER BY seq'
        return [tuple(r) for r in self._db.all(q, (doc_id,))]

    def committed(self, chunk_ids: Sequence[str]) -> set[str]:
        """Those of ``chunk_ids`` that the catalog holds (the rest are vectors of a document being
        ingested, or of one interrupted or retired and not yet collected)."""
        out: set[str] = set()
        ids = list(chunk_ids)
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            q = f"SELECT chunk_id FROM chunks WHERE chunk_id IN ({','.join('?' * len(part))})"
            out.update(r[0] for r in self._db.all(q, part))
        return out

    def n_chunks(self) -> int:
        return self._db.one("SELECT COUNT(*) FROM chunks")[0]

    def sample_texts(self, n: int) -> list[str]:
        """Up to ``n`` chunk texts spread over the whole store (every k-th in document order)."""
        step = max(self.n_chunks() // max(n, 1), 1)
        q = (
            "SELECT text FROM (SELECT text, ROW_NUMBER() OVER (ORDER BY doc_id, seq) AS n FROM chunks) numbered "
            "WHERE n % ? = 0 LIMIT ?"
        )
        spread = self._db.all(q, (step, n))
        return [r[0] for r in spread or self._db.all("SELECT text FROM chunks ORDER BY doc_id, seq LIMIT ?", (n,))]

    def chunks(self, ids: Sequence[str]) -> dict[str, ChunkRecord]:
        out: dict[str, ChunkRecord] = {}
        ids = list(ids)
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            q = f"SELECT * FROM chunks WHERE chunk_id IN ({','.join('?' * len(part))})"
            out.update({r[0]: ChunkRecord(*r) for r in self._db.all(q, part)})
        return out

    def doc(self, doc_id: str) -> DocRecord | None:
        r = self._db.one("SELECT * FROM docs WHERE doc_id=?", (doc_id,))
        return DocRecord(*r) if r else None

    def page_text(self, file: str, page: int, doc_id: str | None = None) -> str | None:
        """The text of ``page`` of the document named ``file`` (None if there is no such page).
        With ``doc_id`` (a retrieval hit's), exactly that document is read, and only if it still
        has that name."""
        q = "SELECT p.text FROM pages p JOIN docs d ON d.doc_id=p.doc_id WHERE d.file=? AND p.page=?"
        args: tuple = (file, page)
        if doc_id:
            q, args = q + " AND d.doc_id=?", (*args, doc_id)
        r = self._db.one(q, args)
        return r[0] if r else None

    # -- writing ------------------------------------------------------------------------
    def begin_doc(self, doc_id: str) -> None:
        self._db.run("INSERT INTO pending VALUES (?) ON CONFLICT DO NOTHING", (doc_id,))

    def commit_doc(self, rec: DocRecord, pages: Iterable[tuple[int, str]], chunks: Sequence[ChunkRecord]) -> None:
        """Make ``rec`` visible and retire whatever document had its path, in one transaction."""
        with self._db.transaction() as db:
            old = db.one("SELECT doc_id FROM docs WHERE path=?", (rec.path,))
            if old and old[0] != rec.doc_id:
                self._retire(old[0])
            for table in ("docs", "pages", "chunks"):  # the same document again (e.g. under a new name)
                db.run(f"DELETE FROM {table} WHERE doc_id=?", (rec.doc_id,))
            db.run("INSERT INTO docs VALUES (?,?,?,?,?,?,?,?,?)", _astuple(rec))
            db.many("INSERT INTO pages VALUES (?,?,?)", [(rec.doc_id, n, t) for n, t in pages])
            db.many("INSERT INTO chunks VALUES (?,?,?,?,?,?,?)", [_astuple(c) for c in chunks])
            db.run("DELETE FROM pending WHERE doc_id=?", (rec.doc_id,))
            self._bump(db)

    def remove_doc(self, doc_id: str) -> None:
        with self._db.transaction() as db:
            self._retire(doc_id)
            self._bump(db)

    def _retire(self, doc_id: str) -> None:
        for table in ("docs", "pages", "chunks"):
            self._db.run(f"DELETE FROM {table} WHERE doc_id=?", (doc_id,))
        self._db.run("INSERT INTO garbage VALUES (?) ON CONFLICT DO NOTHING", (doc_id,))

    def _bump(self, db: Database) -> None:
        self._wrote = True
        db.run(
            "INSERT INTO meta VALUES ('generation', '1') "
            "ON CONFLICT(key) DO UPDATE SET value = CAST(CAST(meta.value AS INTEGER) + 1 AS TEXT)"
        )

    # -- keyword index (keywords.py) -----------------------------------------------------
    def bm25(self):
        """(bm25s retriever or None, chunk ids, document id per chunk) for the current generation;
        rebuilt when stale."""
        # shared catalog: answer with the index in memory while the new generation's is built (keywords.py),
        # unless this store made the change (a writer reads its own writes)
        wait = not self.database_url or self._wrote
        self._wrote = False
        return self.keywords.get(self.generation(), self._keyword_rows, wait=wait)

    def rebuild_bm25(self) -> None:
        self.keywords.forget()
        self.bm25()

    def _keyword_rows(self) -> list[tuple[str, str, str]]:
        q = "SELECT c.chunk_id, c.doc_id, c.text FROM chunks c JOIN docs d ON d.doc_id=c.doc_id ORDER BY c.doc_id, c.seq"
        return self._db.all(q)


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction on a plain SQLite connection in autocommit mode: committed, or rolled back
    on any error (the serve run store's; stores on ``db.Database`` use its ``transaction``)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _astuple(rec) -> tuple:
    return tuple(rec.__dict__.values())
