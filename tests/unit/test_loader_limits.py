"""Limits on what a document may unpack to (knowledge/loaders.py), and the one PyMuPDF lock.

Bombs are made here: a real DOCX/XLSX (python-docx, openpyxl) with one member swapped for ~50 MB of
highly compressible XML, streamed into the zip so the test itself stays small. They must be refused
from the zip directory, quickly and without reading the member (tracemalloc peak well under its size).
"""

from __future__ import annotations

import io
import random
import threading
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import docx
import openpyxl
import pymupdf
import pytest

from multimodal_crew.knowledge import loaders
from multimodal_crew.knowledge.loaders import DocumentError, load_document
from multimodal_crew.serve import pages
from multimodal_crew.serve.pages import render_page
from tests.fakes import ROOT

CONTRACT = ROOT / "knowledge" / "harbor_tower_maintenance_contract.pdf"
BOMB_BYTES = 50_000_000  # what the bombs' one member unpacks to
MB = 1_000_000


# ---------- helpers ----------


def _docx_bytes(paragraphs: list[str] = ("Harbor Tower",), table: list[list[str]] | None = None) -> bytes:
    d = docx.Document()
    for text in paragraphs:
        d.add_paragraph(text)
    if table:
        t = d.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                t.cell(r, c).text = value
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def _xlsx_bytes(sheets: dict[str, list[list[object]]]) -> bytes:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _swap(package: bytes, out: Path, member: str, write: Callable[[str, io.BufferedIOBase], None]) -> Path:
    """``package`` saved to ``out`` with ``member`` rewritten by ``write(original_text, file)``."""
    with zipfile.ZipFile(io.BytesIO(package)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            if item.filename == member:
                with zout.open(member, "w", force_zip64=True) as f:
                    write(zin.read(member).decode(), f)
            else:
                zout.writestr(item, zin.read(item.filename))
    return out


def _insert(marker: str, chunk: bytes, total: int) -> Callable[[str, io.BufferedIOBase], None]:
    """A writer that puts ``chunk`` repeated to ``total`` bytes right after ``marker`` of the original."""

    def write(original: str, f: io.BufferedIOBase) -> None:
        head, tail = original.split(marker, 1)
        f.write((head + marker).encode())
        block = chunk * (MB // len(chunk))
        for _ in range(total // len(block)):
            f.write(block)
        f.write(tail.encode())

    return write


def docx_bomb(tmp_path: Path, size: int = BOMB_BYTES) -> Path:
    para = b"<w:p><w:r><w:t>lorem ipsum dolor sit amet</w:t></w:r></w:p>"
    return _swap(_docx_bytes(), tmp_path / "bomb.docx", "word/document.xml", _insert("<w:body>", para, size))


def xlsx_bomb(tmp_path: Path, size: int = BOMB_BYTES) -> Path:
    """Cell A1 holding one string of ``size`` bytes, which openpyxl would read whole, streaming or not."""
    package = _xlsx_bytes({"Data": [["x"]]})
    return _swap(package, tmp_path / "bomb.xlsx", "xl/worksheets/sheet1.xml", _insert("<t>", b"a" * 1000, size))


def refused_quickly(path: Path, max_bytes: int | None) -> str:
    """The refusal's message; it must come in under 2 s with under 20 MB of Python memory."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(DocumentError) as err:
            load_document(path, max_bytes=max_bytes)
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seconds < 2.0 and peak < 20 * MB, (seconds, peak)
    message = str(err.value)
    assert "\n" not in message
    return message


def make_pdf(path: Path, n_pages: int, text: str = "page") -> Path:
    doc = pymupdf.open()
    for i in range(n_pages):
        doc.new_page(width=72, height=72).insert_text((10, 30), f"{text} {i + 1}", fontsize=8)
    doc.save(path)
    doc.close()
    return path


# ---------- zip bombs ----------


@pytest.mark.parametrize("make", [docx_bomb, xlsx_bomb], ids=["docx", "xlsx"])
@pytest.mark.parametrize(
    ("max_bytes", "limit"),
    [(None, "over the limit of 100x"), (100 * MB, "over the limit of 100x"), (MB, "the limit of 20 MB")],
)
def test_a_zip_bomb_is_refused_quickly_without_unpacking_it(tmp_path, make, max_bytes, limit):
    bomb = make(tmp_path)
    assert bomb.stat().st_size < MB  # it passes the size on disk ...
    message = refused_quickly(bomb, max_bytes)
    assert limit in message  # ... and is refused by what it unpacks to, the limit named


def test_the_ratio_refusal_names_the_member_and_its_sizes(tmp_path):
    message = refused_quickly(docx_bomb(tmp_path), None)
    assert message.startswith("refused as a likely zip bomb: word/document.xml unpacks ")
    assert "to 50.0 MB" in message


def test_members_each_too_small_to_be_a_bomb_still_count_towards_the_unpacked_total(tmp_path):
    # Four 0.9 MB members of repeated text: each under RATIO_FLOOR, together over 20 x 100 KB.
    package = _docx_bytes()
    with zipfile.ZipFile(io.BytesIO(package)) as zin, zipfile.ZipFile(tmp_path / "many.docx", "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, zin.read(item.filename))
        for n in range(4):
            zout.writestr(f"customXml/padding{n}.xml", b"<a/>" * 225_000, zipfile.ZIP_DEFLATED)
    path = tmp_path / "many.docx"
    with zipfile.ZipFile(path) as z:
        total = sum(m.file_size for m in z.infolist())
    assert path.stat().st_size < 100_000 and total > 20 * 100_000
    message = refused_quickly(path, 100_000)
    assert message.startswith(f"too large when unpacked ({total / MB:.1f} MB > the limit of 2 MB for a DOCX: ")
    assert load_document(path, max_bytes=100 * MB).pages[0].text == "Harbor Tower"  # fine under the default
    (tmp_path / "plain.docx").write_bytes(package)
    assert load_document(tmp_path / "plain.docx", max_bytes=100_000).pages[0].text == "Harbor Tower"


def test_a_docx_with_more_xml_than_python_docx_should_parse_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(loaders, "MAX_DOCX_XML", 20_000)
    path = tmp_path / "long.docx"
    path.write_bytes(_docx_bytes([f"paragraph {i}" for i in range(300)]))
    message = refused_quickly(path, None)
    assert message.startswith("too much DOCX XML (") and "the limit of 0.02 MB" in message


# ---------- ordinary files still load ----------


def test_an_ordinary_docx_with_a_table_loads(tmp_path):
    path = tmp_path / "plan.docx"
    path.write_bytes(_docx_bytes(["Harbor Tower house rules", "Quiet after 22:00."], [["floor", "fee"], ["3", "40"]]))
    doc = load_document(path, max_bytes=100 * MB)
    assert doc.kind == "docx"
    assert doc.pages[0].text == "Harbor Tower house rules\nQuiet after 22:00.\nfloor\tfee\n3\t40"


def test_a_docx_with_megabytes_of_ordinary_text_loads(tmp_path):
    words = "elevator door sensor replace inspect roof drain invoice tenant boiler quarterly".split()
    rng = random.Random(15)

    def write(original: str, f: io.BufferedIOBase) -> None:
        head, tail = original.split("<w:body>", 1)
        f.write((head + "<w:body>").encode())
        for _ in range(20_000):  # ~2.4 MB of XML that packs ~5x, as real text does
            text = " ".join(rng.choice(words) for _ in range(12))
            f.write(f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>".encode())
        f.write(tail.encode())

    path = _swap(_docx_bytes(), tmp_path / "long.docx", "word/document.xml", write)
    with zipfile.ZipFile(path) as z:
        member = z.getinfo("word/document.xml")
    assert member.file_size > 2 * loaders.RATIO_FLOOR and member.file_size < 20 * member.compress_size
    doc = load_document(path, max_bytes=100 * MB)
    assert doc.pages[0].text.count("\n") >= 20_000


def test_an_ordinary_xlsx_loads_one_page_per_sheet(tmp_path):
    path = tmp_path / "book.xlsx"
    path.write_bytes(_xlsx_bytes({"Users": [["day", "users"], ["mon", 120]], "Notes": [["quiet week"]]}))
    doc = load_document(path, max_bytes=100 * MB)
    assert [p.text for p in doc.pages] == ["[sheet Users]\nday\tusers\nmon\t120", "[sheet Notes]\nquiet week"]


def test_the_knowledge_contract_pdf_loads():
    doc = load_document(CONTRACT, max_bytes=100 * MB)
    assert doc.kind == "pdf" and len(doc.pages) == 8 and "Elevator B" in doc.pages[1].text


# ---------- PDF and text limits ----------


def test_a_pdf_over_the_page_limit_is_refused_before_reading_a_page(tmp_path, monkeypatch):
    path = make_pdf(tmp_path / "long.pdf", loaders.MAX_PDF_PAGES + 1)
    read = []
    monkeypatch.setattr(pymupdf.Page, "get_text", lambda self, *a, **k: read.append(self.number) or "")
    message = refused_quickly(path, None)
    assert message == "too many pages (2,001 > the limit of 2,000); split the PDF to ingest it"
    assert read == []


def test_a_pdf_at_the_page_limit_loads(tmp_path, monkeypatch):
    monkeypatch.setattr(loaders, "MAX_PDF_PAGES", 30)
    assert len(load_document(make_pdf(tmp_path / "ok.pdf", 30)).pages) == 30
    with pytest.raises(DocumentError, match=r"too many pages \(31 > the limit of 30\)"):
        load_document(make_pdf(tmp_path / "long.pdf", 31))


def test_text_over_the_character_limit_is_refused_for_pdf_docx_and_xlsx(tmp_path, monkeypatch):
    monkeypatch.setattr(loaders, "MAX_TEXT_CHARS", 1_000)
    with pytest.raises(DocumentError, match=r"^too much text \(over the limit of 1,000 characters by page \d\)"):
        load_document(CONTRACT)
    path = tmp_path / "long.docx"
    path.write_bytes(_docx_bytes(["x" * 600, "y" * 600]))
    with pytest.raises(DocumentError, match=r"^too much text \(over the limit of 1,000 characters\)"):
        load_document(path)
    path = tmp_path / "long.xlsx"
    path.write_bytes(_xlsx_bytes({"Data": [["x" * 100, i] for i in range(20)]}))
    with pytest.raises(DocumentError, match=r"by sheet 'Data'"):
        load_document(path)
    path.write_bytes(_xlsx_bytes({"Data": [["x" * 100, i] for i in range(5)]}))
    assert len(load_document(path).pages[0].text) < 1_000


# ---------- one PyMuPDF lock ----------


def test_the_server_renders_under_the_lock_ingestion_holds():
    assert pages.PYMUPDF_LOCK is loaders.PYMUPDF_LOCK
    assert type(loaders.PYMUPDF_LOCK) is type(threading.RLock())  # load_document may run inside it


class RecordingLock:
    """A re-entrant lock that knows its owner, how deep it is held and how often it was taken."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.owner: int | None = None
        self.depth = 0
        self.taken = 0

    def __enter__(self) -> RecordingLock:
        self._lock.acquire()
        self.owner, self.depth, self.taken = threading.get_ident(), self.depth + 1, self.taken + 1
        return self

    def __exit__(self, *exc: object) -> None:
        self.depth -= 1
        if not self.depth:
            self.owner = None
        self._lock.release()


def test_pdf_reading_holds_the_lock_for_every_pymupdf_call_and_releases_it_between_pages(monkeypatch):
    lock = RecordingLock()
    monkeypatch.setattr(loaders, "PYMUPDF_LOCK", lock)
    calls: list[tuple[str, bool, int, int]] = []  # call, held by this thread, depth, times taken so far

    def spy(name: str, real: Callable) -> Callable:
        def call(*args, **kwargs):
            calls.append((name, lock.owner == threading.get_ident(), lock.depth, lock.taken))
            return real(*args, **kwargs)

        return call

    monkeypatch.setattr(pymupdf, "open", spy("open", pymupdf.open))
    monkeypatch.setattr(pymupdf.Page, "get_text", spy("get_text", pymupdf.Page.get_text))
    monkeypatch.setattr(pymupdf.Document, "close", spy("close", pymupdf.Document.close))
    doc = load_document(CONTRACT)
    assert len(doc.pages) == 8
    assert [c[0] for c in calls] == ["open"] + ["get_text"] * 16 + ["close"]  # text and words per page
    assert all(held and depth == 1 for _, held, depth, _ in calls)  # held, and not around the whole document
    # taken once to open, afresh for every page (its text and words together), once to close
    assert [taken for *_, taken in calls] == [1] + [t for k in range(2, 10) for t in (k, k)] + [10]
    assert lock.owner is None and lock.depth == 0


def test_page_renders_in_four_threads_while_another_thread_reads_a_pdf(monkeypatch):
    rounds, quote = 20, "must replace the door sensors of elevator B"
    want_pages = [p.text for p in load_document(CONTRACT).pages]
    want_image = render_page(CONTRACT, 2, quote, zoom=0.5)
    assert want_image.found
    start = threading.Barrier(5, timeout=60)
    results: dict[str, list] = {"load": [], "render": []}
    errors: list[BaseException] = []

    def work(kind: str) -> None:
        try:
            for _ in range(rounds):
                start.wait()
                if kind == "load":
                    results[kind].append([p.text for p in load_document(CONTRACT).pages])
                else:
                    img = render_page(CONTRACT, 2, quote, zoom=0.5)
                    results[kind].append((img.png, img.rects))
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)
            start.abort()

    threads = [threading.Thread(target=work, args=(k,)) for k in ["load"] + ["render"] * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and not any(t.is_alive() for t in threads)
    assert results["load"] == [want_pages] * rounds
    assert results["render"] == [(want_image.png, want_image.rects)] * (4 * rounds)
