"""Incremental ingestion: ``ingest([paths])`` brings the store in line with the files.

>>> report = ingest([Path("knowledge")])               # doctest: +SKIP
>>> report.added, report.unchanged, report.failed
(['plan.pdf'], [], [('scan.pdf', 'no text layer on any page (a scanned PDF?) ...')])

* A file is identified by its resolved path; its content by SHA-256 and the chunk
  settings (``MMCREW_CHUNK_SIZE``/``_OVERLAP``) it was cut with. Unchanged files are
  skipped without being opened by a parser; changed files, and all files after the
  chunk settings change, are replaced; files that were ingested from a folder, or
  named directly, and have since disappeared are removed.
* Its display name (what citations show) is its path relative to the folder given,
  made unique in the store (``DIR_B/notes.txt`` next to another ``notes.txt``). A file
  name that is not valid UTF-8 is kept losslessly with its odd bytes written ``\\xe9``.
* A file whose content another document already has (a copy under another name)
  reuses that document's vectors instead of embedding again.
* Each file is committed on its own (see ``store``): an interruption leaves every
  document either fully in or not at all, and the next run finishes the job.
* A file that cannot be read is reported with its reason and skipped; if an older
  version of it is in the store, that version is kept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..hashing import file_sha256, short_hash
from ..settings import Settings, get_settings
from .loaders import SUPPORTED_SUFFIXES, DocumentError, load_document
from .store import ChunkRecord, DocRecord, KnowledgeStore, printable
from .text import chunk_page

CHUNKER = "v3"  # bump when chunk_page cuts differently or a loader reads pages differently (v2: PDF table
# rows; v3: table headers above a heading line): every document is then re-chunked

__all__ = ["IngestReport", "ingest", "ingest_if_empty", "step_progress", "open_store", "scan", "document_id"]

Progress = Callable[[str, dict], None]
_FIRST_INGEST = threading.Lock()


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    chunks_embedded: int = 0
    chunks_reused: int = 0
    seconds: float = 0.0
    store: str = ""
    interrupted: bool = False

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def open_store(settings: Settings | None = None, embedder_name: str | None = None) -> KnowledgeStore:
    from .store import store_dir
    from .vectors import ChromaServer

    s = settings or get_settings()
    if embedder_name is None:
        embedder_name = embedder_name_for(s)
    return KnowledgeStore(
        store_dir(s.index_path, embedder_name),
        embedder_name,
        database_url=s.database_url,
        chroma=ChromaServer.from_settings(s),
        machine=s.machine_name,
        namespace=s.namespace,
    )


def ingest_if_empty(
    store: KnowledgeStore, settings: Settings | None = None, progress: Progress | None = None, embedder=None
) -> None:
    """Before anything reads the knowledge base: when nothing is indexed yet (a fresh clone's first
    ``ask``), ingest the knowledge folder; when there is still nothing, raise ``EmptyKnowledgeError``."""
    from .retrieval import EmptyKnowledgeError

    s = settings or get_settings()
    if store.n_chunks() > 0:
        return
    folder = s.knowledge_path
    with _FIRST_INGEST:  # two requests of one server at once: the second waits for the first's ingestion
        if (
            store.n_chunks() == 0
            and folder.is_dir()
            and any(p.is_file() and not p.name.startswith(".") for p in folder.rglob("*"))
        ):
            ingest([folder], settings=s, store=store, progress=progress, embedder=embedder)
    if store.n_chunks() == 0:
        raise EmptyKnowledgeError.of(folder)


def step_progress(step: Callable[[str], None]) -> Progress:
    """Ingestion events as one-line progress messages (for a flow's ``step``)."""
    state = {"n": 0, "files": 0}

    def tell(event: str, info: dict) -> None:
        if event == "start":
            state["files"] = info["files"]
            step(f"nothing indexed yet: ingesting {info['files']} file(s) from the knowledge folder")
        elif event == "file":
            state["n"] += 1
            step(f"ingesting {state['n']}/{state['files']}: {info['name']}")

    return tell


def embedder_name_for(s: Settings) -> str:
    """The embedder's name without loading it (the store is keyed by it)."""
    from .embedder import embedder_name

    return embedder_name(s.embedder, s.embedder_backend)


def scan(paths: Iterable[Path]) -> tuple[list[tuple[Path, str]], list[Path], list[str]]:
    """(files with their display name, folders scanned, ignored names). The display name is the path
    relative to the folder given, or the bare name for a file given directly, in ``printable`` form."""
    files: list[tuple[Path, str]] = []
    folders: list[Path] = []
    ignored: list[str] = []
    for p in paths:
        p = Path(p).expanduser()
        if not p.exists():
            raise InputError(f"no such file or folder: {p}")
        if p.is_dir():
            folders.append(p.resolve())
            for f in sorted(p.rglob("*")):
                if any(part.startswith(".") for part in f.relative_to(p).parts) or not f.is_file():
                    continue
                if f.suffix.lower() in SUPPORTED_SUFFIXES:
                    files.append((f, printable(f.relative_to(p).as_posix())))
                else:
                    ignored.append(printable(f.relative_to(p).as_posix()))
        else:
            files.append((p, printable(p.name)))
    return files, folders, ignored


def path_key(path: Path) -> str:
    """How the store knows a file: its resolved path, printable (see ``store.printable``)."""
    return printable(str(Path(path).expanduser().resolve()))


def _gone(store: KnowledgeStore, paths: list[Path]) -> list[DocRecord]:
    """Indexed documents at paths given directly that no longer exist (a file, or a folder's files):
    naming a deleted file removes it. A path that neither exists nor is indexed is a typo."""
    out: list[DocRecord] = []
    docs = None
    for p in paths:
        key = path_key(p)
        found = store.doc_by_path(key)
        if found is not None:
            out.append(found)
            continue
        docs = store.docs() if docs is None else docs
        inside = [d for d in docs if d.path.startswith(key.rstrip("/") + "/")]
        if not inside:
            raise InputError(f"no such file or folder: {p} (and nothing indexed from there); check the path")
        out.extend(inside)
    return list({d.doc_id: d for d in out}.values())


def ingest(
    paths: Iterable[Path] | None = None,
    *,
    settings: Settings | None = None,
    embedder=None,
    progress: Progress | None = None,
    store: KnowledgeStore | None = None,
) -> IngestReport:
    """Ingest files and folders (default: the knowledge folder). ``progress(event, info)`` is told
    about each file (``file``), each embedded batch (``chunks``) and the end (``done``)."""
    s = settings or get_settings()
    paths = [Path(p).expanduser() for p in paths] if paths else [s.knowledge_path]
    started = time.perf_counter()
    missing = [p for p in paths if not p.exists()]
    files, folders, ignored = scan([p for p in paths if p.exists()])
    own_store = store is None
    store = store or open_store(s)
    report = IngestReport(store=store.where, ignored=ignored)
    tell = progress or (lambda event, info: None)
    try:
        gone = _gone(store, missing)
        store.lock()
    except BaseException:
        if own_store:
            store.close()
        raise
    try:
        store.collect_garbage()
        for doc in gone:
            store.remove_doc(doc.doc_id)
            report.removed.append(doc.file)
        tell("start", {"files": len(files)})
        seen: set[str] = set()
        for path, name in files:
            key = path_key(path)
            seen.add(key)
            tell("file", {"name": name})
            try:
                _ingest_one(store, path, key, name, s, embedder, report, tell)
            except DocumentError as e:
                report.failed.append((name, str(e)))
                tell("failed", {"name": name, "reason": str(e)})
        for folder in folders:  # files that were ingested from these folders and are gone now
            prefix = str(folder) + "/"
            for doc in store.docs():
                if doc.path.startswith(prefix) and doc.path not in seen and not Path(doc.path).exists():
                    store.remove_doc(doc.doc_id)
                    report.removed.append(doc.file)
        store.collect_garbage()
        tell("index", {})
        store.rebuild_bm25()
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        store.unlock()
        report.seconds = time.perf_counter() - started
        if own_store:
            store.close()
    tell("done", report.as_dict())
    return report


def document_id(key: str, sha: str, s: Settings) -> str:
    """A document is its path, its content and how it was cut into chunks: changing
    ``MMCREW_CHUNK_SIZE`` or ``_OVERLAP`` makes every document a new one, so the unchanged
    check re-chunks it and the commit retires the old chunks and vectors."""
    raw = f"{key}\0{sha}\0{CHUNKER}:{s.chunk_size}:{s.chunk_overlap}"
    return short_hash(raw, 20)


def _reusable(store: KnowledgeStore, sha: str, chunks: list[ChunkRecord]):
    """The vectors of an indexed copy of this content cut into the same chunks, in chunk order
    (None if there is none): equal content and equal spans are equal texts."""
    spans = [(c.page, c.start, c.end) for c in chunks]
    for twin in store.docs_by_sha(sha):
        if twin.n_chunks != len(chunks) or store.chunk_spans(twin.doc_id) != spans:
            continue
        ids, vecs = store.vectors.of_doc(twin.doc_id)
        order = {cid: i for i, cid in enumerate(ids)}
        wanted = [f"{twin.doc_id}:{c.seq}" for c in chunks]
        if all(w in order for w in wanted):
            return vecs[[order[w] for w in wanted]]
    return None


def _ingest_one(store, path, key, name, s, embedder, report, tell) -> None:
    max_bytes = int(s.max_file_mb * 1e6)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise DocumentError(f"cannot read the file ({e.strerror})") from None
    if size > max_bytes:
        raise DocumentError(f"too large ({size / 1e6:.1f} MB > {s.max_file_mb:g} MB); raise MMCREW_MAX_FILE_MB")
    try:
        sha = file_sha256(path)
    except OSError as e:
        raise DocumentError(f"cannot read the file ({e.strerror})") from None
    old = store.doc_by_path(key)
    name = store.unique_name(key, name, printable(str(path.absolute())))
    doc_id = document_id(key, sha, s)
    if old and old.doc_id == doc_id and old.file == name:
        report.unchanged.append(name)
        return
    doc = load_document(path, max_bytes=max_bytes)
    chunks: list[ChunkRecord] = []
    for page in doc.pages:
        for span in chunk_page(page.text, s.chunk_size, s.chunk_overlap):
            chunks.append(
                ChunkRecord(
                    f"{doc_id}:{len(chunks)}", doc_id, len(chunks), page.number, span.start, span.end, span.text
                )
            )
    if not chunks:
        raise DocumentError("no text to index")
    store.begin_doc(doc_id)
    vecs = _reusable(store, sha, chunks)
    if vecs is not None:
        store.vectors.add(chunks, vecs)
        report.chunks_reused += len(chunks)
    else:
        if embedder is None:
            from .embedder import get_embedder

            embedder = get_embedder(s)
        batch = 64
        for i in range(0, len(chunks), batch):
            part = chunks[i : i + batch]
            store.vectors.add(part, embedder.embed([c.text for c in part]))
            report.chunks_embedded += len(part)
            tell("chunks", {"name": name, "done": min(i + batch, len(chunks)), "total": len(chunks), "n": len(part)})
    rec = DocRecord(doc_id, key, name, sha, path.stat().st_size, doc.kind, len(doc.pages), len(chunks), time.time())
    store.commit_doc(rec, [(p.number, p.text) for p in doc.pages], chunks)
    (report.replaced if old else report.added).append(name)
