"""Remote models: the API key, timeouts and bounded retries, /v1/embeddings, the capability table.

Every server here is real and on 127.0.0.1: a scripted ``http.server`` in a thread (429 twice then
200, 503 always, 400, a slow reply, /v1/embeddings, Ollama's /api/embed), and llama-cpp-python's own
``llama_cpp.server`` routes under uvicorn with a stand-in for the model (its request validation and
its API key check are the real ones). Retry waits are a few milliseconds (MMCREW_RETRY_BACKOFF).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from multimodal_crew.errors import BackendUnavailableError, ConfigError, ModelBehaviorError
from multimodal_crew.knowledge import embedder as E
from multimodal_crew.models.capabilities import after_refusal, capabilities
from multimodal_crew.models.runtime import get_runtime, reset_runtime
from multimodal_crew.settings import get_settings
from tests.fakes import assert_one_line_error, free_port, mmcrew

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
MESSAGES = [{"role": "user", "content": "Which city?"}]
KEY = "sk-test-Zq8r3vN1kS0m2pLx"  # a made-up key: it must reach the server and never be printed


def chat(content: str) -> dict:
    return {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "fake",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


class Scripted:
    """A loopback HTTP server answering POSTs from a script of ``(status, body, delay)``; the last
    entry repeats. GET /v1/models lists ``fake``. Records path, headers and body of every request."""

    def __init__(self, *script: tuple[int, object] | tuple[int, object, float]):
        self.script = [s if len(s) == 3 else (*s, 0.0) for s in script]
        self.requests: list[dict] = []
        srv = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code: int, body: object):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except OSError:  # the client gave up (a timeout test)
                    pass

            def do_GET(self):
                srv.requests.append({"path": self.path, "headers": dict(self.headers), "body": None})
                self._send(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                srv.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status, reply, delay = srv.script[min(len(srv.requests) - 1, len(srv.script) - 1)]
                if delay:
                    time.sleep(delay)
                self._send(status, reply(body) if callable(reply) else reply)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def posts(self) -> list[dict]:
        return [r for r in self.requests if r["body"] is not None]

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def env(monkeypatch):
    """Set settings for one test (tiny retry waits, no key from the environment), re-read at once."""
    for name in ("MMCREW_API_KEY", "OPENAI_API_KEY", "MMCREW_EMBEDDER_API_KEY", "MMCREW_MODEL_CAPABILITIES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(E, "_EMBEDDERS", {})

    def use(**values: str):
        monkeypatch.setenv("MMCREW_RETRY_BACKOFF", "0.01")
        for k, v in values.items():
            monkeypatch.setenv(k, v)
        reset_runtime()
        return get_settings(refresh=True)

    return use


def openai_runtime(env, srv: Scripted, **more: str):
    return get_runtime(env(MODEL="openai/fake", MMCREW_API_BASE=srv.url + "/v1", **more))


def one_line(e: BaseException) -> str:
    text = str(e)
    assert "\n" not in text, text
    return text


# --- retries, timeouts, errors ------------------------------------------------------------------------


def test_429_twice_then_200_is_answered_on_the_third_attempt(env):
    with Scripted((429, {"error": {"message": "slow down"}}), (429, {}), (200, chat('{"city": "Berlin"}'))) as srv:
        out = openai_runtime(env, srv).complete_json(MESSAGES, SCHEMA, "Answer")
    assert json.loads(out) == {"city": "Berlin"}
    assert len(srv.posts()) == 3


def test_503_always_gives_one_line_naming_the_attempts(env):
    with Scripted((503, {"error": {"message": "overloaded"}})) as srv:
        rt = openai_runtime(env, srv, MMCREW_REQUEST_RETRIES="3")
        t0 = time.perf_counter()
        with pytest.raises(BackendUnavailableError) as e:
            rt.complete_json(MESSAGES, SCHEMA, "Answer")
        waited = time.perf_counter() - t0
    assert "after 4 attempts: HTTP 503 Service Unavailable: overloaded" in one_line(e.value)
    assert srv.url in str(e.value)
    assert len(srv.posts()) == 4
    assert waited >= 0.01 + 0.02 + 0.04  # backoff doubles between attempts


def test_the_cli_says_it_in_one_line_after_the_retries(env):
    with Scripted((503, {"error": {"message": "overloaded"}})) as srv:
        proc = mmcrew(
            "run",
            "report",
            env={
                "MODEL": "openai/fake",
                "MMCREW_API_BASE": srv.url + "/v1",
                "MMCREW_REQUEST_RETRIES": "1",
                "MMCREW_RETRY_BACKOFF": "0.01",
            },
        )
    assert_one_line_error(proc, 4, "failed after 2 attempts: HTTP 503 Service Unavailable: overloaded")
    assert len(srv.posts()) == 2


def test_a_500_is_retried_too_and_no_retries_means_one_attempt(env):
    with Scripted((500, b"boom")) as srv:
        with pytest.raises(BackendUnavailableError, match=r"after 1 attempt: HTTP 500 Internal Server Error: boom"):
            openai_runtime(env, srv, MMCREW_REQUEST_RETRIES="0").complete_json(MESSAGES, SCHEMA, "Answer")
    assert len(srv.posts()) == 1


def test_400_is_not_retried(env):
    with Scripted((400, {"error": {"message": "max_tokens too large"}})) as srv:
        with pytest.raises(ModelBehaviorError) as e:
            openai_runtime(env, srv).complete_json(MESSAGES, SCHEMA, "Answer")
    assert "HTTP 400: max_tokens too large" in one_line(e.value)
    assert len(srv.posts()) == 1


def test_a_slow_reply_times_out_and_says_after_how_long(env):
    with Scripted((200, chat("{}"), 1.5)) as srv:
        rt = openai_runtime(env, srv, MMCREW_REQUEST_TIMEOUT="0.2", MMCREW_REQUEST_RETRIES="1")
        t0 = time.perf_counter()
        with pytest.raises(BackendUnavailableError) as e:
            rt.complete_json(MESSAGES, SCHEMA, "Answer")
        took = time.perf_counter() - t0
    assert "gave no reply within 0.2 s after 2 attempts" in one_line(e.value)
    assert "MMCREW_REQUEST_TIMEOUT" in str(e.value)
    assert len(srv.posts()) == 2 and took < 1.4  # abandoned, not waited out


def test_no_server_is_retried_and_named(env, monkeypatch):
    port = free_port()
    rt = get_runtime(
        env(MODEL="openai/fake", MMCREW_API_BASE=f"http://127.0.0.1:{port}/v1", MMCREW_REQUEST_RETRIES="2")
    )
    with pytest.raises(BackendUnavailableError) as e:
        rt.complete_json(MESSAGES, SCHEMA, "Answer")
    assert f"cannot reach the model server at http://127.0.0.1:{port}/v1 after 3 attempts (connection refused)" in (
        one_line(e.value)
    )
    assert "MMCREW_API_BASE" in str(e.value)


def test_ollama_is_retried_and_keeps_its_hint(env):
    port = free_port()
    rt = get_runtime(env(MODEL="ollama/qwen2.5:7b", OLLAMA_BASE_URL=f"http://127.0.0.1:{port}"))
    with pytest.raises(BackendUnavailableError) as e:
        rt.complete_json(MESSAGES, SCHEMA, "Answer")
    assert "cannot reach Ollama at" in one_line(e.value) and "after 4 attempts" in str(e.value)
    assert "OLLAMA_BASE_URL" in str(e.value)


def test_an_unknown_model_is_a_config_error_at_once(env):
    with Scripted((404, {"error": {"message": "model 'fake' not found"}})) as srv:
        with pytest.raises(ConfigError, match="has no model 'fake'"):
            openai_runtime(env, srv).complete_json(MESSAGES, SCHEMA, "Answer")
    assert len(srv.posts()) == 1


# --- the API key ------------------------------------------------------------------------------------


def _auth(srv: Scripted) -> list[str]:
    return [r["headers"].get("Authorization") for r in srv.requests]


@pytest.mark.parametrize("variable", ["MMCREW_API_KEY", "OPENAI_API_KEY"])
def test_the_api_key_reaches_the_server(env, variable):
    with Scripted((200, chat('{"city": "Osaka"}'))) as srv:
        rt = openai_runtime(env, srv, **{variable: KEY})
        rt.complete_json(MESSAGES, SCHEMA, "Answer")
        assert rt.llm.api_key == KEY  # the agents' CrewAI LLM has it too
    assert _auth(srv) == [f"Bearer {KEY}"]


def test_mmcrew_api_key_wins_over_openai_api_key(env):
    s = env(MMCREW_API_KEY=KEY, OPENAI_API_KEY="sk-other")
    assert s.api_key.get_secret_value() == KEY


def test_without_a_key_a_placeholder_is_sent(env):
    with Scripted((200, chat('{"city": "Osaka"}'))) as srv:
        openai_runtime(env, srv).complete_json(MESSAGES, SCHEMA, "Answer")
    assert _auth(srv) == ["Bearer not-needed"]


def test_ollama_never_gets_the_key(env):
    with Scripted((200, chat('{"city": "Osaka"}'))) as srv:
        rt = get_runtime(env(MODEL="ollama/fake", OLLAMA_BASE_URL=srv.url, OPENAI_API_KEY=KEY))
        rt.complete_json(MESSAGES, SCHEMA, "Answer")
    assert _auth(srv) == ["Bearer ollama"]


def test_a_refused_key_is_a_config_error_that_does_not_repeat_the_key(env):
    with Scripted((401, {"error": {"message": f"Incorrect API key provided: {KEY}"}})) as srv:
        with pytest.raises(ConfigError) as e:
            openai_runtime(env, srv, MMCREW_API_KEY=KEY).complete_json(MESSAGES, SCHEMA, "Answer")
    assert "HTTP 401" in one_line(e.value) and "MMCREW_API_KEY (it is set)" in str(e.value)
    assert KEY not in str(e.value) and len(srv.posts()) == 1


def test_a_key_a_server_repeats_in_a_5xx_is_redacted(env):
    with Scripted((502, {"error": {"message": f"upstream refused {KEY}"}})) as srv:
        with pytest.raises(BackendUnavailableError) as e:
            openai_runtime(env, srv, MMCREW_API_KEY=KEY, MMCREW_REQUEST_RETRIES="0").complete_json(
                MESSAGES, SCHEMA, "Answer"
            )
    assert KEY not in str(e.value) and "[MMCREW_API_KEY]" in str(e.value)


def test_the_key_is_not_in_the_settings_repr(env):
    s = env(MMCREW_API_KEY=KEY, MMCREW_EMBEDDER_API_KEY=KEY + "e")
    assert KEY not in repr(s) and KEY not in str(s.model_dump())


def test_doctor_shows_set_and_never_the_key(env, state_home):
    with Scripted((200, chat("{}"))) as srv:
        proc = mmcrew(
            "doctor",
            env={
                "COLUMNS": "300",
                "MODEL": "openai/fake",
                "MMCREW_API_BASE": srv.url + "/v1",
                "MMCREW_API_KEY": KEY,
                "MMCREW_EMBEDDER": "openai/nomic-embed-text",
                "MMCREW_EMBEDDER_BASE_URL": srv.url + "/v1",
                "MMCREW_MODELS_DIR": str(state_home / "no-models"),
            },
        )
    out = proc.stdout + proc.stderr
    assert KEY not in out
    flat = " ".join(out.replace("│", " ").split())
    assert "model capabilities info unknown (defaults): context 4096 tokens" in flat
    assert "api key set" in flat
    assert "embedder info openai:nomic-embed-text at " + srv.url + "/v1 (/embeddings), api key set" in flat
    assert f"Bearer {KEY}" in _auth(srv)  # `model works` listed the models with the key


# --- embeddings from /v1/embeddings ------------------------------------------------------------------


def _embeddings(body: dict) -> dict:
    """Unnormalised vectors [i+1, 2(i+1), 2(i+1)] per input, listed in reverse order of index."""
    texts = body["input"]
    data = [{"object": "embedding", "index": i, "embedding": [i + 1.0, 2.0 * (i + 1), 2.0 * (i + 1)]}
            for i in range(len(texts))]  # fmt: skip
    return {"object": "list", "data": data[::-1], "model": body["model"]}


def test_openai_embeddings_are_ordered_normalised_and_batched(env):
    texts = [f"text {i}" for i in range(70)]
    with Scripted((200, _embeddings)) as srv:
        s = env(MMCREW_EMBEDDER="openai/bge-m3", MMCREW_EMBEDDER_BASE_URL=srv.url, MMCREW_EMBEDDER_API_KEY=KEY)
        emb = E.get_embedder(s)
        vecs = emb.embed(texts)
    assert emb.name == "openai:bge-m3"
    assert vecs.shape == (70, 3) and vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0)
    assert np.allclose(vecs[0], [1 / 3, 2 / 3, 2 / 3])
    posts = srv.posts()
    assert [len(p["body"]["input"]) for p in posts] == [32, 32, 6]
    assert posts[0]["path"] == "/v1/embeddings" and posts[0]["body"]["model"] == "bge-m3"
    assert posts[0]["body"]["input"][0] == "text 0" and posts[1]["body"]["input"][0] == "text 32"
    assert all(p["headers"]["Authorization"] == f"Bearer {KEY}" for p in posts)


def test_openai_embedder_key_and_url_fall_back_to_the_model_server(env):
    with Scripted((200, _embeddings)) as srv:
        s = env(MMCREW_EMBEDDER="openai/e5", MMCREW_API_BASE=srv.url + "/v1", MMCREW_API_KEY=KEY)
        E.get_embedder(s).embed(["a"])
    assert _auth(srv) == [f"Bearer {KEY}"]


def test_openai_embedder_without_a_key_sends_no_authorization(env):
    with Scripted((200, _embeddings)) as srv:
        E.get_embedder(env(MMCREW_EMBEDDER="openai/e5", MMCREW_EMBEDDER_BASE_URL=srv.url + "/v1")).embed(["a"])
    assert _auth(srv) == [None]


def test_openai_embedder_retries_then_succeeds_and_gives_up_with_the_count(env):
    with Scripted((429, {}), (503, {}), (200, _embeddings)) as srv:
        emb = E.get_embedder(env(MMCREW_EMBEDDER="openai/e5", MMCREW_EMBEDDER_BASE_URL=srv.url))
        assert emb.embed(["a", "b"]).shape == (2, 3)
    assert len(srv.posts()) == 3
    with Scripted((503, {"error": "warming up"})) as srv:
        E._EMBEDDERS.clear()
        emb = E.get_embedder(env(MMCREW_EMBEDDER="openai/e5", MMCREW_EMBEDDER_BASE_URL=srv.url))
        with pytest.raises(BackendUnavailableError) as e:
            emb.embed(["a"])
    assert "after 4 attempts: HTTP 503 Service Unavailable: warming up" in one_line(e.value)


def test_openai_embedder_4xx_is_not_retried(env):
    with Scripted((404, {"error": {"message": "no such model"}})) as srv:
        emb = E.get_embedder(env(MMCREW_EMBEDDER="openai/e5", MMCREW_EMBEDDER_BASE_URL=srv.url))
        with pytest.raises(ConfigError, match="has no embedding model 'e5'"):
            emb.embed(["a"])
    assert len(srv.posts()) == 1
    with Scripted((400, {"error": {"message": "input too long"}})) as srv:
        E._EMBEDDERS.clear()
        emb = E.get_embedder(env(MMCREW_EMBEDDER="openai/e5", MMCREW_EMBEDDER_BASE_URL=srv.url))
        with pytest.raises(ModelBehaviorError, match="HTTP 400: input too long"):
            emb.embed(["a"])
    assert len(srv.posts()) == 1


def test_openai_embedder_times_out(env):
    with Scripted((200, _embeddings, 1.5)) as srv:
        s = env(MMCREW_EMBEDDER="openai/e5", MMCREW_EMBEDDER_BASE_URL=srv.url, MMCREW_REQUEST_TIMEOUT="0.2",
                MMCREW_REQUEST_RETRIES="0")  # fmt: skip
        with pytest.raises(BackendUnavailableError, match=r"gave no reply within 0.2 s after 1 attempt"):
            E.get_embedder(s).embed(["a"])


def test_ollama_embedder_is_retried_too(env):
    ok = {"model": "nomic-embed-text", "embeddings": [[3.0, 4.0]]}
    with Scripted((503, {"error": "loading"}), (200, ok)) as srv:
        emb = E.get_embedder(env(MMCREW_EMBEDDER="ollama/nomic-embed-text", OLLAMA_BASE_URL=srv.url))
        vecs = emb.embed(["a"])
    assert np.allclose(vecs, [[0.6, 0.8]]) and len(srv.posts()) == 2


def test_each_embedder_has_its_own_index(env):
    from multimodal_crew.knowledge.ingest import embedder_name_for
    from multimodal_crew.knowledge.store import store_dir

    names = {spec: embedder_name_for(env(MMCREW_EMBEDDER=spec)) for spec in ("embedded", "ollama/e5", "openai/e5")}
    assert names == {"embedded": "embedded:all-MiniLM-L6-v2", "ollama/e5": "ollama:e5", "openai/e5": "openai:e5"}
    s = get_settings()
    assert len({store_dir(s.index_path, n) for n in names.values()}) == 3
    with pytest.raises(ConfigError, match="is not `embedded`, `ollama/<model>` or `openai/<model>`"):
        embedder_name_for(env(MMCREW_EMBEDDER="cohere/x"))


def test_describe_embedder_never_shows_the_key(env):
    s = env(MMCREW_EMBEDDER="openai/e5", MMCREW_EMBEDDER_BASE_URL="http://127.0.0.1:9/v1", MMCREW_API_KEY=KEY)
    line = E.describe_embedder(s)
    assert line == "openai:e5 at http://127.0.0.1:9/v1 (/embeddings), api key set (a separate index per embedder)"
    assert E.describe_embedder(env(MMCREW_EMBEDDER="embedded")).startswith("embedded:all-MiniLM-L6-v2 on ")


# --- the capability table -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model, family, context, mode, vision, tools",
    [
        ("embedded", "qwen2.5-coder", 8192, "grammar", False, True),
        ("ollama/qwen2.5:7b", "qwen2.5", 32768, "json_schema", False, True),
        ("ollama/qwen2.5-coder:1.5b", "qwen2.5", 32768, "json_schema", False, True),
        ("ollama/qwen2.5vl:7b", "qwen2.5-vl", 32768, "json_schema", True, False),
        ("ollama/llava:13b", "llava", 4096, "json_schema", True, False),
        ("ollama/llama3.2-vision", "llama3.2-vision", 131072, "json_schema", True, False),
        ("ollama/llama3.1:8b", "llama3.x", 131072, "json_schema", False, True),
        ("ollama/llama3:8b", "llama3", 8192, "json_schema", False, False),
        ("openai/gpt-4o-mini", "gpt-4o", 128000, "crewai", True, True),  # no MMCREW_API_BASE: CrewAI's client
        ("anthropic/claude-3-5-sonnet", "claude", 200000, "crewai", True, True),
        ("ollama/some-new-model", "unknown", 4096, "json_schema", False, False),
    ],
)
def test_capability_table(env, model, family, context, mode, vision, tools):
    c = capabilities(model, env())
    assert (c.family, c.context, c.json_schema, c.vision, c.tools) == (family, context, mode, vision, tools)
    assert c.summary().startswith(family)


def test_openai_compatible_server_and_llama_cpp_server_by_its_gguf_name(env):
    s = env(MMCREW_API_BASE="http://127.0.0.1:9/v1")
    c = capabilities("openai/Qwen2.5-7B-Instruct", s)
    assert (c.backend, c.family, c.json_schema) == ("openai-compatible", "qwen2.5", "json_schema")
    c = capabilities("openai//models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", s)
    assert (c.family, c.json_schema, c.context) == ("qwen2.5", "json_object", 2048)
    assert c.response_format("A", SCHEMA) == {"type": "json_object", "schema": SCHEMA}
    assert capabilities("openai/x", s).response_format("A", SCHEMA) == {
        "type": "json_schema",
        "json_schema": {"name": "A", "schema": SCHEMA, "strict": True},
    }


def test_embedded_context_is_the_setting(env):
    assert capabilities("embedded", env(MMCREW_N_CTX="4096")).context == 4096


def test_override_for_every_remote_model_and_per_model(env):
    s = env(MMCREW_API_BASE="http://127.0.0.1:9/v1", MMCREW_MODEL_CAPABILITIES='{"json_schema": "json_object"}')
    c = capabilities("openai/qwen", s)
    assert c.json_schema == "json_object" and "MMCREW_MODEL_CAPABILITIES" in c.source
    per = json.dumps({"openai/qwen": {"context": 8192, "vision": True}, "ollama/x": {"tools": True}})
    s = env(MMCREW_MODEL_CAPABILITIES=per)
    c = capabilities("openai/qwen", s)
    assert (c.context, c.vision, c.json_schema) == (8192, True, "json_schema")
    assert capabilities("ollama/x", s).tools is True and capabilities("ollama/y", s).tools is False


@pytest.mark.parametrize(
    "value, message",
    [
        ('{"json_shema": "json_object"}', "unknown key 'json_shema'; use context, json_schema, vision, tools"),
        ('{"json_schema": "xml"}', "json_schema must be one of json_schema, json_object, prompt, crewai"),
        ('{"context": "big"}', "context must be a whole number"),
        ('{"vision": "yes"}', "vision must be true or false"),
    ],
)
def test_a_bad_override_is_one_line_naming_the_setting(env, value, message):
    s = env(MMCREW_MODEL_CAPABILITIES=value)
    with pytest.raises(ConfigError) as e:
        capabilities("ollama/x", s)
    assert message in one_line(e.value) and "MMCREW_MODEL_CAPABILITIES" in str(e.value)


def test_override_that_is_not_json_is_refused_with_the_settings(env, monkeypatch):
    monkeypatch.setenv("MMCREW_MODEL_CAPABILITIES", "{json_schema: json_object}")
    with pytest.raises(ConfigError, match=r"MMCREW_MODEL_CAPABILITIES=.* is not allowed: value error, not JSON"):
        get_settings(refresh=True)
    monkeypatch.delenv("MMCREW_MODEL_CAPABILITIES")  # before the suite's fixture reads the settings again


def test_runtime_takes_the_response_format_from_the_table(env):
    reply = (200, chat('{"city": "Berlin"}'))
    with Scripted(reply) as srv:
        openai_runtime(env, srv, MMCREW_MODEL_CAPABILITIES='{"json_schema": "json_object"}').complete_json(
            MESSAGES, SCHEMA, "Answer"
        )
    assert srv.posts()[0]["body"]["response_format"] == {"type": "json_object", "schema": SCHEMA}
    with Scripted(reply) as srv:
        openai_runtime(env, srv, MMCREW_MODEL_CAPABILITIES='{"json_schema": "prompt"}').complete_json(
            MESSAGES, SCHEMA, "Answer"
        )
    body = srv.posts()[0]["body"]
    assert "response_format" not in body and json.dumps(SCHEMA) in body["messages"][-1]["content"]


def test_after_refusal_knows_llama_cpp_servers_words_only():
    caps = capabilities("ollama/x", get_settings())
    words = "1 validation error: {'loc': ('body', 'response_format', 'type'), 'msg': \"Input should be 'text' or 'json_object'\"}"
    assert after_refusal(caps, 500, words).json_schema == "json_object"
    assert after_refusal(caps, 422, words).json_schema == "json_object"
    assert after_refusal(caps, 500, "CUDA out of memory") is None
    assert after_refusal(caps, 503, words) is None


# --- llama-cpp-python's own server (its routes, with a stand-in model) --------------------------------


class _FakeLlama:
    """What llama_cpp.server calls on a model: records the kwargs and checks the response_format turns into
    a grammar the way the real model would use it."""

    def __init__(self):
        self.calls: list[dict] = []

    def create_chat_completion(self, **kwargs):
        from llama_cpp import llama_chat_format

        self.calls.append(kwargs)
        fmt = kwargs.get("response_format")
        if fmt is not None:
            assert llama_chat_format._grammar_for_response_format(fmt) is not None
        reply = chat('{"city": "Berlin"}')
        reply["choices"][0]["logprobs"] = None  # llama_cpp.server's response model requires it
        return reply


class _FakeProxy:
    def __init__(self, llama):
        self.llama = llama

    def __call__(self, model=None):
        return self.llama

    def __iter__(self):
        return iter(["qwen"])


@pytest.fixture
def llama_server():
    """llama_cpp.server's router under uvicorn on loopback, its API key ``KEY``; yields (url, fake model)."""
    app_mod = pytest.importorskip("llama_cpp.server.app")
    import uvicorn
    from fastapi import FastAPI
    from llama_cpp.server.settings import ServerSettings

    saved = (app_mod._server_settings, app_mod._llama_proxy)
    llama = _FakeLlama()
    app_mod.set_server_settings(ServerSettings(api_key=KEY))
    app_mod._llama_proxy = _FakeProxy(llama)
    app = FastAPI()
    app.include_router(app_mod.router)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", llama
    finally:
        server.should_exit = True
        thread.join(10)
        app_mod._server_settings, app_mod._llama_proxy = saved


def test_llama_cpp_server_refuses_json_schema_and_the_runtime_switches_to_json_object(env, llama_server):
    url, llama = llama_server
    rt = get_runtime(env(MODEL="openai/qwen", MMCREW_API_BASE=url + "/v1", MMCREW_API_KEY=KEY))
    assert rt.caps.json_schema == "json_schema"  # an alias: nothing in the name says llama_cpp.server
    assert json.loads(rt.complete_json(MESSAGES, SCHEMA, "Answer")) == {"city": "Berlin"}
    assert rt.caps.json_schema == "json_object" and rt.caps.source.startswith("server")
    assert [c["response_format"] for c in llama.calls] == [{"type": "json_object", "schema": SCHEMA}]
    rt.complete_json(MESSAGES, SCHEMA, "Answer")  # learned: straight to json_object
    assert len(llama.calls) == 2
    assert rt.check().startswith("openai/qwen at ")  # the model list, with the key


def test_llama_cpp_server_with_the_override_takes_json_object_at_once(env, llama_server):
    url, llama = llama_server
    rt = get_runtime(
        env(
            MODEL="openai/qwen",
            MMCREW_API_BASE=url + "/v1",
            MMCREW_API_KEY=KEY,
            MMCREW_MODEL_CAPABILITIES='{"json_schema": "json_object"}',
        )  # fmt: skip
    )
    rt.complete_json(MESSAGES, SCHEMA, "Answer")
    assert llama.calls[0]["response_format"] == {"type": "json_object", "schema": SCHEMA}


ANSWER_SCHEMA = {  # steps.answer's reply, in its Pydantic order: citations, answer, abstained
    "type": "object",
    "properties": {
        "citations": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
        "answer": {"type": "string", "maxLength": 1200},
        "abstained": {"type": "boolean"},
    },
    "required": ["citations", "answer", "abstained"],
}


def test_llama_cpp_server_builds_the_embedded_models_grammar_property_order_included(env, llama_server):
    """llama.cpp writes an object's properties in the order its schema lists them; the embedded grammar is
    built from the schema with sorted keys, so the server must get that order too (over the wire, through
    its request validation), or the same GGUF answers ``citations`` first instead of ``abstained``."""
    from llama_cpp import llama_chat_format

    from multimodal_crew.models.embedded import _grammar

    url, llama = llama_server
    rt = get_runtime(
        env(MODEL="openai/qwen", MMCREW_API_BASE=url + "/v1", MMCREW_API_KEY=KEY,
            MMCREW_MODEL_CAPABILITIES='{"json_schema": "json_object"}')
    )  # fmt: skip
    rt.complete_json(MESSAGES, ANSWER_SCHEMA, "CitedAnswer")
    fmt = llama.calls[0]["response_format"]
    assert list(fmt["schema"]) == sorted(ANSWER_SCHEMA)
    assert list(fmt["schema"]["properties"]) == ["abstained", "answer", "citations"]
    served = llama_chat_format._grammar_for_response_format(fmt)
    assert served._grammar == _grammar(ANSWER_SCHEMA)._grammar


def test_llama_cpp_server_gets_every_sampling_field_the_embedded_model_uses(env, llama_server):
    """What the server's sampler ends up with (its request model fills in what is absent): greedy, no
    repeat penalty, the run's seed, and the embedded model's defaults for the rest."""
    url, llama = llama_server
    rt = get_runtime(
        env(MODEL="openai/qwen", MMCREW_API_BASE=url + "/v1", MMCREW_API_KEY=KEY, MMCREW_SEED="7",
            MMCREW_MODEL_CAPABILITIES='{"json_schema": "json_object"}')
    )  # fmt: skip
    rt.complete_json(MESSAGES, SCHEMA, "Answer")
    rt.complete_json(MESSAGES, SCHEMA, "Answer", temperature=0.3)
    first, retry = llama.calls
    expected = {"temperature": 0.0, "repeat_penalty": 1.0, "seed": 7, "top_k": 40, "top_p": 0.95, "min_p": 0.05,
                "presence_penalty": 0.0, "frequency_penalty": 0.0, "mirostat_mode": 0, "max_tokens": 512,
                "grammar": None, "logit_bias": None, "stop": None}  # fmt: skip
    assert {k: first.get(k) for k in expected} == expected
    assert (retry["temperature"], retry["repeat_penalty"], retry["seed"]) == (0.3, 1.15, 7)


def test_llama_cpp_server_checks_the_key(env, llama_server):
    url, llama = llama_server
    rt = get_runtime(env(MODEL="openai/qwen", MMCREW_API_BASE=url + "/v1"))
    with pytest.raises(ConfigError) as e:
        rt.complete_json(MESSAGES, SCHEMA, "Answer")
    assert "HTTP 401" in one_line(e.value) and "MMCREW_API_KEY (it is not set)" in str(e.value)
    assert llama.calls == []


def test_llama_cpp_server_is_asked_to_sample_and_constrain_as_the_embedded_model_does():
    """The same GGUF behind llama_cpp.server answers as in process: no repeat penalty (its default is 1.1),
    1.15 on a retry, the run's seed, and the grammar-friendly schema (long length bounds left to Pydantic)."""
    from multimodal_crew.models.capabilities import capabilities
    from multimodal_crew.models.embedded import grammar_schema

    caps = capabilities("openai/model.gguf", backend="openai-compatible")
    assert caps.json_schema == "json_object"
    assert caps.sampling(0.0, 7) == {"repeat_penalty": 1.0, "seed": 7}
    assert caps.sampling(0.3, 7)["repeat_penalty"] == 1.15
    schema = {"type": "object", "properties": {"quote": {"type": "string", "maxLength": 5000}}}
    assert caps.response_format("x", schema) == {"type": "json_object", "schema": grammar_schema(schema)}
    assert capabilities("ollama/qwen2.5:7b", backend="ollama").sampling(0.0, 7) == {}
