"""Read a document into pages of text, deciding its type by content, not by name.

>>> doc = load_document(Path("knowledge/plan.pdf"))          # doctest: +SKIP
>>> doc.pages[0].number, doc.pages[0].text[:30]
(1, 'Northwind Health Plus ...')

Every failure is a ``DocumentError`` whose message is the reason, in words a user
can act on: corrupt, truncated, encrypted, empty, scanned (no text layer), not what
its name says, too large, not UTF-8. Ingestion reports it and goes on with the next file.

Pages are 1-based. Formats without pages (TXT, MD, CSV, JSON, DOCX) are one page;
an XLSX workbook has one page per sheet.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Page", "Document", "DocumentError", "load_document", "SUPPORTED_SUFFIXES"]

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".csv", ".tsv", ".json"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | {".pdf", ".docx", ".xlsx"}


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
    described as a scan."""
    import pymupdf

    pymupdf.TOOLS.mupdf_display_errors(False)
    pymupdf.TOOLS.mupdf_display_warnings(False)
    complete = _pdf_ends(path)
    try:
        doc = pymupdf.open(path, filetype="pdf")
    except Exception as e:  # noqa: BLE001 - pymupdf raises several types for damaged files
        raise DocumentError(TRUNCATED_PDF if not complete else f"corrupt PDF ({_short(e)})") from None
    try:
        if doc.is_repaired and not complete:
            raise DocumentError(TRUNCATED_PDF)
        if doc.needs_pass:
            raise DocumentError("encrypted PDF (it needs a password); save an unencrypted copy to ingest it")
        if doc.page_count == 0:
            raise DocumentError("PDF with no pages")
        pages = []
        for i in range(doc.page_count):
            try:
                text = doc[i].get_text("text")
            except Exception as e:  # noqa: BLE001
                raise DocumentError(f"corrupt PDF: page {i + 1} cannot be read ({_short(e)})") from None
            pages.append(Page(i + 1, text))
        if doc.is_repaired and not any(p.text.strip() for p in pages):
            raise DocumentError("corrupt PDF: damaged (MuPDF repaired it but recovered no text); get a good copy")
        return pages
    finally:
        doc.close()


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
    return [Page(1, "\n".join(lines))]


def _xlsx(path: Path) -> list[Page]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as e:
        raise DocumentError(f"corrupt XLSX ({_short(e)})") from None
    try:
        pages = []
        for n, ws in enumerate(wb.worksheets, start=1):
            rows = [f"[sheet {ws.title}]"]
            for row in ws.iter_rows(values_only=True):
                if any(v is not None for v in row):
                    rows.append("\t".join("" if v is None else str(v) for v in row))
            pages.append(Page(n, "\n".join(rows) if len(rows) > 1 else ""))
        return pages
    finally:
        wb.close()


def _short(e: Exception) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text[:160]
