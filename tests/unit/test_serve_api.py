"""The HTTP API's runs part on FastAPI's TestClient: flows, runs, events, cancel, errors, the token.

The runner is a named fake (no model): it reports progress, returns a RunResult with a citation, or
waits for its cancel Event. The run store is a real SQLite file under a temporary MMCREW_HOME.
"""

from __future__ import annotations

import json
import re
import threading
import time

import pytest
from fastapi.testclient import TestClient

from multimodal_crew.errors import RunCancelled
from multimodal_crew.serve.app import create_app
from multimodal_crew.settings import get_settings
from multimodal_crew.steps.results import Citation, RunResult
from tests.fakes import mmcrew

WAIT = 10.0


class EchoRunner:
    """Answers with the question, one citation, two progress events; ``hold`` keeps a run going until
    it is cancelled (then raises RunCancelled, as a cancelled flow does)."""

    def __init__(self):
        self.seen: list[tuple[str, dict]] = []
        self.running = threading.Event()

    def __call__(self, flow, inputs, progress, cancelled) -> RunResult:
        self.seen.append((flow, inputs))
        progress("searching the documents")
        if inputs.get("question") == "hold":
            self.running.set()
            assert cancelled.wait(WAIT)
            raise RunCancelled("cancelled")
        progress("writing the answer")
        cite = Citation(file="plan.pdf", page=2, quote="Door sensors are replaced yearly.", start=10, end=43)
        return RunResult(flow=flow, text=f"answer to {inputs.get('question')}", citations=[cite], model_calls=1)


@pytest.fixture
def client(state_home):
    runner = EchoRunner()
    app = create_app(get_settings(refresh=True), runner=runner, routers=())
    with TestClient(app) as c:
        c.runner = runner
        yield c


def _wait_final(client, run_id: str) -> dict:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        rec = client.get(f"/runs/{run_id}").json()
        if rec["status"] not in ("queued", "running"):
            return rec
        time.sleep(0.02)
    raise AssertionError(f"run {run_id} did not end")


def test_flows_list_each_flow_with_its_input_schema_without_crewais_state_id(client):
    flows = {f["name"]: f for f in client.get("/flows").json()}
    assert {"ask", "see", "report", "plan", "route"} <= set(flows)
    ask = flows["ask"]["inputs"]
    assert "question" in ask["properties"] and "id" not in ask["properties"]
    assert "question" in ask.get("required", [])


def test_a_run_is_queued_at_once_and_ends_with_the_typed_result(client):
    r = client.post("/runs", json={"flow": "ask", "inputs": {"question": "Who replaces the door sensors?"}})
    assert r.status_code == 202
    body = r.json()
    assert body["status"] == "queued" and body["events"] == f"/runs/{body['id']}/events"
    rec = _wait_final(client, body["id"])
    assert rec["status"] == "ok" and rec["result"]["text"] == "answer to Who replaces the door sensors?"
    assert rec["result"]["citations"][0] == {
        "file": "plan.pdf", "page": 2, "quote": "Door sensors are replaced yearly.", "start": 10, "end": 43, "doc_id": "",
    }  # fmt: skip
    flow, inputs = client.runner.seen[0]
    assert flow == "ask" and inputs["question"] == "Who replaces the door sensors?"
    assert [x["id"] for x in client.get("/runs").json()] == [body["id"]]


def test_events_stream_as_server_sent_events_and_end_with_the_final_status(client):
    run_id = client.post("/runs", json={"flow": "ask", "inputs": {"question": "q"}}).json()["id"]
    with client.stream("GET", f"/runs/{run_id}/events") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        text = "".join(r.iter_text())
    blocks = [b for b in text.split("\n\n") if b.startswith("id:")]
    kinds = [b.split("\n")[1].removeprefix("event: ") for b in blocks]
    assert kinds[0] == "queued" and kinds[-1] == "status" and "progress" in kinds and "result" in kinds
    last = json.loads(blocks[-1].split("\n")[2].removeprefix("data: "))
    assert last["data"]["status"] == "ok" and last["data"]["final"] is True
    # a reconnecting client gets only what came after the id it saw last
    seqs = [int(b.split("\n")[0].removeprefix("id: ")) for b in blocks]
    with client.stream("GET", f"/runs/{run_id}/events", headers={"Last-Event-ID": str(seqs[-2])}) as r:
        again = [b for b in "".join(r.iter_text()).split("\n\n") if b.startswith("id:")]
    assert [int(b.split("\n")[0].removeprefix("id: ")) for b in again] == [seqs[-1]]


def test_cancelling_a_running_run_stops_it_and_marks_it_cancelled(client):
    run_id = client.post("/runs", json={"flow": "ask", "inputs": {"question": "hold"}}).json()["id"]
    assert client.runner.running.wait(WAIT)
    assert client.post(f"/runs/{run_id}/cancel").status_code == 200
    assert _wait_final(client, run_id)["status"] == "cancelled"
    again = client.post(f"/runs/{run_id}/cancel")  # an ended run cannot be cancelled
    assert again.status_code == 400 and "error" in again.json()


def test_errors_are_one_line_json_with_their_status(client):
    r = client.post("/runs", json={"flow": "nope", "inputs": {}})
    assert r.status_code == 404 and "nope" in r.json()["error"] and "\n" not in r.json()["error"]
    r = client.post("/runs", json={"flow": "ask", "inputs": {"question": "q", "bogus": 1}})
    assert r.status_code == 400 and "bogus" in r.json()["error"]
    assert client.get("/runs/0123456789abcdef").status_code == 404
    assert client.get("/runs?limit=0").status_code == 400
    assert not client.runner.seen  # nothing bad was queued


def test_the_api_is_described_by_openapi(client):
    spec = client.get("/openapi.json").json()
    assert {"/flows", "/runs", "/runs/{run_id}", "/runs/{run_id}/events", "/runs/{run_id}/cancel"} <= set(spec["paths"])
    assert client.get("/docs").status_code == 200


def test_a_token_guards_every_request(state_home):
    app = create_app(get_settings(refresh=True), runner=EchoRunner(), token="s3cret-token-0123456789", routers=())
    with TestClient(app) as c:
        assert c.get("/flows").status_code == 401 and "token" in c.get("/flows").json()["error"]
        assert c.get("/flows", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/flows", headers={"Authorization": "Bearer s3cret-token-0123456789"}).status_code == 200


def test_serve_refuses_a_non_loopback_host_without_a_token(state_home):
    proc = mmcrew("serve", "--host", "0.0.0.0", "--no-warm", env={"MMCREW_SERVER_TOKEN": ""})
    assert proc.returncode == 2 and "--token" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_finished_runs_are_still_listed_after_a_restart(state_home):
    settings = get_settings(refresh=True)
    with TestClient(create_app(settings, runner=EchoRunner(), routers=())) as c:
        run_id = c.post("/runs", json={"flow": "ask", "inputs": {"question": "q"}}).json()["id"]
        _wait_final(c, run_id)
    with TestClient(create_app(settings, runner=EchoRunner(), routers=())) as c:
        assert c.get(f"/runs/{run_id}").json()["status"] == "ok"


def test_cors_is_closed_another_origin_gets_no_allow_header(client):
    pre = client.options("/runs", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in pre.headers
    got = client.get("/flows", headers={"Origin": "http://evil.example"})
    assert got.status_code == 200 and "access-control-allow-origin" not in got.headers


def test_unknown_routes_and_malformed_bodies_get_the_same_one_line_error_shape(client):
    r = client.get("/no/such/route")
    assert r.status_code == 404 and set(r.json()) == {"error"}
    r = client.post("/runs", json={"inputs": {}})  # no flow
    assert r.status_code == 422 and r.json()["error"].startswith("flow:")
    r = client.delete("/flows")
    assert r.status_code == 405 and set(r.json()) == {"error"}


def test_runs_may_not_name_image_files_outside_the_uploads_folder(client, tmp_path):
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG\r\n\x1a\n")
    for flow, inputs in (
        ("see", {"image": str(secret), "question": "what is it?"}),
        ("see", {"image": "../../etc/hostname", "question": "what is it?"}),
        ("route", {"request": "describe it", "images": [str(secret)]}),
        ("plan", {"request": "describe it", "images": ["/etc/shadow"]}),
    ):
        r = client.post("/runs", json={"flow": flow, "inputs": inputs})
        assert r.status_code == 400 and "uploaded" in r.json()["error"], (flow, r.json())
    assert not client.runner.seen


def test_another_host_or_another_origin_is_refused(state_home):
    app = create_app(get_settings(refresh=True), runner=EchoRunner(), routers=(), hosts=("testserver", "127.0.0.1"))
    with TestClient(app) as c:
        assert c.get("/flows").status_code == 200
        assert c.get("/flows", headers={"Host": "attacker.example"}).status_code == 400  # DNS rebinding
        body = {"flow": "ask", "inputs": {"question": "q"}}
        r = c.post("/runs", json=body, headers={"Origin": "http://attacker.example"})
        assert r.status_code == 403 and "another origin" in r.json()["error"]
        assert c.post("/runs", json=body, headers={"Origin": "http://testserver"}).status_code == 202


def test_the_api_docs_work_offline_and_the_token_guards_them_too(state_home):
    app = create_app(get_settings(refresh=True), runner=EchoRunner(), token="s3cret-token-0123456789", routers=())
    auth = {"Authorization": "Bearer s3cret-token-0123456789"}
    with TestClient(app) as c:
        for path in ("/docs", "/openapi.json", "/runs", "/runs/0123/events"):
            assert c.get(path).status_code == 401, path
        assert c.get("/flows?token=s3cret-token-0123456789").status_code == 401  # a query token only opens the page
        html = c.get("/docs", headers=auth).text
        assert "cdn." not in html and "swagger-ui-bundle.js" in html
        js = re.search(r'src="([^"]*swagger-ui-bundle\.js)"', html).group(1)
        assert c.get(js, headers=auth).status_code == 200


def test_paging_and_resume_bounds_are_checked(client):
    assert client.get("/runs?offset=99999999999999999999").status_code in (400, 422)
    run_id = client.post("/runs", json={"flow": "ask", "inputs": {"question": "q"}}).json()["id"]
    _wait_final(client, run_id)
    with client.stream("GET", f"/runs/{run_id}/events", headers={"Last-Event-ID": "9" * 40}) as r:
        assert r.status_code == 200 and "event: queued" in "".join(r.iter_text())


def test_a_client_that_disconnects_from_its_events_does_not_stop_its_run(state_home):
    """Real uvicorn on loopback: the client reads one event and drops the connection mid-run."""
    import httpx
    import uvicorn

    from tests.fakes import free_port

    gate = threading.Event()

    def slow(flow, inputs, progress, cancelled) -> RunResult:
        progress("started")
        assert gate.wait(WAIT)
        return RunResult(flow=flow, text="finished anyway")

    port = free_port()
    app = create_app(get_settings(refresh=True), runner=slow, routers=(), hosts=("127.0.0.1",))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + WAIT
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        run_id = httpx.post(f"{base}/runs", json={"flow": "ask", "inputs": {"question": "q"}}).json()["id"]
        with httpx.stream("GET", f"{base}/runs/{run_id}/events", timeout=WAIT) as r:
            first = next(line for line in r.iter_lines() if line.startswith("event:"))
        assert first == "event: queued"  # the stream is closed here, the run still going
        gate.set()
        deadline = time.monotonic() + WAIT
        while (rec := httpx.get(f"{base}/runs/{run_id}").json())["status"] in ("queued", "running"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert rec["status"] == "ok" and rec["result"]["text"] == "finished anyway"
    finally:
        server.should_exit = True
        thread.join(WAIT)
