"""The servers themselves: each one answers, keeps its data across a stop and a start, and goes away.

These are the foundation of the multi-machine tests (issue 16): if one of these fails, the tests
that share a server between two "machines" cannot be trusted either.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from tests.servers import ChromaServer, PostgresServer, ServerFailed, free_port, http_get, port_open

pytestmark = pytest.mark.multi


def _engine(url: str):
    import sqlalchemy as sa

    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), pool_pre_ping=True)


def test_postgres_keeps_its_data_across_stop_and_start(pg_server, pg_url):
    import sqlalchemy as sa

    assert pg_url.startswith("postgresql://mmcrew:") and "@127.0.0.1:" in pg_url
    engine = _engine(pg_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE servers_probe (id int PRIMARY KEY, note text)"))
            conn.execute(sa.text("INSERT INTO servers_probe VALUES (1, '中文 kept')"))
        pg_server.stop()
        assert not pg_server.running()
        with pytest.raises(sa.exc.OperationalError):
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        pg_server.start()
        assert pg_server.url == pg_url  # same port, same data folder
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT note FROM servers_probe WHERE id = 1")).scalar_one() == "中文 kept"
            assert conn.execute(sa.text("SELECT current_setting('listen_addresses')")).scalar_one() == "127.0.0.1"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE IF EXISTS servers_probe"))
        engine.dispose()


def test_postgres_refuses_a_wrong_password(pg_server, pg_url):
    import sqlalchemy as sa

    wrong = pg_url.replace(f":{pg_server.password}@", ":wrong@")
    engine = _engine(wrong)
    with pytest.raises(sa.exc.OperationalError, match="password authentication failed"):
        with engine.connect():
            pass
    engine.dispose()


def test_postgres_recovers_after_a_crash(pg_server, pg_url):
    import sqlalchemy as sa

    engine = _engine(pg_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE crash_probe (id int)"))
            conn.execute(sa.text("INSERT INTO crash_probe SELECT generate_series(1, 1000)"))
        pg_server.kill()  # pg_ctl stop -m immediate: no checkpoint, WAL replay at the next start
        pg_server.start()
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM crash_probe")).scalar_one() == 1000
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE IF EXISTS crash_probe"))
        engine.dispose()


def _chroma(url: str):
    import chromadb
    from chromadb.config import Settings

    host, port = url.removeprefix("http://").split(":")
    return chromadb.HttpClient(host=host, port=int(port), settings=Settings(anonymized_telemetry=False))


def test_chroma_server_keeps_vectors_across_restart(chroma_server, chroma_url):
    status, body = http_get(chroma_url + "/api/v2/heartbeat")
    assert status == 200 and b"heartbeat" in body
    col = _chroma(chroma_url).get_or_create_collection("servers-probe", metadata={"hnsw:space": "cosine"})
    col.add(ids=["a", "b", "c"], embeddings=[[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]],
            documents=["alpha", "beta", "gamma"], metadatas=[{"n": 1}, {"n": 2}, {"n": 3}])  # fmt: skip
    assert _chroma(chroma_url).get_collection("servers-probe").query(query_embeddings=[[0.1, 0.9, 0]], n_results=1)[
        "ids"
    ] == [["b"]]

    chroma_server.restart()
    assert chroma_server.url == chroma_url
    col = _chroma(chroma_url).get_collection("servers-probe")
    assert col.count() == 3
    got = col.query(query_embeddings=[[0, 0.2, 0.9]], n_results=1, include=["documents", "metadatas"])
    assert got["ids"] == [["c"]] and got["documents"] == [["gamma"]] and got["metadatas"] == [[{"n": 3}]]
    _chroma(chroma_url).delete_collection("servers-probe")


def test_chroma_server_stopped_is_a_clear_connection_error(chroma_server, chroma_url):
    client = _chroma(chroma_url)
    client.get_or_create_collection("stop-probe").add(ids=["x"], embeddings=[[1.0, 2.0]])
    chroma_server.stop()
    t0 = time.monotonic()
    with pytest.raises(Exception) as caught:
        client.get_collection("stop-probe").count()
    assert time.monotonic() - t0 < 30
    assert "connect" in f"{type(caught.value).__name__} {caught.value}".lower()
    chroma_server.start()
    assert _chroma(chroma_url).get_collection("stop-probe").count() == 1
    _chroma(chroma_url).delete_collection("stop-probe")


def test_chroma_server_log_shows_no_outgoing_connection(chroma_server):
    log = chroma_server.log_path.read_text(encoding="utf-8", errors="replace").lower()
    assert "listening on address" in log and f"127.0.0.1:{chroma_server.port}" in log
    for word in ("posthog", "telemetry.", "otlp", "failed to export"):
        assert word not in log, f"{word!r} in the Chroma server log {chroma_server.log_path}"


def test_a_server_that_cannot_bind_fails_loudly_with_its_log():
    port = free_port()
    import socket

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        server = ChromaServer(port=port)
        try:
            with pytest.raises(ServerFailed, match=f"port {port} is already in use"):
                server.start()
        finally:
            server.close()
    assert not server.base.exists()


def test_close_stops_the_server_and_removes_its_folder():
    server = PostgresServer()
    with server:
        pid = server.postmaster_pid()
        assert pid and server.running() and port_open(server.port)
    assert not server.base.exists()
    assert not Path(f"/proc/{pid}/cmdline").exists() or b"postgres" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    assert not port_open(server.port)


def _chat(url: str, body: dict, timeout: float = 120) -> dict:
    req = urllib.request.Request(url + "/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=timeout) as r:
        return json.loads(r.read())


@pytest.mark.integration
def test_llama_server_chat_and_schema_constrained_json(llama_server, llama_server_url):
    status, body = http_get(llama_server_url + "/models")
    assert status == 200 and llama_server.alias in [m["id"] for m in json.loads(body)["data"]]

    plain = _chat(llama_server_url, {
        "model": llama_server.alias, "temperature": 0, "max_tokens": 8,
        "messages": [{"role": "user", "content": "Reply with the single word: ready"}],
    })  # fmt: skip
    assert "ready" in plain["choices"][0]["message"]["content"].lower()

    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population_millions": {"type": "number"}},
        "required": ["city", "population_millions"],
    }
    constrained = _chat(llama_server_url, {
        "model": llama_server.alias, "temperature": 0, "max_tokens": 60,
        "messages": [{"role": "user", "content": "The largest city of Japan and its population in millions, as JSON."}],
        "response_format": {"type": "json_object", "schema": schema},
    })  # fmt: skip
    data = json.loads(constrained["choices"][0]["message"]["content"], strict=False)
    assert set(data) == {"city", "population_millions"}
    assert isinstance(data["city"], str) and data["city"]
    assert isinstance(data["population_millions"], int | float)
