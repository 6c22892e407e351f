"""Real servers on loopback, shared by the multi-machine tests (``-m multi``); see tests/servers.py.

Session-scoped: ``pg_server``/``pg_url`` (PostgreSQL), ``chroma_server``/``chroma_url`` (a Chroma server),
``llama_server``/``llama_server_url`` (llama.cpp's OpenAI-compatible server on the embedded model's GGUF,
started only when a test asks for it: it loads 1.1 GB). The URLs stay the same across ``stop()``/
``start()``/``restart()`` (same port, same data). A test that stops a server and does not start it
again gets it restarted after it, so the next test finds it up.

A server whose binary, package or model file is missing is skipped with the reason; one that is
installed but does not start fails the tests that need it, with its log's tail (CI must not skip
silently). The logs of the servers that are up are attached to every failing test's report.
"""

from __future__ import annotations

import pytest

from tests.conftest import MODELS_DIR
from tests.servers import (
    ChromaServer,
    LlamaServer,
    PostgresServer,
    ServerFailed,
    ServerUnavailable,
    live_servers,
    reap_stale,
)


def _serve(make):
    try:
        server = make()
    except ServerUnavailable as e:
        pytest.skip(str(e))
    try:
        server.start()
    except ServerUnavailable as e:
        server.close()
        pytest.skip(str(e))
    except ServerFailed as e:
        server.close()
        pytest.fail(str(e), pytrace=False)
    except BaseException:
        server.close()
        raise
    return server


@pytest.fixture(scope="session", autouse=True)
def _reap_stale_servers():
    """Folders (and a PostgreSQL) left under /tmp by a test session that was killed."""
    reap_stale()


@pytest.fixture(scope="session")
def pg_server():
    server = _serve(PostgresServer)
    yield server
    server.close()


@pytest.fixture(scope="session")
def pg_url(pg_server) -> str:
    """``postgresql://USER:PASS@127.0.0.1:PORT/DB`` (use ``postgresql+psycopg://`` with SQLAlchemy)."""
    return pg_server.url


@pytest.fixture(scope="session")
def chroma_server():
    server = _serve(ChromaServer)
    yield server
    server.close()


@pytest.fixture(scope="session")
def chroma_url(chroma_server) -> str:
    """``http://127.0.0.1:PORT`` of a Chroma server (``chromadb.HttpClient(host, port)``)."""
    return chroma_server.url


@pytest.fixture(scope="session")
def llama_server():
    from multimodal_crew.models.weights import model_file
    from multimodal_crew.settings import get_settings

    name = get_settings(refresh=True).embedded_model
    server = _serve(lambda: LlamaServer(model_file(name, MODELS_DIR), alias=name))
    yield server
    server.close()


@pytest.fixture(scope="session")
def llama_server_url(llama_server) -> str:
    """``http://127.0.0.1:PORT/v1``: the OpenAI-compatible base URL; the model is named ``llama_server.alias``."""
    return llama_server.url


@pytest.fixture(autouse=True)
def _servers_up_again():
    """Start again, after a test, any shared server the test left stopped."""
    before = [s for s in live_servers() if s.running()]
    yield
    for server in before:
        if not server.running():
            server.start()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for server in live_servers():
            report.sections.append((f"{server.kind} log ({server.log_path})", server.log_tail(30)))
