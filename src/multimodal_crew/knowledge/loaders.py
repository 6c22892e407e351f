"""Read a document into pages of text, deciding its type by content, not by name.

>>> doc = load_document(Path("knowledge/plan.pdf"))          # doctest: +SKIP
>>> doc.pages[0].number, doc.pages[0].text[:30]
(1, 'Northwind Health Plus ...')

Every failure is a ``DocumentError`` whose message is the reason, in words a user
can act on: corrupt, truncated, encrypted, empty, scanned (no text layer), not what
its name says, too large, not UTF-8. Ingestion reports it and goes on with the next file.

A PDF page's text is PyMuPDF's, followed by its table rows (``knowledge.tables``: each row with its
label and its column headers, which the plain text puts lines apart), so a row can be found, quoted and
checked like a sentence.

Pages are 1-based. Formats without pages (TXT, MD, CSV, JSON, DOCX) are one page;
an XLSX workbook has one page per sheet.

Limits. ``max_bytes`` (MMCREW_MAX_FILE_MB) caps the file on disk, but a small file can unpack to
a huge one: a 0.15 MB DOCX whose document.xml is 41 MB took 25 s and +714 MB to parse. So a DOCX
or XLSX is refused, from its zip directory alone and before any parsing, when its members add up to
more than ``min(UNZIP_FACTOR * max_bytes, MAX_UNZIPPED)`` bytes, when a member over ``RATIO_FLOOR``
unpacks more than ``MAX_RATIO`` times its packed size (ordinary Office XML packs 5-20x; bombs
hundreds or thousands of times), or when a DOCX's XML (which python-docx parses whole, ~17 bytes of
memory per byte) exceeds ``MAX_DOCX_XML``. The declared sizes can be trusted: Python's ``zipfile``,
which python-docx and openpyxl read through, never returns more bytes than a member declares. A PDF
is refused above ``MAX_PDF_PAGES`` pages, and a PDF, DOCX or XLSX above ``MAX_TEXT_CHARS`` characters
of text, counted while extracting. These are module constants, not settings: they guard memory, and
a file that passes ``max_bytes`` honestly stays far below them.

PyMuPDF is not thread-safe, and the server renders page images on request threads while its queue
worker ingests, so every PyMuPDF call in the package holds ``PYMUPDF_LOCK`` (defined here, the lowest
layer using it). ``_pdf`` takes it per page, so a page render waits for one page, not a whole document.
"""

from __future__ import annotations

import json
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .tables import rows_block

__all__ = ["Page", "Document", "DocumentError", "load_document", "SUPPORTED_SUFFIXES", "PYMUPDF_LOCK"]

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".csv", ".tsv", ".json"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | {".pdf", ".docx", ".xlsx"}

# Re-entrant: a caller may hold it around load_document (serve/documents.py does) while _pdf takes it again.
PYMUPDF_LOCK = threading.RLock()  # held by every PyMuPDF call: MuPDF must not be used from two threads at once

MAX_UNZIPPED = 200_000_000  # bytes a DOCX/XLSX may unpack to, whatever max_bytes is (python-docx keeps all parts)
UNZIP_FACTOR = 20  # ... and at most this many times max_bytes: real Office files unpack 5-20x overall
MAX_RATIO = 100  # a zip member unpacking more than this many times its packed size is a bomb ...
RATIO_FLOOR = 1_000_000  # ... when it unpacks to more than this many bytes (a small one cannot hurt)
MAX_DOCX_XML = 32_000_000  # bytes of DOCX XML: ~550 MB, ~20 s to parse (scaled from 41 MB: 714 MB, 25 s)
MAX_PDF_PAGES = 2_000  # pages of one PDF
MAX_TEXT_CHARS = 20_000_000  # characters extracted from one PDF, DOCX or XLSX (tens of thousands of chunks)


class DocumentError(Exception):
    """This file cannot be ingested; ``str(err)`` says why."""


@dataclass(frozen=True)
class Page:
    number: int  # 1-based
    text: str


@dataclass(frozen=True)
class Document:
    path: Path
    kind: str  # pdf, docx, xlsx, text, csv, json
    pages: list[Page]


def _head(data: bytes) -> str:
    return repr(data[:8])


def load_document(path: Path, max_bytes: int | None = None) -> Document:
    """The file's pages of text; ``DocumentError`` with the reason if it cannot be ingested. ``max_bytes``
    caps the size on disk (and, times ``UNZIP_FACTOR``, what a DOCX/XLSX may unpack to). Thread-safe."""
    path = Path(path)
    if not path.exists():
        raise DocumentError("file not found")
    if not path.is_file():
        raise DocumentError("not a regular file")
    size = path.stat().st_size
    if size == 0:
        raise DocumentError("empty file (0 bytes)")
    if max_bytes is not None and size > max_bytes:
        raise DocumentError(
            f"too large ({size / 1e6:.1f} MB > {max_bytes / 1e6:.0f} MB); raise MMCREW_MAX_FILE_MB to ingest it"
        )
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DocumentError(f"unsupported file type {suffix or '(no extension)'!r}")
    with path.open("rb") as f:
        head = f.read(8)
    if head.startswith(b"%PDF-"):
        if suffix != ".pdf":
            raise DocumentError(f"the content is a PDF but the name ends in {suffix!r}; rename it to .pdf")
        pages = _pdf(path)
        kind = "pdf"
    elif suffix == ".pdf":
        raise DocumentError(f"not a PDF: the name ends in .pdf but the content starts with {_head(head)}")
    elif suffix in (".docx", ".xlsx"):
        if not head.startswith(b"PK\x03\x04"):
            raise DocumentError(f"not a {suffix[1:].upper()} file (not a zip container; starts with {_head(head)})")
        _check_zip(path, suffix, max_bytes)
        pages = _docx(path) if suffix == ".docx" else _xlsx(path)
        kind = suffix[1:]
    else:
        if head.startswith(b"PK\x03\x04") or head.startswith(b"%PDF-"):
            raise DocumentError(f"binary content in a {suffix} file")
        text = _decode(path.read_bytes())
        if suffix == ".json":
            try:
                data = json.loads(text)
            except json.JSONDecodeError as e:
                raise DocumentError(f"invalid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
            text = json.dumps(data, indent=1, ensure_ascii=False)
            kind = "json"
        else:
            kind = "csv" if suffix in (".csv", ".tsv") else "text"
        pages = [Page(1, text)]
    if not any(p.text.strip() for p in pages):
        if kind == "pdf":
            raise DocumentError("no text layer on any page (a scanned PDF?); run OCR on it first, e.g. ocrmypdf")
        raise DocumentError("no text in the file")
    return Document(path=path, kind=kind, pages=pages)


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as e:
            raise DocumentError(f"broken UTF-16 text at byte {e.start}") from None
    if b"\x00" in data[:4096]:
        raise DocumentError("binary content (NUL bytes) in a text file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DocumentError(
            f"not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); "
            "convert it first, e.g. iconv -f GBK -t UTF-8 (or -f CP1252)"
        ) from None


TRUNCATED_PDF = (
    "corrupt PDF: truncated (the file stops before its end-of-file marker: an interrupted download or copy?); "
    "get a complete copy of it"
)


def _pdf_ends(path: Path) -> bool:
    """Whether the file ends the way every complete PDF does, with ``%%EOF`` (give or take trailing
    bytes some writers add). A cut-off file does not, whatever MuPDF manages to repair."""
    with path.open("rb") as f:
        f.seek(max(path.stat().st_size - 2048, 0))
        return b"%%EOF" in f.read()


def _pdf(path: Path) -> list[Page]:
    """The pages' text. A cut-off file is refused as truncated even when MuPDF repairs part of it:
    its missing pages or page contents would otherwise be indexed as empty, or the whole file
    described as a scan. PYMUPDF_LOCK is held per call, never across the whole document."""
    complete = _pdf_ends(path)
    with PYMUPDF_LOCK:
        doc = _open_pdf(path, complete)
        count, repaired = doc.page_count, doc.is_repaired
    try:
        pages: list[Page] = []
        chars = 0
        for i in range(count):
            try:
                with PYMUPDF_LOCK:
                    page = doc[i]
                    text, words = page.get_text("text"), page.get_text("words")
                text += rows_block(words)  # its table rows, each with its label and column headers
            except Exception as e:  # noqa: BLE001
                raise DocumentError(f"corrupt PDF: page {i + 1} cannot be read ({_short(e)})") from None
            chars += len(text)
            if chars > MAX_TEXT_CHARS:
                raise DocumentError(_too_much_text(f"page {i + 1}"))
            pages.append(Page(i + 1, text))
        if repaired and not any(p.text.strip() for p in pages):
            raise DocumentError("corrupt PDF: damaged (MuPDF repaired it but recovered no text); get a good copy")
        return pages
    finally:
        with PYMUPDF_LOCK:
            doc.close()


def _open_pdf(path: Path, complete: bool):
    """The opened ``pymupdf.Document``, checked (not truncated, not encrypted, 1 to MAX_PDF_PAGES pages);
    the caller closes it. The caller holds PYMUPDF_LOCK."""
    import pymupdf

    pymupdf.TOOLS.mupdf_display_errors(False)
    pymupdf.TOOLS.mupdf_display_warnings(False)
    try:
        doc = pymupdf.open(path, filetype="pdf")
    except Exception as e:  # noqa: BLE001 - pymupdf raises several types for damaged files
        raise DocumentError(TRUNCATED_PDF if not complete else f"corrupt PDF ({_short(e)})") from None
    reason = None
    if doc.is_repaired and not complete:
        reason = TRUNCATED_PDF
    elif doc.needs_pass:
        reason = "encrypted PDF (it needs a password); save an unencrypted copy to ingest it"
    elif doc.page_count == 0:
        reason = "PDF with no pages"
    elif doc.page_count > MAX_PDF_PAGES:
        reason = f"too many pages ({doc.page_count:,} > the limit of {MAX_PDF_PAGES:,}); split the PDF to ingest it"
    if reason:
        doc.close()
        raise DocumentError(reason)
    return doc


def _too_much_text(where: str = "") -> str:
    at = f" by {where}" if where else ""
    return f"too much text (over the limit of {MAX_TEXT_CHARS:,} characters{at}); split the file to ingest it"


def _check_zip(path: Path, suffix: str, max_bytes: int | None) -> None:
    """Refuse a DOCX/XLSX that would unpack to too much, from its zip directory alone (see the module
    docstring for the limits). A damaged zip is left to the format's own reader to report."""
    cap = MAX_UNZIPPED if max_bytes is None else min(UNZIP_FACTOR * max_bytes, MAX_UNZIPPED)
    kind = suffix[1:].upper()
    try:
        with zipfile.ZipFile(path) as z:
            members = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return
    total = sum(m.file_size for m in members)
    if total > cap:
        raise DocumentError(
            f"too large when unpacked ({total / 1e6:.1f} MB > the limit of {cap / 1e6:g} MB for a {kind}: "
            f"{UNZIP_FACTOR}x MMCREW_MAX_FILE_MB, at most {MAX_UNZIPPED / 1e6:g} MB); split it to ingest it"
        )
    for m in members:
        if m.file_size > RATIO_FLOOR and m.file_size > MAX_RATIO * max(m.compress_size, 1):
            raise DocumentError(
                f"refused as a likely zip bomb: {m.filename} unpacks {m.compress_size / 1e6:.2f} MB to "
                f"{m.file_size / 1e6:.1f} MB, over the limit of {MAX_RATIO}x"
            )
    xml = sum(m.file_size for m in members if m.filename.endswith((".xml", ".rels")))
    if suffix == ".docx" and xml > MAX_DOCX_XML:
        raise DocumentError(
            f"too much DOCX XML ({xml / 1e6:.1f} MB > the limit of {MAX_DOCX_XML / 1e6:g} MB); "
            "split it or save it as PDF to ingest it"
        )


def _docx(path: Path) -> list[Page]:
    import docx

    try:
        d = docx.Document(str(path))
    except Exception as e:  # noqa: BLE001
        raise DocumentError(f"corrupt DOCX ({_short(e)})") from None
    lines = [p.text for p in d.paragraphs]
    for table in d.tables:
        for row in table.rows:
            lines.append("\t".join(c.text for c in row.cells))
    text = "\n".join(lines)
    if len(text) > MAX_TEXT_CHARS:
        raise DocumentError(_too_much_text())
    return [Page(1, text)]


def _xlsx(path: Path) -> list[Page]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as e:
        raise DocumentError(f"corrupt XLSX ({_short(e)})") from None
    try:
        pages = []
        chars = 0
        for n, ws in enumerate(wb.worksheets, start=1):
            rows = [f"[sheet {ws.title}]"]
            for row in ws.iter_rows(values_only=True):
                if any(v is not None for v in row):
                    rows.append("\t".join("" if v is None else str(v) for v in row))
                    chars += len(rows[-1]) + 1
                    if chars > MAX_TEXT_CHARS:
                        raise DocumentError(_too_much_text(f"sheet {ws.title!r}"))
            pages.append(Page(n, "\n".join(rows) if len(rows) > 1 else ""))
        return pages
    finally:
        wb.close()


def _short(e: Exception) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text[:160]
