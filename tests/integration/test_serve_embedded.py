"""The server on the real parts: the embedded model and the real embedder, kept warm; the knowledge
folder's PDF ingested through the `ingest` flow; an answer's citation opened as a highlighted page."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from multimodal_crew.knowledge.retrieval import get_retriever
from multimodal_crew.models.runtime import get_runtime
from multimodal_crew.serve.app import create_app
from multimodal_crew.settings import get_settings

pytestmark = pytest.mark.integration


def _final(client: TestClient, run_id: str, timeout: float = 600) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rec = client.get(f"/runs/{run_id}").json()
        if rec["status"] not in ("queued", "running"):
            return rec
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} did not end in {timeout} s")


def test_a_warm_server_answers_with_a_citation_whose_page_shows_the_quote_highlighted(state_home):
    settings = get_settings(refresh=True)
    app = create_app(settings, model=get_runtime(settings), retriever=get_retriever(settings))
    with TestClient(app) as c:
        ingest = _final(c, c.post("/runs", json={"flow": "ingest", "inputs": {}}).json()["id"])
        assert ingest["status"] == "ok", ingest
        docs = {d["file"]: d for d in c.get("/documents").json()}
        assert "harbor_tower_maintenance_contract.pdf" in docs

        question = "When must the contractor replace the door sensors of elevator B?"
        run_id = c.post("/runs", json={"flow": "ask", "inputs": {"question": question}}).json()["id"]
        with c.stream("GET", f"/runs/{run_id}/events") as r:
            kinds = [line.removeprefix("event: ") for line in r.iter_lines() if line.startswith("event: ")]
        assert kinds[0] == "queued" and "progress" in kinds and kinds[-1] == "status"
        rec = c.get(f"/runs/{run_id}").json()
        assert rec["status"] == "ok", (rec["result"] or {}).get("reason", rec)
        cite = rec["result"]["citations"][0]
        doc = docs[cite["file"]]
        img = c.get(f"/documents/{doc['doc_id']}/pages/{cite['page']}.png", params={"quote": cite["quote"]})
        assert img.status_code == 200 and img.headers["content-type"] == "image/png"
        assert img.headers["x-quote-found"] == "true", (cite, img.headers)
        facts = c.get(f"/documents/{doc['doc_id']}/pages/{cite['page']}", params={"quote": cite["quote"]}).json()
        # the page the server shows is the page the citation was checked against: same offsets
        assert facts["found"] is True and (facts["start"], facts["end"]) == (cite["start"], cite["end"]), facts
