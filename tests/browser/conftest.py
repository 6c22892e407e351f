"""The browser suite's fixtures: a real server on loopback, a real Chromium, a fake runner (no model).

* ``site``: ``create_app(settings, runner=PageRunner)`` served by uvicorn in a thread on 127.0.0.1 and a
  free port, with its own MMCREW_HOME; the project's real contract PDF is in its knowledge folder,
  ingested with the HashEmbedder, so citations name a real document and the page images are real.
* ``browser``: Debian's Chromium (``/usr/bin/chromium``, or ``MMCREW_CHROMIUM``) driven by Playwright,
  headless; skipped with the reason when either is missing (``scripts/browser_setup.sh`` installs both).
* ``tab``: a fresh browser context and page that records every request URL (all must stay on the
  server's loopback origin), console errors and page errors, and dialogs; checked when the test ends.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from multimodal_crew.steps.results import Citation, RunResult, cite

ROOT = Path(__file__).resolve().parents[2]
PDF = ROOT / "knowledge" / "harbor_tower_maintenance_contract.pdf"
CHROMIUM = os.environ.get("MMCREW_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
WAIT = 10.0
# the quote the fake `ask` cites: it crosses a line on page 2 of the contract
QUOTE = (
    "The contractor must replace the door sensors of elevator B within 30 days of the inspection, and "
    "must have the elevator re-inspected before it returns to service."
)
ANSWER = "The contractor must replace the door sensors of elevator B within 30 days of the 3 March 2025 inspection."
ANSWER_ZH = "承包商必须在 2025 年 3 月 3 日检查后 30 天内更换 B 号电梯的门传感器。"
XSS = "<img src=x onerror=alert(1)>"
# a quote that starts at the end of page 2 and ends at the top of page 3
ACROSS = "a technician must arrive within 30 minutes, at any hour of any day. Section 2: Roof and roof drains"


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives the web page in a real headless Chromium (Playwright)")
    config.addinivalue_line("markers", "viewport(width, height): the browser window size of a browser test")


class PageRunner:
    """The server's runner in these tests: no model, answers shaped like the real flows' results.

    ``ask``/``route``/``research``/``workorder``: the answer (Chinese for a Chinese question, the
    XSS string for a question containing ``<``, a quote across pages 2-3 for one saying
    "across pages") citing the real quote on page 2 of the contract PDF.
    ``see``: a rationale and an answer in ``data``, as the see flow returns them. Any other flow (the
    ``ingest`` run of an upload) is the real one, on the site's HashEmbedder store. Each run reports
    progress twice; ``hold`` (an Event, used once) keeps the next run after its first progress
    message until it is set, so a test can look at live progress. ``seen`` records (flow, inputs).
    """

    FAKED = frozenset({"ask", "route", "research", "workorder", "see"})

    def __init__(self, citation: Citation, across: Citation, real=None):
        self.citation, self.across, self.real = citation, across, real
        self.hold: threading.Event | None = None
        self.seen: list[tuple[str, dict]] = []

    def __call__(self, flow, inputs, progress, cancelled) -> RunResult:
        self.seen.append((flow, dict(inputs)))
        if flow not in self.FAKED:  # ingest (an upload): the real flow, on the HashEmbedder's store
            return self.real(flow, inputs, progress, cancelled)
        progress("searching the documents")
        hold, self.hold = self.hold, None
        if hold is not None:
            hold.wait(WAIT)
        progress("checking every quote against its page")
        if flow == "see":
            data = {"question": inputs["question"], "rationale": "The table's row for Alice Moore reads 9400.",
                    "answer": "9400", "choice_index": 1, "mode": inputs.get("mode", "two_stage"),
                    "backend": "fake", "images": [str(inputs.get("image", ""))]}  # fmt: skip
            return RunResult(flow=flow, text="Answer: 9400", data=data, model_calls=2)
        asked = str(inputs.get("question") or inputs.get("request") or inputs.get("topic") or inputs.get("section"))
        if "<" in asked:
            hostile = Citation(file=f"{XSS}.pdf", page=1, quote="<script>alert(2)</script>", start=0, end=25)
            return RunResult(flow=flow, text=XSS, citations=[self.citation, hostile])
        if "across pages" in asked:
            return RunResult(flow=flow, text="A technician must arrive within 30 minutes.", citations=[self.across])
        text = ANSWER_ZH if any("\u4e00" <= ch <= "\u9fff" for ch in asked) else ANSWER
        return RunResult(flow=flow, text=text, citations=[self.citation], model_calls=1)


@dataclass
class Site:
    url: str
    port: int
    runner: PageRunner
    settings: object
    citation: Citation
    documents_api: bool


def _knowledge(settings):
    """The contract PDF ingested with the HashEmbedder; its Retriever and the citation of QUOTE."""
    from multimodal_crew.knowledge.ingest import ingest
    from multimodal_crew.knowledge.retrieval import Retriever
    from multimodal_crew.knowledge.store import KnowledgeStore, store_dir
    from tests.fakes import HashEmbedder

    emb = HashEmbedder()
    store = KnowledgeStore(store_dir(settings.index_path, emb.name), emb.name)
    ingest([settings.knowledge_path], settings=settings, embedder=emb, store=store)
    doc = store.doc_by_file(PDF.name)
    page2 = store.page_text(PDF.name, 2, doc.doc_id)
    citation = cite(PDF.name, 2, QUOTE, page2, doc.doc_id)
    assert citation is not None and ACROSS.startswith(page2[page2.index("a technician") :].split("\n")[0])
    start = page2.index("a technician")
    across = Citation(file=PDF.name, page=2, quote=ACROSS, start=start, end=len(page2), doc_id=doc.doc_id)
    return Retriever(store, emb, settings=settings), (citation, across)


@contextmanager
def serve(app) -> Iterator[str]:
    """``app`` on a real uvicorn server on 127.0.0.1 and a free port, in a thread; yields its URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1, ws="none")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="browser-site", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + WAIT
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(WAIT)
        sock.close()


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """The app with the contract PDF ingested, on a real server, for the whole session."""
    from multimodal_crew.serve.app import create_app
    from multimodal_crew.settings import Settings

    home = tmp_path_factory.mktemp("site")
    (home / "knowledge").mkdir()
    shutil.copy(PDF, home / "knowledge" / PDF.name)
    settings = Settings(home=home / "state", knowledge_dir=home / "knowledge", models_dir=home / "models")
    retriever, citations = _knowledge(settings)

    def real(flow, inputs, progress, cancelled):
        from multimodal_crew.flows import run_flow

        return run_flow(flow, inputs, retriever=retriever, progress=progress, settings=settings, cancelled=cancelled)

    runner = PageRunner(*citations, real=real)
    documents = importlib.util.find_spec("multimodal_crew.serve.documents") is not None
    with serve(create_app(settings, runner=runner, retriever=retriever)) as url:
        yield Site(url, int(url.rsplit(":", 1)[1]), runner, settings, citations[0], documents)


@pytest.fixture
def needs_documents(site):
    if not site.documents_api:
        pytest.skip("documents API missing (src/multimodal_crew/serve/documents.py)")


@pytest.fixture(
    scope="module"
)  # not session: a live Playwright keeps an event loop running in the main thread, which breaks later sync CrewAI runs
def browser():
    """Headless Chromium from the Debian package, through Playwright (never its own download)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed: run scripts/browser_setup.sh")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no Chromium at {CHROMIUM}: run scripts/browser_setup.sh (or set MMCREW_CHROMIUM)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


@dataclass
class Tab:
    """One page in its own context, with what it did: request URLs, console/page errors, dialogs."""

    page: object
    site: Site
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    allowed_errors: list[str] = field(default_factory=list)  # substrings of console errors a test expects

    def open(self, path: str = "/") -> object:
        self.page.goto(self.site.url + path)
        self.page.wait_for_selector("#tabs button[aria-current=page]")
        return self.page

    def foreign(self) -> list[str]:
        origin = self.site.url + "/"
        return [u for u in self.requests if not u.startswith(origin)]

    def unexpected_errors(self) -> list[str]:
        return [e for e in self.errors if not any(a in e for a in self.allowed_errors)]


@pytest.fixture
def tab(browser, site, request):
    """A new context (1280x800 unless the test is marked ``viewport(w, h)``) and page on the site."""
    marker = request.node.get_closest_marker("viewport")
    width, height = marker.args if marker else (1280, 800)
    context = browser.new_context(viewport={"width": width, "height": height}, locale="en-US")
    context.set_default_timeout(WAIT * 1000)
    page = context.new_page()
    t = Tab(page, site)

    def record(route):  # every request is recorded; one that would leave the server's origin is stopped
        t.requests.append(route.request.url)
        if route.request.url.startswith(site.url + "/"):
            route.continue_()
        else:
            route.abort()

    context.route("**/*", record)
    page.on("console", lambda m: m.type == "error" and t.errors.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: t.errors.append(f"page error: {e}"))

    def dialog(d):
        t.dialogs.append(f"{d.type}: {d.message}")
        d.accept()

    page.on("dialog", dialog)
    yield t
    context.close()
    assert not t.unexpected_errors(), f"the browser console showed errors: {t.unexpected_errors()}"
    assert not t.foreign(), f"requests left the server's loopback origin: {t.foreign()}"
