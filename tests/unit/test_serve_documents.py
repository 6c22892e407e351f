"""Documents, page images, image uploads and schedules over HTTP (serve/documents.py), and the ``ingest``
flow behind uploads (config/flows/ingest.yaml, steps/documents.py).

The app is the real one (``create_app``) with the real run queue and ``run_flow``; the retriever is a
real store (SQLite, Chroma, BM25) with the HashEmbedder, so no model loads. Documents are the real
fixture PDFs; bodies with hostile file names are written byte for byte, as a client could send them.
"""

from __future__ import annotations

import io
import json
import shutil
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from multimodal_crew.knowledge.loaders import DocumentError, load_document
from multimodal_crew.knowledge.retrieval import Retriever
from multimodal_crew.serve.app import create_app
from multimodal_crew.serve.documents import clean_name
from multimodal_crew.settings import get_settings
from multimodal_crew.steps import documents as ingest_step
from multimodal_crew.steps.results import RunResult
from tests.fakes import FIX, ROOT, HashEmbedder, make_store

CONTRACT = ROOT / "knowledge" / "harbor_tower_maintenance_contract.pdf"
BROKEN = FIX / "broken"
FINAL = {"ok", "abstained", "incomplete", "failed", "cancelled", "interrupted"}


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A knowledge folder, settings that point at it, and an empty store with the HashEmbedder."""
    knowledge = tmp_path / "knowledge"
    knowledge.mkdir()
    monkeypatch.setenv("MMCREW_KNOWLEDGE_DIR", str(knowledge))
    settings = get_settings(refresh=True)
    emb = HashEmbedder()
    return SimpleNamespace(settings=settings, knowledge=knowledge, retriever=Retriever(make_store(emb), emb))


@pytest.fixture
def client(env):
    with TestClient(create_app(env.settings, retriever=env.retriever)) as c:
        yield c


def upload(client, *files: tuple[str, bytes], **data):
    return client.post("/documents", files=[("files", (n, b, "application/octet-stream")) for n, b in files], data=data)


def raw_upload(client, filename: bytes, content: bytes = b"hello\n"):
    """A multipart body with ``filename`` exactly as given (httpx would escape some characters)."""
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="files"; filename="' + filename + b'"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n" + content + b"\r\n--XyZ--\r\n"
    )
    return client.post("/documents", content=body, headers={"content-type": "multipart/form-data; boundary=XyZ"})


def wait(client, run_id: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rec = client.get(f"/runs/{run_id}").json()
        if rec["status"] in FINAL:
            return rec
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not end in {timeout} s")


def ingested(client, *files: tuple[str, bytes], **data) -> dict:
    r = upload(client, *files, **data)
    assert r.status_code == 202, r.text
    return wait(client, r.json()["run"])


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def yellow(png: bytes) -> np.ndarray:
    """Highlighter pixels (pages.py tints white to 255, 229, 51)."""
    px = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    return (px[..., 0] > 200) & (px[..., 1] > 200) & (px[..., 2] < 120)


# -- the whole way: upload, ingest run, list, page image, delete ---------------------------------------
def test_upload_is_ingested_listed_shown_with_its_quote_highlighted_and_deleted(client, env):
    r = upload(client, ("contract.pdf", CONTRACT.read_bytes()))
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["documents"] == ["contract.pdf"] and body["uploads"][0]["status"] == "added"
    assert body["events"] == f"/runs/{body['run']}/events"
    rec = wait(client, body["run"])
    assert (rec["flow"], rec["status"], rec["inputs"]) == ("ingest", "ok", {"paths": ["contract.pdf"]})
    assert rec["result"]["data"]["added"] == ["contract.pdf"] and rec["result"]["text"].startswith("1 file: 1 added")
    events = client.get(body["events"]).text  # the run has ended: the stream is complete
    assert "ingesting 1/1: contract.pdf" in events and "event: status" in events

    (doc,) = client.get("/documents").json()
    assert (doc["file"], doc["kind"], doc["pages"], doc["in_knowledge_folder"]) == ("contract.pdf", "pdf", 8, True)
    assert env.retriever.search("door sensors elevator B", k=1)[0].doc_id == doc["doc_id"]  # the warm retriever sees it

    quote = "replace the door sensors of elevator B within 30 days of the inspection, and must have the elevator"
    img = client.get(f"/documents/{doc['doc_id']}/pages/2.png", params={"quote": quote})
    assert img.status_code == 200 and img.headers["content-type"] == "image/png"
    assert img.headers["x-quote-found"] == "true" and img.headers["x-page-count"] == "8"
    assert img.headers["x-quote-continues"] == img.headers["x-quote-continued"] == "false"
    rects = json.loads(img.headers["x-quote-rects"])
    assert len(rects) == 2  # the quote wraps onto a second line
    mask = yellow(img.content)
    inside = np.zeros_like(mask)
    for x0, y0, x1, y1 in rects:
        inside[int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1))] = True  # as pages.py tints them
    assert mask[inside].mean() > 0.3 and not mask[~inside].any()
    assert "private" in img.headers["cache-control"]
    again = client.get(img.url, headers={"If-None-Match": img.headers["etag"]})
    assert again.status_code == 304 and not again.content

    page = client.get(f"/documents/{doc['doc_id']}/pages/2", params={"quote": quote}).json()
    text = env.retriever.store.page_text("contract.pdf", 2)
    assert page["text"] == text and " ".join(text[page["start"] : page["end"]].split()) == quote
    assert (
        page["found"]
        and page["rects"] == rects
        and page["image"].startswith(f"/documents/{doc['doc_id']}/pages/2.png?")
    )

    gone = client.delete(f"/documents/{doc['doc_id']}")
    assert gone.status_code == 200 and gone.json() == {
        "doc_id": doc["doc_id"],
        "file": "contract.pdf",
        "file_removed": True,
    }
    assert client.get("/documents").json() == [] and visible(env.knowledge) == []
    assert client.get(f"/documents/{doc['doc_id']}/pages/2.png").status_code == 404
    assert client.delete(f"/documents/{doc['doc_id']}").status_code == 404
    assert env.retriever.store.vectors.count() == 0  # its vectors went too


def test_delete_keeps_a_file_outside_the_knowledge_folder_and_waits_for_a_running_ingestion(client, env, tmp_path):
    from multimodal_crew.knowledge.ingest import ingest

    outside = tmp_path / "elsewhere" / "notes.md"
    outside.parent.mkdir()
    outside.write_text("# Notes\nThe boiler is serviced every October.\n", encoding="utf-8")
    ingest([outside], settings=env.settings, store=env.retriever.store, embedder=HashEmbedder())
    (doc,) = client.get("/documents").json()
    assert doc["in_knowledge_folder"] is False
    env.retriever.store.lock()  # an ingestion holds the index
    try:
        r = client.delete(f"/documents/{doc['doc_id']}")
        assert r.status_code == 409 and "ingestion" in r.json()["error"]
    finally:
        env.retriever.store.unlock()
    assert client.delete(f"/documents/{doc['doc_id']}").json()["file_removed"] is False
    assert outside.is_file() and client.get("/documents").json() == []


# -- one document per content and name -----------------------------------------------------------------
def test_the_same_file_uploaded_twice_is_one_document(client, env):
    pdf = CONTRACT.read_bytes()
    ingested(client, ("contract.pdf", pdf))
    r = upload(client, ("contract.pdf", pdf))
    assert r.json()["uploads"][0]["status"] == "unchanged"
    assert wait(client, r.json()["run"])["result"]["data"]["unchanged"] == ["contract.pdf"]
    assert [d["file"] for d in client.get("/documents").json()] == ["contract.pdf"]


def test_two_clients_uploading_the_same_file_at_once_end_with_one_document(client, env):
    pdf = CONTRACT.read_bytes()
    barrier, replies = threading.Barrier(2), []

    def send():
        barrier.wait()
        replies.append(upload(client, ("合同.pdf", pdf)))

    threads = [threading.Thread(target=send) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r.status_code for r in replies) == [202, 202]
    assert sorted(r.json()["uploads"][0]["status"] for r in replies) == ["added", "unchanged"]
    runs = [wait(client, r.json()["run"]) for r in replies]
    assert {r["status"] for r in runs} == {"ok"}
    assert [d["file"] for d in client.get("/documents").json()] == ["合同.pdf"]  # a unicode name is kept
    assert visible(env.knowledge) == ["合同.pdf"]  # no temporary file left behind


def test_other_content_under_a_taken_name_is_409_unless_replace(client, env):
    first = ingested(client, ("notes.md", b"The pump is red.\n"))
    assert first["status"] == "ok"
    r = upload(client, ("notes.md", b"The pump is blue.\n"))
    assert r.status_code == 409 and "replace=true" in r.json()["error"]
    assert (env.knowledge / "notes.md").read_text() == "The pump is red.\n"
    rec = ingested(client, ("notes.md", b"The pump is blue.\n"), replace="true")
    assert rec["result"]["data"]["replaced"] == ["notes.md"]
    (doc,) = client.get("/documents").json()
    assert "blue" in client.get(f"/documents/{doc['doc_id']}/pages/1").json()["text"]


def test_an_upload_with_one_bad_file_writes_none(client, env):
    r = upload(client, ("good.md", b"fine\n"), ("bad.pdf", b"not a pdf"))
    assert r.status_code == 400 and r.json()["error"].startswith("bad.pdf: not a PDF")
    assert visible(env.knowledge) == [] and client.get("/runs").json() == []


# -- names, sizes, types ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    [b"../x.pdf", b"/etc/passwd", b"a\\\\b.pdf", b"", b"..", b".hidden.md", b"a\x01b.md", "x\u202egpj.md".encode()],
)
def test_a_file_name_that_is_not_a_plain_name_is_400(client, env, name):
    r = raw_upload(client, name)
    assert r.status_code == 400, r.text
    assert r.json()["error"].startswith("file name") and "\n" not in r.json()["error"]
    assert visible(env.knowledge) == []


def test_clean_name_keeps_unicode_and_normalises_it():
    assert clean_name("报告.pdf") == "报告.pdf"
    assert clean_name("Cafe\u0301.md") == "Caf\u00e9.md"  # NFD (macOS) and NFC end as one name
    with pytest.raises(Exception, match="file name"):
        clean_name("a/b.md")


def test_sizes_and_types_are_refused_with_the_ingest_checks_own_message(env, monkeypatch, tmp_path):
    monkeypatch.setenv("MMCREW_MAX_FILE_MB", "1")
    settings = get_settings(refresh=True)
    samples = {
        "big.txt": b"a" * 1_200_000,
        "tool.exe": b"MZ\x90\x00binary",
        "fake.pdf": b"this is text, not a PDF",
        "empty.txt": b"",
        "truncated.pdf": (BROKEN / "truncated.pdf").read_bytes(),
        "scanned.pdf": (BROKEN / "scanned.pdf").read_bytes(),
    }
    with TestClient(create_app(settings, retriever=env.retriever)) as client:
        for name, content in samples.items():
            probe = tmp_path / name
            probe.write_bytes(content)
            with pytest.raises(DocumentError) as expected:
                load_document(probe, max_bytes=1_000_000)
            r = upload(client, (name, content))
            assert r.status_code == 400, name
            assert r.json()["error"] == f"{name}: {expected.value}"
        huge = upload(client, ("huge.txt", b"a" * 2_500_000))  # refused by its Content-Length
        assert huge.status_code == 400 and "MMCREW_MAX_FILE_MB (1 MB)" in huge.json()["error"]
        head = b'--XyZ\r\nContent-Disposition: form-data; name="files"; filename="huge.txt"\r\n\r\n'

        def chunks():  # a generator: sent chunked, without Content-Length, so counted as it streams in
            yield from [head, *[b"a" * 100_000] * 30, b"\r\n--XyZ--\r\n"]

        streamed = client.post(
            "/documents", content=chunks(), headers={"content-type": "multipart/form-data; boundary=XyZ"}
        )
        assert streamed.status_code == 400 and "MMCREW_MAX_FILE_MB (1 MB)" in streamed.json()["error"]
        assert visible(env.knowledge) == []


def test_an_ingest_run_reports_a_broken_file_and_ingests_the_rest(client, env):
    shutil.copy(BROKEN / "truncated.pdf", env.knowledge / "truncated.pdf")
    shutil.copy(CONTRACT, env.knowledge / "contract.pdf")
    r = client.post("/runs", json={"flow": "ingest", "inputs": {"paths": ["truncated.pdf", "contract.pdf"]}})
    rec = wait(client, r.json()["id"])
    assert rec["status"] == "incomplete" and rec["result"]["reason"].startswith("truncated.pdf: corrupt PDF: truncated")
    data = rec["result"]["data"]
    assert data["added"] == ["contract.pdf"] and data["failed"][0]["file"] == "truncated.pdf"


@pytest.mark.parametrize("path", ["../secrets.txt", "/etc/passwd", "sub/../../x.md", ".env", "a\\..\\b"])
def test_the_ingest_flow_reads_nothing_outside_the_knowledge_folder(client, path):
    r = client.post("/runs", json={"flow": "ingest", "inputs": {"paths": [path]}})
    assert r.status_code == 400 and "not a name inside the knowledge folder" in r.json()["error"]


def test_ingest_paths_from_the_command_line_split_on_bars():
    assert ingest_step.IngestInputs(paths="a.pdf| notes/b.md |").paths == ["a.pdf", "notes/b.md"]


# -- page errors -----------------------------------------------------------------------------------------
def test_page_requests_that_cannot_be_served(client, env):
    ingested(client, ("contract.pdf", CONTRACT.read_bytes()), ("rules.md", "# 规则\n住户须知。\n".encode()))
    docs = {d["file"]: d["doc_id"] for d in client.get("/documents").json()}
    pdf, md = docs["contract.pdf"], docs["rules.md"]
    for n in (0, 9):
        r = client.get(f"/documents/{pdf}/pages/{n}.png")
        assert r.status_code == 400 and "pages are 1 to 8" in r.json()["error"]
    assert client.get(f"/documents/{pdf}/pages/1.png", params={"quote": "x" * 2001}).status_code == 400
    assert client.get("/documents/nope/pages/1.png").status_code == 404
    assert client.get("/documents/..%2F..%2Fetc%2Fpasswd/pages/1").status_code == 404
    assert client.get(f"/documents/{md}/pages/1.png").status_code == 400  # an image needs a PDF
    page = client.get(f"/documents/{md}/pages/1", params={"quote": "住户须知"}).json()
    assert page["found"] and page["image"] is None and page["text"][page["start"] : page["end"]] == "住户须知"
    missed = client.get(f"/documents/{pdf}/pages/1.png", params={"quote": "words that are on no page"})
    assert missed.headers["x-quote-found"] == "false" and missed.headers["x-quote-rects"] == "[]"


# -- images --------------------------------------------------------------------------------------------
def png(color=(200, 30, 30), size=(64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def test_see_checks_the_image_keeps_it_under_outputs_and_queues_a_see_run(env):
    seen: list[tuple[str, dict]] = []

    def runner(flow, inputs, progress, cancelled):
        seen.append((flow, inputs))
        return RunResult(flow=flow, text="B")

    with TestClient(create_app(env.settings, runner=runner, retriever=env.retriever)) as client:
        form = {"question": "Which bar is taller?", "choices": ["A", "B"], "mode": "single"}
        r = client.post("/see", files={"image": ("chart.png", png(), "image/png")}, data=form)
        assert r.status_code == 202, r.text
        assert wait(client, r.json()["run"])["result"]["text"] == "B"
        r2 = client.post("/see", files={"image": ("again.png", png(), "image/png")}, data=form)
        wait(client, r2.json()["run"])
        bad = client.post("/see", files={"image": ("chart.png", b"GIF89 not really", "image/png")}, data=form)
        assert (
            bad.status_code == 400
            and bad.json()["error"] == "chart.png is not an image (its content matches no image format)"
        )
        assert client.post("/see", files={"image": ("c.png", png())}, data={"question": ""}).status_code == 400
    (flow, inputs), (_, inputs2) = seen
    image = Path(inputs["image"])
    uploads = env.settings.outputs_path / "uploads"
    assert flow == "see" and image.is_file() and image.parent == uploads and image.suffix == ".png"
    assert inputs2["image"] == inputs["image"]  # the same image is kept once
    assert (inputs["question"], inputs["choices"], inputs["mode"]) == ("Which bar is taller?", ["A", "B"], "single")
    assert not env.settings.knowledge_path.joinpath(image.name).exists()
    assert sorted(p.name for p in uploads.iterdir()) == [image.name]  # nothing of the refused uploads remains


def test_images_keeps_an_upload_that_a_run_may_name_and_runs_may_name_no_other_path(env):
    seen: list[tuple[str, dict]] = []

    def runner(flow, inputs, progress, cancelled):
        seen.append((flow, inputs))
        return RunResult(flow=flow, text="ok")

    outside = env.knowledge / "secret.png"
    outside.write_bytes(png())
    with TestClient(create_app(env.settings, runner=runner, retriever=env.retriever)) as client:
        r = client.post("/images", files={"image": ("photo.png", png((1, 2, 3)), "image/png")})
        assert r.status_code == 201, r.text
        kept = r.json()
        assert Path(kept["image"]).parent == env.settings.outputs_path / "uploads"
        assert kept["format"] == "png" and kept["bytes"] == Path(kept["image"]).stat().st_size
        again = client.post("/images", files={"image": ("same.png", png((1, 2, 3)), "image/png")}).json()
        assert again["image"] == kept["image"]  # the same image is kept once
        run = client.post(
            "/runs", json={"flow": "route", "inputs": {"request": "what is this?", "images": [kept["image"]]}}
        )
        assert run.status_code == 202, run.text
        assert wait(client, run.json()["id"])["status"] == "ok"
        for bad in (str(outside), "../knowledge/secret.png", "/etc/passwd", f"{kept['image']},/etc/hosts"):
            refused = client.post("/runs", json={"flow": "route", "inputs": {"request": "x", "images": bad.split(",")}})
            assert (
                refused.status_code == 400
                and "must be one uploaded to this server (POST /images)" in refused.json()["error"]
            ), bad
        broken = client.post("/images", files={"image": ("x.png", b"not an image at all", "image/png")})
        assert broken.status_code == 400 and "x.png is not an image" in broken.json()["error"]
        assert client.post("/images", data={"question": "no file"}).status_code == 400
    assert [(f, i["images"]) for f, i in seen] == [("route", [kept["image"]])]
    assert sorted(p.name for p in (env.settings.outputs_path / "uploads").iterdir()) == [Path(kept["image"]).name]


def test_runs_and_uploads_older_than_keep_days_are_pruned_but_never_open_runs_or_images_a_run_names(env):
    import os

    from multimodal_crew.serve.retention import prune

    with TestClient(create_app(env.settings, runner=lambda f, i, p, c: RunResult(flow=f, text="ok"))) as client:
        server = client.app.state.server
        store = server.store
        named = client.post("/images", files={"image": ("a.png", png((9, 9, 9)), "image/png")}).json()["image"]
        loose = client.post("/images", files={"image": ("b.png", png((8, 8, 8)), "image/png")}).json()["image"]
        old = client.post("/runs", json={"flow": "route", "inputs": {"request": "x", "images": [named]}}).json()["id"]
        wait(client, old)
        waiting = store.create("ping", {})  # never started: still queued, so never pruned
        day = 86400
        for path in (named, loose):
            os.utime(path, (time.time() - 40 * day,) * 2)
        assert env.settings.serve_keep_days == 30
        # 10 days on, nothing is old enough
        assert prune(server.settings, store, now=time.time() + 10 * day) == {
            "runs": 0,
            "images": 1,
        }  # b.png: 50 days, unnamed
        assert Path(named).exists() and not Path(loose).exists()
        # 31 days on: the finished run and its events go; then its image is named by no run and goes too
        assert prune(server.settings, store, now=time.time() + 31 * day) == {"runs": 1, "images": 1}
        assert client.get(f"/runs/{old}").status_code == 404 and store.events(old) == []
        assert store.get(waiting.id).status == "queued" and not Path(named).exists()
        env.settings.serve_keep_days = 0  # keep everything
        assert prune(server.settings, store, now=time.time() + 1000 * day) == {"runs": 0, "images": 0}


# -- schedules ------------------------------------------------------------------------------------------
def test_schedules_and_their_history(sched_config, env):
    from multimodal_crew.schedule.history import History
    from multimodal_crew.schedule.runner import schedule_dir

    (sched_config / "schedules.yaml").write_text(
        "schedules:\n"
        "  - {name: heartbeat, flow: ping, interval: 15m}\n"
        "  - {name: nightly, flow: ping, cron: '0 2 * * *', enabled: false}\n",
        encoding="utf-8",
    )
    settings = get_settings(refresh=True)
    history = History(schedule_dir(settings) / "history.sqlite")
    first = history.start("heartbeat", "ping", "scheduled", None)
    history.finish(first, "ok", output_dir="/out/1")
    second = history.start("heartbeat", "ping", "manual", None)
    history.finish(second, "failed", error="boom")
    gone = history.start("retired", "ping", "manual", None)
    history.finish(gone, "ok")
    history.close()
    with TestClient(create_app(settings, retriever=env.retriever)) as client:
        listed = {s["name"]: s for s in client.get("/schedules").json()}
        assert listed["heartbeat"]["when"] == "every 15m" and listed["heartbeat"]["next_run"]
        assert listed["heartbeat"]["last_run"]["status"] == "failed"
        assert listed["nightly"]["next_run"] is None and listed["nightly"]["last_run"] is None
        runs = client.get("/schedules/heartbeat/history").json()
        assert [(r["id"], r["status"], r["error"]) for r in runs] == [(second, "failed", "boom"), (first, "ok", "")]
        assert client.get("/schedules/nightly/history").json() == []
        assert [r["id"] for r in client.get("/schedules/retired/history").json()] == [gone]  # removed, history kept
        r = client.get("/schedules/nope/history")
        assert r.status_code == 404 and "nope" in r.json()["error"]
