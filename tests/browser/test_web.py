"""The web page in a real headless Chromium: ask with live progress, citations that open the highlighted
page, documents, images, reports, run history, schedules, Chinese, a phone screen, the keyboard, and
server text that never becomes HTML.

The server is real (uvicorn on loopback, the real contract PDF ingested with the HashEmbedder); the
runner is a named fake (``PageRunner`` in conftest.py). Every test's page must end with no console
error and no request off the server's origin (checked by the ``tab`` fixture).
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import httpx
import pymupdf
import pytest

from tests.browser.conftest import ANSWER, ANSWER_ZH, PDF, QUOTE, ROOT, WAIT, XSS, serve

pytestmark = pytest.mark.browser
expect = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed: run scripts/browser_setup.sh"
).expect
expect.set_options(timeout=WAIT * 1000)

SHOT = Path(__file__).resolve().parent / "ask-citation.png"
IMAGE = ROOT / "bench" / "data" / "vision" / "images" / "table_0.png"
GOOD = ROOT / "tests" / "fixtures" / "knowledge" / "good" / "notes.md"
BROKEN = ROOT / "tests" / "fixtures" / "knowledge" / "broken" / "not_a_pdf.pdf"


def ask(page, question: str, status: str = "ok"):
    page.fill("#ask-q", question)
    page.click("#ask-form button[type=submit]")
    page.wait_for_selector(f"#ask-run .status[data-status={status}]")
    return page.locator("#ask-run")


def no_horizontal_scroll(page) -> None:
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page scrolls sideways: {width[0]}px wide in a {width[1]}px window"


def run_via_api(site, flow: str, inputs: dict) -> dict:
    with httpx.Client(base_url=site.url, timeout=WAIT) as client:
        run_id = client.post("/runs", json={"flow": flow, "inputs": inputs}).json()["id"]
        deadline = time.monotonic() + WAIT
        while (rec := client.get(f"/runs/{run_id}").json())["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, "the run did not end"
            time.sleep(0.02)
    return rec


# ---------------------------------------------------------------- ask


def test_ask_shows_live_progress_then_the_answer_with_numbered_citations(tab, site):
    page = tab.open()
    site.runner.hold = hold = threading.Event()
    page.fill("#ask-q", "When must the door sensors of elevator B be replaced?")
    page.click("#ask-form button[type=submit]")
    # live: the first progress message is on the page while the run is still going
    expect(page.locator("#ask-run .progress li", has_text="searching the documents")).to_be_visible()
    expect(page.locator("#ask-run .status")).to_have_attribute("data-status", "running")
    assert page.locator("#ask-run .answer").count() == 0
    hold.set()
    expect(page.locator("#ask-run .status")).to_have_attribute("data-status", "ok")
    expect(page.locator("#ask-run .progress li", has_text="checking every quote")).to_be_visible()
    expect(page.locator("#ask-run .answer")).to_have_text(ANSWER)
    expect(page.locator("#ask-run button.cite")).to_have_text(["[1]"])
    expect(page.locator("#ask-run .sources li")).to_contain_text(f"{PDF.name}, p. 2")
    assert site.runner.seen[-1] == ("ask", {"question": "When must the door sensors of elevator B be replaced?",
                                            "file": "", "k": 0})  # fmt: skip


def test_a_citation_opens_its_page_with_the_quote_highlighted_and_verified(tab, site, needs_documents):
    page = tab.open()
    ask(page, "Who replaces the door sensors?")
    page.click("#ask-run button.cite")
    expect(page.locator("#viewer-note")).to_have_text("quote verified on this page")
    expect(page.locator("#viewer-h")).to_have_text(f"{PDF.name}, page 2")
    expect(page.locator("#viewer-quote")).to_have_text(QUOTE)
    img = page.locator("#viewer-img")
    expect(img).to_be_visible()
    assert page.evaluate("document.getElementById('viewer-img').naturalWidth") > 500
    assert page.locator("#viewer-sheet .mark").count() >= 2  # the quote crosses a line: one box per line
    page.screenshot(path=str(SHOT))  # for the README (docs/ask-citation.png), at 1280x800

    # the highlight covers the quoted words: the server's rectangles hold them, and their pixels are yellow
    with httpx.Client(base_url=site.url, timeout=WAIT) as client:
        c = site.citation
        r = client.get(f"/documents/{c.doc_id}/pages/2.png", params={"quote": QUOTE})
    assert r.headers["X-Quote-Found"] == "true"
    rects = httpx.Response(200, content=r.headers["X-Quote-Rects"]).json()
    png = pymupdf.Pixmap(r.content)
    with pymupdf.open(PDF) as doc:
        scale = png.width / doc[1].rect.width
        words = doc[1].search_for("must replace the door sensors") + doc[1].search_for("re-inspected before")
    assert words
    for w in words:
        cx, cy = (w.x0 + w.x1) / 2 * scale, (w.y0 + w.y1) / 2 * scale
        assert any(x0 <= cx <= x1 and y0 <= cy <= y1 for x0, y0, x1, y1 in rects), f"{w} is not highlighted"
    x0, y0, x1, y1 = rects[0]
    pixels = [png.pixel(int(x), int(y1) - 2) for x in range(int(x0) + 2, int(x1) - 2, 7)]
    yellow = [p for p in pixels if p[0] > 200 and p[1] > 180 and p[2] < 120]
    assert len(yellow) > len(pixels) / 2, f"the highlighted line is not yellow: {pixels[:8]}"


def test_a_quote_across_a_page_break_offers_the_next_page(tab, site, needs_documents):
    page = tab.open()
    ask(page, "what happens across pages with entrapment?")
    page.click("#ask-run button.cite")
    expect(page.locator("#viewer-note")).to_have_text("quote verified on this page")
    page.click("#viewer-next")
    expect(page.locator("#viewer-h")).to_have_text(f"{PDF.name}, page 3")
    expect(page.locator("#viewer-note")).to_have_text("quote verified on this page")
    expect(page.locator("#viewer-prev")).to_be_visible()


def test_the_do_box_sends_the_request_to_the_router(tab, site):
    page = tab.open("/#do")
    page.fill("#do-q", "When must the door sensors be replaced?")
    page.click("#do-form button[type=submit]")
    page.wait_for_selector("#do-run .status[data-status=ok]")
    expect(page.locator("#do-run .answer")).to_have_text(ANSWER)
    expect(page.locator("#do-run button.cite")).to_have_count(1)
    assert site.runner.seen[-1] == ("route", {"request": "When must the door sensors be replaced?", "images": [],
                                              "route": "", "dry_run": False})  # fmt: skip


def test_images_given_to_the_do_box_are_uploaded_first_and_the_run_names_them(tab, site):
    page = tab.open("/#do")
    page.fill("#do-q", "What does this table say about Alice Moore?")
    page.set_input_files("#do-images", str(IMAGE))
    page.click("#do-form button[type=submit]")
    page.wait_for_selector("#do-run .status[data-status=ok]")
    flow, inputs = site.runner.seen[-1]
    (kept,) = inputs["images"]
    assert flow == "route" and Path(kept).parent.name == "uploads" and Path(kept).read_bytes() == IMAGE.read_bytes()


# ---------------------------------------------------------------- documents and images


def test_an_uploaded_document_appears_in_the_list_and_can_be_deleted(tab, needs_documents):
    page = tab.open("/#docs")
    expect(page.locator("#docs-list li", has_text=PDF.name)).to_be_visible()
    page.set_input_files("#docs-files", str(GOOD))
    page.click("#docs-form button[type=submit]")
    page.wait_for_selector("#docs-run .status[data-status=ok]")
    expect(page.locator("#docs-run .progress li", has_text=f"ingesting 1/1: {GOOD.name}")).to_be_visible()
    row = page.locator("#docs-list li", has_text=GOOD.name)
    expect(row).to_be_visible()
    row.get_by_role("button").click()
    expect(page.locator("#docs-list li", has_text=GOOD.name)).to_have_count(0)
    assert tab.dialogs == [f"confirm: Remove {GOOD.name} from the index?"]
    expect(page.locator("#docs-list li", has_text=PDF.name)).to_be_visible()


def test_a_broken_file_shows_its_error(tab, needs_documents):
    tab.allowed_errors.append("Failed to load resource")  # the upload may be refused with a 4xx
    page = tab.open("/#docs")
    page.set_input_files("#docs-files", str(BROKEN))
    page.click("#docs-form button[type=submit]")
    expect(page.locator("#docs-run .error").first).to_contain_text(BROKEN.name)
    expect(page.locator("#docs-list li", has_text=BROKEN.name)).to_have_count(0)


def test_an_image_question_shows_the_rationale_and_the_answer(tab, site, needs_documents):
    page = tab.open("/#images")
    page.set_input_files("#img-file", str(IMAGE))
    expect(page.locator("#img-preview")).to_be_visible()
    page.fill("#img-q", "What is the salary of Alice Moore?")
    page.fill("#img-choices", "7650\n9400")
    page.click("#images-form button[type=submit]")
    page.wait_for_selector("#images-run .status[data-status=ok]")
    expect(page.locator("#images-run .rationale")).to_have_text("The table's row for Alice Moore reads 9400.")
    expect(page.locator("#images-run .answer")).to_have_text("9400")
    flow, inputs = site.runner.seen[-1]
    assert flow == "see" and inputs["question"] == "What is the salary of Alice Moore?"
    assert list(inputs["choices"]) == ["7650", "9400"]


# ---------------------------------------------------------------- reports, history, schedules


def test_a_research_report_shows_its_text_and_clickable_citations(tab, site):
    page = tab.open("/#flows")
    expect(page.locator("#flow-name")).to_have_value("research")
    page.fill("#f-topic", "elevator duties of the contractor")
    page.click("#flows-form button[type=submit]")
    page.wait_for_selector("#flows-run .status[data-status=ok]")
    expect(page.locator("#flows-run .answer")).to_have_text(ANSWER)
    expect(page.locator("#flows-run button.cite")).to_have_count(1)
    assert site.runner.seen[-1][0] == "research"
    assert site.runner.seen[-1][1]["topic"] == "elevator duties of the contractor"
    page.select_option("#flow-name", "workorder")
    expect(page.locator("#f-signature")).to_be_visible()


def test_run_history_lists_the_runs_and_opens_one(tab, site):
    run_via_api(site, "ask", {"question": "history question one"})
    rec = run_via_api(site, "route", {"request": "history request two"})
    page = tab.open("/#runs")
    row = page.locator("#runs-list li", has_text="history request two")
    expect(row).to_contain_text("route")
    expect(row).to_contain_text("done")
    expect(page.locator("#runs-list li", has_text="history question one")).to_contain_text("ask")
    row.get_by_role("button", name="Open").click()
    expect(page.locator("#runs-run .answer")).to_have_text(rec["result"]["text"])
    expect(page.locator("#runs-run button.cite")).to_have_count(1)


def test_schedules_and_their_history_are_listed(tab, needs_documents):
    page = tab.open("/#schedules")
    row = page.locator("#sched-list li", has_text="heartbeat")
    expect(row).to_contain_text("ping")
    expect(page.locator("#sched-list li", has_text="morning-report")).to_be_visible()
    row.get_by_role("button").click()
    expect(page.locator("#sched-hist-h")).to_have_text("History of heartbeat")
    expect(page.locator("#sched-hist li").first).to_be_visible()


# ---------------------------------------------------------------- Chinese, phone, keyboard


def test_the_page_switches_to_chinese_and_shows_a_chinese_answer(tab, site):
    page = tab.open()
    page.click("#lang")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("#tabs button[data-tab=ask]")).to_have_text("提问")
    expect(page.locator("label[for=ask-q]")).to_have_text("关于文档的问题")
    question = "B 号电梯的门传感器什么时候必须更换？"
    ask(page, question)
    expect(page.locator("#ask-run .answer")).to_have_text(ANSWER_ZH)
    expect(page.locator("#ask-run .status .badge")).to_have_text("完成")
    assert site.runner.seen[-1][1]["question"] == question
    if site.documents_api:
        page.click("#ask-run button.cite")
        expect(page.locator("#viewer-note")).to_have_text("引文已在此页核实")
        expect(page.locator("#viewer-h")).to_have_text(f"{PDF.name}，第 2 页")
        page.click("#lang")
        expect(page.locator("#viewer-note")).to_have_text("quote verified on this page")
        page.click("#lang")
    page.reload()  # the choice is kept
    expect(page.locator("#tabs button[data-tab=docs]")).to_have_text("文档")
    page.click("#lang")
    expect(page.locator("#tabs button[data-tab=docs]")).to_have_text("Documents")


# what each section shows once its data has come (a list gets a row even when empty or failed)
LOADED = {
    "docs": "#docs-list li",
    "flows": "#flow-fields [name]",
    "runs": "#runs-list li",
    "schedules": "#sched-list li",
}


@pytest.mark.viewport(390, 844)
def test_on_a_phone_nothing_scrolls_sideways_and_every_control_is_reachable(tab, site):
    page = tab.open()
    tabs = page.locator("#tabs button")
    for i in range(tabs.count()):
        button = tabs.nth(i)
        box = button.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, f"{button.text_content()} is off screen"
        button.click()
        expect(button).to_have_attribute("aria-current", "page")
        submit = page.locator("main > section:not([hidden]) button").first
        expect(submit).to_be_visible()
        if loaded := LOADED.get(button.get_attribute("data-tab")):  # measure what the section fetched too
            expect(page.locator(loaded).first).to_be_attached()
        no_horizontal_scroll(page)
    page.click("#tabs button[data-tab=ask]")
    ask(page, "A long question " + "about the elevator door sensors " * 12)
    no_horizontal_scroll(page)
    if site.documents_api:
        page.click("#ask-run button.cite")
        expect(page.locator("#viewer-note")).to_have_text("quote verified on this page")
        no_horizontal_scroll(page)
        assert page.locator("#viewer-img").bounding_box()["width"] <= 390


# run in the page before a run ends: records how many citation buttons #ask-run holds at the moment its
# status first says "done" (a MutationObserver runs right after the DOM change that set it)
CITES_WHEN_DONE = """() => {
  window.citesWhenDone = null;
  const run = document.getElementById("ask-run");
  new MutationObserver((_, observer) => {
    if (!run.querySelector(".status[data-status=ok]")) return;
    window.citesWhenDone = run.querySelectorAll("button.cite").length;
    observer.disconnect();
  }).observe(run, { subtree: true, childList: true, attributes: true });
}"""


def test_the_keyboard_alone_asks_and_opens_and_closes_a_citation(tab, needs_documents):
    page = tab.open()
    page.evaluate(CITES_WHEN_DONE)
    page.focus("#ask-q")
    page.keyboard.type("Who replaces the door sensors?")
    page.keyboard.press("Tab")
    expect(page.locator("#ask-form button[type=submit]")).to_be_focused()
    page.keyboard.press("Enter")
    # a keyboard user who hears "done" presses Tab at once: the citation button is there from that moment
    page.wait_for_selector("#ask-run .status[data-status=ok]")
    assert page.evaluate("window.citesWhenDone") == 1, "the status said done before the answer was shown"
    page.keyboard.press("Tab")
    cite = page.locator("#ask-run button.cite")
    expect(cite).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#viewer-note")).to_have_text("quote verified on this page")
    expect(page.locator("#viewer-h")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#viewer")).to_be_hidden()
    expect(cite).to_be_focused()


# ---------------------------------------------------------------- safety


def test_server_text_is_shown_as_text_never_as_html(tab, site):
    page = tab.open()
    ask(page, "what does <b>this</b> say?")
    expect(page.locator("#ask-run .answer")).to_have_text(XSS)
    assert page.locator("#ask-run img, #ask-run script, #ask-run b").count() == 0
    expect(page.locator("#ask-run .sources li").nth(1)).to_contain_text(f"{XSS}.pdf, p. 1")
    expect(page.locator("#ask-run .sources li").nth(1)).to_contain_text("<script>alert(2)</script>")
    page.wait_for_timeout(200)  # an injected onerror would have fired by now
    assert tab.dialogs == []
    assert not [u for u in tab.requests if u.endswith("/x")]


def test_the_guards_see_a_console_error_and_a_request_off_loopback(tab):
    page = tab.open()
    with page.expect_console_message(lambda m: "a deliberate error" in m.text):
        page.evaluate("console.error('a deliberate error')")
    # the page's own Content-Security-Policy refuses a connection elsewhere before it is made ...
    with page.expect_console_message(lambda m: "Content Security Policy" in m.text):
        page.evaluate("fetch('http://192.0.2.1/leak').catch(() => null)")
    assert "a deliberate error" in tab.unexpected_errors()[0]
    assert any("Content Security Policy" in e for e in tab.unexpected_errors()), tab.errors
    assert tab.foreign() == []
    # ... and on a page without that policy, the request recorder sees the request (and stops it: the
    # request fails only after the recorder has noted it and aborted it)
    page.goto("about:blank")
    with page.expect_event("requestfailed", lambda r: r.url == "http://192.0.2.1/leak"):
        page.evaluate("fetch('http://192.0.2.1/leak').catch(() => null)")
    assert tab.foreign() == ["http://192.0.2.1/leak"]
    tab.errors.clear()
    tab.requests[:] = [u for u in tab.requests if u.startswith(tab.site.url)]


def test_the_page_serves_only_its_own_files_with_a_strict_content_policy(site):
    with httpx.Client(base_url=site.url, timeout=WAIT) as client:
        page = client.get("/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert "cdn" not in page.text.lower() and "https://" not in page.text
        assert client.get("/static/app.js").headers["content-type"].endswith("javascript; charset=utf-8")
        for bad in ("/static/web.py", "/static/..%2Fweb.py", "/static/%2e%2e/app.py", "/static/nope.js"):
            r = client.get(bad)
            assert r.status_code == 404 and "import" not in r.text, bad


def test_with_a_token_the_page_keeps_it_and_its_calls_carry_it(browser, site, tmp_path):
    from multimodal_crew.serve.app import create_app
    from multimodal_crew.settings import Settings

    settings = Settings(home=tmp_path / "guarded", knowledge_dir=tmp_path / "knowledge")
    app = create_app(settings, runner=site.runner, token="s3cret-token")
    with serve(app) as url:
        assert httpx.get(url + "/static/app.js").status_code == 401
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url + "/?token=s3cret-token#ask")
        expect(page.locator("#tabs button[aria-current=page]")).to_have_text("Ask")
        expect(page).not_to_have_url(re.compile("token"))
        page.fill("#ask-q", "Who replaces the door sensors?")
        page.click("#ask-form button[type=submit]")
        expect(page.locator("#ask-run .answer")).to_have_text(ANSWER)
        context.close()
    assert errors == []
