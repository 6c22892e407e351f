"""The process-wide caches under threads (a server with several request threads shares them):
N threads asking for the same key at once get one object, built once, and no exception."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from multimodal_crew.settings import get_settings

N = 16


def at_once(fn, n: int = N) -> list:
    """``fn()`` from ``n`` threads released together; their results (an exception fails the test)."""
    barrier = threading.Barrier(n)

    def call():
        barrier.wait()
        return fn()

    with ThreadPoolExecutor(n) as pool:
        return [f.result() for f in [pool.submit(call) for _ in range(n)]]


class SlowFactory:
    """Counts its calls and takes a while, so that unguarded callers would overlap."""

    def __init__(self, make=object):
        self.calls = 0
        self._make = make

    def __call__(self, *args, **kwargs):
        self.calls += 1
        time.sleep(0.05)
        return self._make()


def assert_one(results: list, factory: SlowFactory) -> None:
    assert factory.calls == 1
    assert len({id(r) for r in results}) == 1


def test_runtime_cache(monkeypatch):
    from multimodal_crew.models import runtime

    factory = SlowFactory()
    monkeypatch.setattr(runtime, "_make_runtime", factory)
    assert_one(at_once(lambda: runtime.get_runtime(get_settings())), factory)


def test_retriever_cache(monkeypatch):
    from multimodal_crew.knowledge import ingest, retrieval

    factory = SlowFactory()
    monkeypatch.setattr(ingest, "open_store", factory)
    monkeypatch.setattr(retrieval, "_retrievers", {})
    results = at_once(lambda: retrieval.get_retriever(get_settings()))
    assert_one(results, factory)
    assert isinstance(results[0], retrieval.Retriever)


def test_grammar_cache(monkeypatch):
    pytest.importorskip("llama_cpp")
    import llama_cpp

    from multimodal_crew.models import embedded

    factory = SlowFactory()
    monkeypatch.setattr(llama_cpp.LlamaGrammar, "from_json_schema", factory)
    monkeypatch.setattr(embedded, "_GRAMMARS", {})
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    assert_one(at_once(lambda: embedded._grammar(schema)), factory)


def test_embedder_cache(monkeypatch):
    from multimodal_crew.knowledge import embedder

    factory = SlowFactory()
    monkeypatch.setattr(embedder, "_load", factory)
    monkeypatch.setattr(embedder, "_EMBEDDERS", {})
    assert_one(at_once(lambda: embedder.get_embedder(get_settings())), factory)


def test_store_opens_its_vectors_once(monkeypatch, tmp_path):
    from multimodal_crew.knowledge.store import KnowledgeStore

    store = KnowledgeStore(tmp_path / "store", "fake")
    factory = SlowFactory()
    monkeypatch.setattr(store.vectors, "_open_collection", factory)
    assert_one(at_once(lambda: store.vectors.collection), factory)
    store.close()


def test_keyword_index_is_built_once(tmp_path):
    from multimodal_crew.knowledge.keywords import KeywordIndex

    rows = SlowFactory(lambda: [("c1", "d1", "door sensors are replaced every year"), ("c2", "d1", "roof drains")])
    index = KeywordIndex(tmp_path)
    results = at_once(lambda: index.get(1, rows))
    assert_one(results, rows)
    ret, ids, docs = results[0]
    assert list(ids) == ["c1", "c2"] and list(docs) == ["d1", "d1"] and ret is not None
    assert KeywordIndex(tmp_path).get(1, rows)[1].tolist() == ["c1", "c2"] and rows.calls == 1  # read from disk


def test_pid_lock_goes_to_one_thread_and_one_lock(tmp_path):
    from multimodal_crew.locks import PidLock

    shared = PidLock(tmp_path / "x.lock")
    assert sum(at_once(shared.acquire)) == 1  # not re-entrant: two threads sharing it do not both get it
    other = PidLock(tmp_path / "x.lock")
    assert not other.acquire() and other.holder == str(os.getpid())
    shared.release()
    assert other.acquire()
    other.release()
