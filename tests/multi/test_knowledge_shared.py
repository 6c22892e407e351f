"""The knowledge store on shared servers: the catalog in a real PostgreSQL, the vectors on a real
Chroma server (tests/servers.py starts both on loopback). Two "machines" are two processes with
different MMCREW_HOMEs sharing those servers.

* The store's own tests (tests/unit/test_knowledge.py, test_reliability_knowledge.py) pass again with
  the shared backends: incremental ingestion, per-document commits, Ctrl-C and kill -9 mid-ingest.
* A ingests; B finds the same passages for the same questions; A deletes a file and B no longer finds it
  (the real embedder and the CLI, one process per machine).
* An ingestion on A holds the lock across machines: B is refused with A's name; a kill -9 of A
  frees it at once.
* PostgreSQL or Chroma stopped in the middle of an ingestion: a clear one-line error, nothing
  half-visible; after a restart the same command finishes the work.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from tests.fakes import FIX

pytestmark = pytest.mark.multi

ROOT = Path(__file__).resolve().parents[2]
MMCREW = str(Path(sys.executable).with_name("mmcrew"))


@pytest.fixture
def shared(pg_url, chroma_url, monkeypatch):
    """This test process on the shared servers, in a namespace of its own."""
    monkeypatch.setenv("MMCREW_DATABASE_URL", pg_url)
    monkeypatch.setenv("MMCREW_CHROMA_URL", chroma_url)
    from multimodal_crew.settings import get_settings

    get_settings(refresh=True)
    return {"MMCREW_DATABASE_URL": pg_url, "MMCREW_CHROMA_URL": chroma_url}


def machine(tmp_path: Path, name: str, shared_env: dict) -> dict:
    """The environment of one machine: its own home, the shared servers and namespace."""
    env = os.environ.copy()
    env.update(shared_env)
    env["MMCREW_HOME"] = str(tmp_path / f"home-{name}")
    env["MMCREW_MACHINE"] = name
    return env


def mmcrew(env: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([MMCREW, *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def hits(env: dict, query: str) -> list[tuple]:
    r = mmcrew(env, "search", query, "--json", "-k", "5")
    assert r.returncode == 0, r.stderr
    return [(h["file"], h["page"], h["chunk_id"], h["start"], h["end"]) for h in json.loads(r.stdout)]


def test_the_store_tests_pass_on_postgresql_and_a_chroma_server(pg_url, chroma_url):
    """The local store's whole test file, run again with the catalog and vectors on the servers
    (the tests that damage a local file on purpose have no shared counterpart and are left out)."""
    env = os.environ.copy()
    env.update({"MMCREW_DATABASE_URL": pg_url, "MMCREW_CHROMA_URL": chroma_url})
    local_only = "damaged or older_catalog or not_utf8"
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", f"not ({local_only})",
         "tests/unit/test_knowledge.py", "tests/unit/test_reliability_knowledge.py"],
        env=env, capture_output=True, text=True, timeout=900, cwd=ROOT,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
    assert " passed" in r.stdout and " failed" not in r.stdout


def test_a_second_machine_finds_what_the_first_ingested_and_loses_what_it_deleted(shared, tmp_path):
    docs = tmp_path / "docs"
    shutil.copytree(FIX / "good", docs)
    a, b = machine(tmp_path, "a", shared), machine(tmp_path, "b", shared)
    r = mmcrew(a, "ingest", str(docs))
    assert r.returncode == 0, r.stdout + r.stderr
    questions = ["termination notice period", "payment terms of the contract", "北京", "refund policy"]
    on_a = [hits(a, q) for q in questions]
    on_b = [hits(b, q) for q in questions]
    assert on_b == on_a and all(on_a)
    assert not (tmp_path / "home-b" / "knowledge").exists() or not list((tmp_path / "home-b").rglob("catalog.sqlite"))

    gone = on_a[0][0][0]  # the file of the first hit of the first question
    (docs / gone).unlink()
    r = mmcrew(a, "ingest", str(docs))
    assert r.returncode == 0 and "1 removed" in r.stdout, r.stdout + r.stderr
    assert all(h[0] != gone for q in questions for h in hits(b, q))
    kb = mmcrew(b, "kb")
    assert kb.returncode == 0 and gone not in kb.stdout


@pytest.mark.integration
def test_a_second_machine_answers_like_the_first_with_the_same_citations(shared, tmp_path):
    """The real embedder and the embedded model on both machines: A ingests, A and B ask."""
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "tests" / "fixtures" / "knowledge" / "good", docs)
    a, b = machine(tmp_path, "a", shared), machine(tmp_path, "b", shared)
    r = mmcrew(a, "ingest", str(docs))
    assert r.returncode == 0, r.stdout + r.stderr
    question = "When must the contractor replace the door sensors of elevator B?"
    answers = []
    for env in (a, b):
        r = mmcrew(env, "ask", question, "--json", timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
        d = json.loads(r.stdout)
        answers.append((d["text"], [(c["file"], c["page"], c["quote"]) for c in d["citations"]]))
    assert answers[1] == answers[0]
    assert ("contract.pdf", 2) in {(f, p) for f, p, _ in answers[0][1]}


_SLOW_INGEST = """
import sys
sys.path.insert(0, {root!r})
from multimodal_crew.knowledge.ingest import ingest
from tests.fakes import HashEmbedder, make_store
emb = HashEmbedder(delay={delay})
ingest([{docs!r}], embedder=emb, store=make_store(emb), progress=lambda e, i: print(e, i.get("name", ""), flush=True))
"""


def slow_ingest(tmp_path: Path, env: dict, docs: Path, delay: float = 0.4) -> subprocess.Popen:
    script = tmp_path / f"ingest-{uuid.uuid4().hex[:6]}.py"
    script.write_text(textwrap.dedent(_SLOW_INGEST.format(root=str(ROOT), docs=str(docs), delay=delay)))
    return subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_file(proc: subprocess.Popen, n: int) -> None:
    seen = 0
    for line in proc.stdout:
        seen += line.startswith("file")
        if seen == n:
            return
    raise AssertionError("the ingestion ended early: " + proc.stderr.read()[-2000:])


def test_one_ingestion_at_a_time_across_machines_and_kill_9_frees_the_lock(shared, tmp_path):
    from multimodal_crew.knowledge.ingest import ingest
    from multimodal_crew.knowledge.store import StoreBusyError
    from tests.fakes import HashEmbedder, make_store

    docs = tmp_path / "docs"
    shutil.copytree(FIX / "good", docs)
    a = machine(tmp_path, "machine-a", shared)
    a["MMCREW_NAMESPACE"] = os.environ["MMCREW_NAMESPACE"]  # the same shared store as this process
    proc = slow_ingest(tmp_path, a, docs)
    try:
        wait_for_file(proc, 3)
        emb = HashEmbedder()
        with pytest.raises(StoreBusyError, match="machine-a pid"):
            ingest([docs], embedder=emb, store=make_store(emb))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    store = make_store(emb)
    before = store.docs()
    assert len(before) < 8
    for d in before:  # every visible document is whole
        assert len(store.vectors.of_doc(d.doc_id)[0]) == d.n_chunks
    started = time.monotonic()
    r = ingest([docs], embedder=emb, store=store)  # the dead holder's lock is gone at once
    assert time.monotonic() - started < 30
    assert len(r.unchanged) == len(before) and len(store.docs()) == 8
    assert store.vectors.count() == store.n_chunks()  # the killed file's vectors were collected


@pytest.mark.parametrize("which", ["pg", "chroma"])
def test_a_server_stopped_mid_ingestion_is_a_clear_error_and_a_rerun_finishes(which, shared, tmp_path, request):
    server = request.getfixturevalue("pg_server" if which == "pg" else "chroma_server")
    docs = tmp_path / "docs"
    shutil.copytree(FIX / "good", docs)
    a = machine(tmp_path, "a", shared)
    a["MMCREW_NAMESPACE"] = os.environ["MMCREW_NAMESPACE"]
    proc = slow_ingest(tmp_path, a, docs, delay=0.3)
    try:
        wait_for_file(proc, 3)
        server.stop()
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
        server.start()
    assert proc.returncode != 0
    last = err.strip().splitlines()[-1]
    name = "database" if which == "pg" else "Chroma server"
    assert f"the {name} at" in last and "cannot be used" in last and "Nothing was lost" in last, err[-3000:]

    from multimodal_crew.knowledge.ingest import ingest
    from tests.fakes import HashEmbedder, make_store

    emb = HashEmbedder()
    store = make_store(emb)
    for d in store.docs():
        assert len(store.vectors.of_doc(d.doc_id)[0]) == d.n_chunks
    r = ingest([docs], embedder=emb, store=store)
    assert not r.failed and len(store.docs()) == 8
    assert store.vectors.count() == store.n_chunks()


def test_a_warm_second_machine_ranks_another_machines_new_document_by_its_words(shared, tmp_path):
    """B keeps its retriever warm while A ingests a new file: B's keyword side moves to the new
    generation in the background, and then finds the new file's rare word."""
    from multimodal_crew.knowledge.ingest import ingest
    from multimodal_crew.knowledge.retrieval import Retriever
    from tests.fakes import HashEmbedder, make_store

    docs = tmp_path / "docs"
    shutil.copytree(FIX / "good", docs)
    emb = HashEmbedder()
    ingest([docs], embedder=emb, store=make_store(emb))
    b = Retriever(make_store(emb), embedder=emb)
    assert b.keyword("zyxwortle", 5) == []
    (docs / "new.txt").write_text("The zyxwortle valve is replaced every spring.\n")
    a = machine(tmp_path, "a", shared)
    a["MMCREW_NAMESPACE"] = os.environ["MMCREW_NAMESPACE"]
    proc = slow_ingest(tmp_path, a, docs, delay=0.0)
    assert proc.wait(timeout=120) == 0, proc.stderr.read()[-2000:]
    deadline = time.monotonic() + 30
    found = []
    while time.monotonic() < deadline and not found:
        # the vector side may find it first; the keyword side once its new index is in
        found = [h for h in b.search("zyxwortle valve", 5) if h.file == "new.txt" and h.keyword_rank]
        time.sleep(0.2)
    assert found and found[0].keyword_rank == 1


def test_doctor_shows_the_shared_servers_answering(shared, monkeypatch):
    from multimodal_crew import doctor

    monkeypatch.setattr(doctor, "_embedded_rows", lambda s, load: [])
    monkeypatch.setattr(doctor, "_vision_rows", lambda s, load: [])
    rows = {name: (ok, detail) for name, ok, detail in doctor.run_checks(load_model=False)}
    ok, detail = rows["database"]
    assert ok is True and detail.startswith("PostgreSQL 15") and "***" in detail, detail
    ok, detail = rows["vector store"]
    assert ok is True and detail.startswith("Chroma server 1.") and shared["MMCREW_CHROMA_URL"] in detail, detail
