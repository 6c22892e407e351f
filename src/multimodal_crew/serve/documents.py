"""Documents and their page images over HTTP (the app includes ``router`` itself)::

    GET    /documents                        the indexed documents
    POST   /documents                        upload (multipart ``files``, optional ``replace=true``) -> 202
                                             {documents, uploads, run, events}: an ``ingest`` run is queued
    DELETE /documents/{doc_id}               remove from the index (and its file, if it is in the knowledge folder)
    GET    /documents/{doc_id}/pages/{n}.png?quote=...   the page with the quote highlighted (X-Quote-* headers)
    GET    /documents/{doc_id}/pages/{n}?quote=...       the same facts as JSON, with the page's text

No endpoint reads a path a client gives: documents are found by id in the store, uploads are written
under a checked name into the knowledge folder. Uploads are checked by the function ingestion uses
(``load_document``), so a file the server accepts is one it accepts: an empty, corrupt,
encrypted or scanned PDF is refused at upload (400, the ingestion's reason), not left in the folder
where no DELETE could reach it. One request carries at most MMCREW_MAX_FILE_MB in all,
counted while it streams in: a larger body is refused before it is read.

Same name, same content (two clients at once included: the write is under ``Server.lock``): one file,
one document; the second upload is ``unchanged``. Same name, other content: 409, unless ``replace=true``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
import unicodedata
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from ..errors import ConflictError, InputError, NotFoundError
from ..hashing import file_sha256, short_hash
from ..knowledge.store import DocRecord, KnowledgeStore, StoreBusyError
from ..knowledge.text import locate
from .app import Server, server_of

__all__ = ["clean_name", "router"]

router = APIRouter()

MAX_QUOTE = 2_000  # characters: a citation quotes a sentence or two
MAX_FILES = 20  # files in one upload
_OVERHEAD = 1 << 20  # bytes a multipart body may carry beyond its files (part headers, form fields)
_BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")  # can disguise a name
_CACHE = "private, max-age=86400"  # a document id changes with its content: its page images do not


# ------------------------------------------------------------------ response shapes


class DocumentInfo(BaseModel):
    doc_id: str
    file: str = Field(..., description="the display name citations show")
    kind: str = Field(..., description="pdf, docx, xlsx, text, csv, json")
    pages: int
    chunks: int
    size: int = Field(..., description="bytes")
    sha256: str
    ingested_at: float
    in_knowledge_folder: bool = Field(..., description="DELETE also deletes its file")


class Upload(BaseModel):
    name: str
    status: Literal["added", "replaced", "unchanged"] = Field(..., description="what happened to the file")
    size: int
    sha256: str


class Uploaded(BaseModel):
    documents: list[str] = Field(..., description="the names in the knowledge folder the ingest run reads")
    uploads: list[Upload]
    run: str = Field(..., description="the ingest run's id: its result lists added and failed files")
    events: str


class RunQueued(BaseModel):
    run: str
    events: str


class Deleted(BaseModel):
    doc_id: str
    file: str
    file_removed: bool = Field(..., description="its file was in the knowledge folder and is deleted")


class PageInfo(BaseModel):
    doc_id: str
    file: str
    kind: str
    page: int
    pages: int
    text: str = Field(..., description="the page's text as the store keeps it (citation offsets index into it)")
    quote: str
    start: int | None = Field(None, description="the quote's offsets in text (None: not located)")
    end: int | None = None
    found: bool = Field(..., description="the quote is highlighted on the image (PDF), or located in the text")
    rects: list[tuple[float, float, float, float]] = Field(default_factory=list, description="PNG pixels")
    continues: bool = False
    continued: bool = False
    width: int = 0
    height: int = 0
    image: str | None = Field(None, description="the page image's URL (PDF only)")


# ------------------------------------------------------------------ helpers


def _store(server: Server) -> KnowledgeStore:
    """The store of the retriever runs use, so what is listed here is what ``ask`` searches."""
    if server.retriever is not None:
        return server.retriever.store
    from ..knowledge.retrieval import get_retriever

    return get_retriever(server.settings).store


def _doc(store: KnowledgeStore, doc_id: str) -> DocRecord:
    doc = store.doc(doc_id)
    if doc is None:
        raise NotFoundError(f"no document has the id {doc_id!r}; GET /documents lists them")
    return doc


def _in_folder(doc: DocRecord, folder: Path) -> bool:
    return Path(doc.path).is_relative_to(folder.resolve())


def clean_name(raw: str | None) -> str:
    """An uploaded file's name, NFC-normalised, or InputError: one name (no folders), not hidden, no
    control or direction characters. ``报告.pdf`` is kept as it is."""
    name = unicodedata.normalize("NFC", raw or "")
    bad = (
        not name.strip()
        or "/" in name
        or "\\" in name
        or name.startswith(".")
        or name != name.strip()
        or any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") or c in _BIDI for c in name)
        or len(name.encode("utf-8", "surrogatepass")) > 255
    )
    if bad:
        raise InputError(
            f"file name {name[:80]!r} is refused: give a plain file name (no folders, '/', '\\', '..', leading '.', "
            "control characters or spaces at the ends; at most 255 bytes)"
        )
    return name


async def _form(request: Request, limit: int, what: str) -> FormData:
    """The multipart form, read while counting: past ``limit`` bytes it is refused (400) before the
    rest is read, so an oversized upload never fills the disk."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InputError("send multipart/form-data (an HTML form with enctype=multipart/form-data, or curl -F)")
    too_big = InputError(f"the upload is larger than {what}; send fewer or smaller files")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise too_big

    async def capped() -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > limit:
                raise too_big
            yield chunk

    try:
        return await MultiPartParser(request.headers, capped(), max_files=MAX_FILES, max_fields=50).parse()
    except MultiPartException as e:
        raise InputError(f"malformed upload: {e.message}") from None


def _multipart(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    """OpenAPI for a form these endpoints read themselves (to cap its size while it streams)."""
    schema = {"type": "object", "properties": properties, "required": required}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


def _copy(upload: UploadFile, path: Path) -> None:
    upload.file.seek(0)
    with open(path, "xb") as out:
        shutil.copyfileobj(upload.file, out, 1 << 20)


# ------------------------------------------------------------------ documents


@router.get("/documents", response_model=list[DocumentInfo], tags=["documents"])
def list_documents(request: Request) -> list[DocumentInfo]:
    server = server_of(request)
    folder = server.settings.knowledge_path
    return [
        DocumentInfo(doc_id=d.doc_id, file=d.file, kind=d.kind, pages=d.n_pages, chunks=d.n_chunks, size=d.size,
                     sha256=d.sha256, ingested_at=d.ingested_at, in_knowledge_folder=_in_folder(d, folder))
        for d in _store(server).docs()
    ]  # fmt: skip


_FILES = {"files": {"type": "array", "items": {"type": "string", "format": "binary"}}, "replace": {"type": "boolean"}}


@router.post("/documents", response_model=Uploaded, status_code=202, tags=["documents"],
             openapi_extra=_multipart(_FILES, ["files"]))  # fmt: skip
async def upload_documents(request: Request) -> Uploaded:
    """Upload documents into the knowledge folder and queue an ``ingest`` run for them."""
    server = server_of(request)
    mb = server.settings.max_file_mb
    form = await _form(request, int(mb * 1e6) + _OVERHEAD, f"MMCREW_MAX_FILE_MB ({mb:g} MB)")
    try:
        files = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
        if not files:
            raise InputError("no file in the upload: send the documents as form fields named `files`")
        replace = str(form.get("replace", "")).strip().lower() in ("1", "true", "yes", "on")
        uploads = await run_in_threadpool(_save_documents, server, files, replace)
    finally:
        await form.close()
    names = [u.name for u in uploads]
    run_id = server.manager.submit("ingest", {"paths": names})
    return Uploaded(documents=names, uploads=uploads, run=run_id, events=f"/runs/{run_id}/events")


def _save_documents(server: Server, files: list[UploadFile], replace: bool) -> list[Upload]:
    """Check every file as ingestion will, then write them all (or none) into the knowledge folder."""
    folder = server.settings.knowledge_path
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(".mmcrew-upload-*"):  # left by a server killed during an upload
        with contextlib.suppress(OSError):
            if time.time() - old.stat().st_mtime > 3600:
                old.unlink()
    staged: dict[str, tuple[Path, str, int]] = {}  # name -> (temporary file, sha256, size)
    temps: list[Path] = []
    try:
        for upload in files:
            name = clean_name(upload.filename)
            tmp = folder / f".mmcrew-upload-{uuid.uuid4().hex}{Path(name).suffix.lower()}"  # hidden: never ingested
            temps.append(tmp)
            _copy(upload, tmp)
            _check_document(tmp, name, server.settings)
            sha = file_sha256(tmp)
            if name in staged and staged[name][1] != sha:
                raise InputError(f"two different files named {name!r} in one upload")
            staged[name] = (tmp, sha, tmp.stat().st_size)
        with server.lock:  # two clients with the same file: the second finds it written and unchanged
            uploads = [_status(folder / name, sha, size, replace) for name, (_, sha, size) in staged.items()]
            for up in uploads:  # every file checked first: all are written, or none
                if up.status != "unchanged":
                    os.replace(staged[up.name][0], folder / up.name)
            return uploads
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)


def _check_document(path: Path, name: str, settings: Any) -> None:
    """Ingestion's own checks (size, type by content, corrupt, encrypted, scanned), as one 400 line."""
    from ..knowledge.loaders import DocumentError, load_document

    try:  # the loader holds PyMuPDF's lock page by page, so page images are not held up for a whole file
        load_document(path, max_bytes=int(settings.max_file_mb * 1e6))
    except DocumentError as e:
        raise InputError(f"{name}: {e}") from None


def _status(target: Path, sha: str, size: int, replace: bool) -> Upload:
    """What writing an upload to ``target`` does: add it, replace another file (only with ``replace``),
    or nothing when the same content is there already. ConflictError for other content under its name."""
    status = "added"
    if target.exists() or target.is_symlink():
        if target.is_file() and file_sha256(target) == sha:
            return Upload(name=target.name, status="unchanged", size=size, sha256=sha)
        if not replace or not target.is_file():
            raise ConflictError(
                f"{target.name} already exists in the knowledge folder with other content; "
                "send replace=true to replace it, or rename the file"
            )
        status = "replaced"
    return Upload(name=target.name, status=status, size=size, sha256=sha)


@router.delete("/documents/{doc_id}", response_model=Deleted, tags=["documents"])
def delete_document(doc_id: str, request: Request) -> Deleted:
    """Remove a document from the index; its file too when it is in the knowledge folder (else the next
    ingestion of the folder would bring it back). Refused (409) while an ingestion writes to the index."""
    server = server_of(request)
    store = _store(server)
    _doc(store, doc_id)
    with server.lock:
        try:
            store.lock()
        except StoreBusyError:
            raise ConflictError(
                "an ingestion is writing to the index; delete the document when it has finished"
            ) from None
        try:
            doc = _doc(store, doc_id)
            store.remove_doc(doc.doc_id)
            path = Path(doc.path)
            removed = _in_folder(doc, server.settings.knowledge_path) and path.is_file()
            if removed:
                path.unlink()
            store.collect_garbage()  # its vectors
            store.rebuild_bm25()
        finally:
            store.unlock()
    return Deleted(doc_id=doc.doc_id, file=doc.file, file_removed=removed)


def _page(store: KnowledgeStore, doc_id: str, n: int, quote: str) -> tuple[DocRecord, str]:
    if len(quote) > MAX_QUOTE:
        raise InputError(f"the quote is {len(quote):,} characters long; at most {MAX_QUOTE:,} are shown")
    doc = _doc(store, doc_id)
    if not 1 <= n <= doc.n_pages:
        raise InputError(f"{doc.file} has no page {n}: its pages are 1 to {doc.n_pages}")
    text = store.page_text(doc.file, n, doc.doc_id)
    if text is None:
        raise NotFoundError(f"{doc.file} was removed or replaced meanwhile; GET /documents lists the documents")
    return doc, text


def _render(doc: DocRecord, n: int, quote: str, text: str):
    from .pages import render_page

    if doc.kind != "pdf":
        raise InputError(f"{doc.file} is a {doc.kind} document: page images exist for PDFs; its text is at "
                         f"/documents/{doc.doc_id}/pages/{n}")  # fmt: skip
    path = Path(doc.path)
    if not path.is_file():
        raise NotFoundError(f"the file of {doc.file} is gone from where it was ingested; ingest it again")
    return render_page(path, n, quote, page_text=text)


_PNG = {200: {"content": {"image/png": {}}, "description": "the page, the quote highlighted"}}


@router.get("/documents/{doc_id}/pages/{n}.png", tags=["documents"], response_class=Response, responses=_PNG)
def page_image(doc_id: str, n: int, request: Request, quote: str = "") -> Response:
    """The page as PNG; headers: X-Quote-Found, X-Quote-Rects (JSON [[x0,y0,x1,y1], ...] in PNG pixels),
    X-Quote-Continues / X-Quote-Continued (the quote goes on across a page break), X-Page-Count."""
    store = _store(server_of(request))
    doc, text = _page(store, doc_id, n, quote)
    etag = f'"{doc.doc_id}-{n}-{short_hash(quote)}"'
    cache = {"Cache-Control": _CACHE, "ETag": etag}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=cache)
    img = _render(doc, n, quote, text)
    headers = {
        **cache,
        "X-Quote-Found": str(img.found).lower(),
        "X-Quote-Rects": json.dumps([list(r) for r in img.rects], separators=(",", ":")),
        "X-Quote-Continues": str(img.continues).lower(),
        "X-Quote-Continued": str(img.continued).lower(),
        "X-Page-Count": str(doc.n_pages),
    }
    return Response(img.png, media_type="image/png", headers=headers)


@router.get("/documents/{doc_id}/pages/{n}", response_model=PageInfo, tags=["documents"])
def page_info(doc_id: str, n: int, request: Request, quote: str = "") -> PageInfo:
    """A page's text, where the quote is in it, and (PDF) where it is highlighted on the image."""
    store = _store(server_of(request))
    doc, text = _page(store, doc_id, n, quote)
    span = locate(quote, text) if quote.strip() else None
    info = PageInfo(doc_id=doc.doc_id, file=doc.file, kind=doc.kind, page=n, pages=doc.n_pages, text=text,
                    quote=quote, start=span[0] if span else None, end=span[1] if span else None,
                    found=span is not None)  # fmt: skip
    if doc.kind == "pdf":
        img = _render(doc, n, quote, text)
        info.found, info.rects, info.width, info.height = img.found, img.rects, img.width, img.height
        info.continues, info.continued = img.continues, img.continued
        url = request.app.url_path_for("page_image", doc_id=doc.doc_id, n=str(n))
        info.image = f"{url}?{urlencode({'quote': quote})}" if quote else str(url)
    return info
