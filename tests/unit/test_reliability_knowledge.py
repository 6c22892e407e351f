"""Regression tests for the knowledge store, ingestion, retrieval and the flows that cite it. Each
fixture is the reproduction of a reported bug: real files in tmp_path, the real SQLite catalog,
Chroma folder and BM25 index, the named fake embedder and scripted fake models (tests/fakes.py)."""

from __future__ import annotations

import os
import shutil
import sqlite3

import numpy as np
import pytest

from multimodal_crew.crews.workorder.steps import check_email
from multimodal_crew.errors import ConfigError, InputError
from multimodal_crew.knowledge.ingest import ingest
from multimodal_crew.knowledge.loaders import DocumentError, load_document
from multimodal_crew.knowledge.retrieval import Retriever
from multimodal_crew.knowledge.store import KnowledgeStore, store_dir
from multimodal_crew.settings import get_settings
from tests.fakes import FIX, HashEmbedder, ScriptedModel, make_store, run_ask

A_QUOTE = "The boiler room key hangs in the caretaker office next to the fuse box."
B_QUOTE = "The roof hatch is opened only by the facilities manager on duty."
A_TEXT = f"Notes of building A.\n{A_QUOTE}\n"
B_TEXT = f"Notes of building B.\n{B_QUOTE}\n"


@pytest.fixture
def twins(tmp_path):
    """Two folders, each with its own notes.txt: the same display name for two documents."""
    for folder, text in (("DIR_A", A_TEXT), ("DIR_B", B_TEXT)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "notes.txt").write_text(text, encoding="utf-8")
    return tmp_path


@pytest.fixture
def twin_store(twins):
    emb = HashEmbedder()
    store = make_store(emb)
    ingest([twins / "DIR_A"], embedder=emb, store=store)
    ingest([twins / "DIR_B"], embedder=emb, store=store)
    return store, emb


def _doc_id(store, text: str) -> str:
    return next(d.doc_id for d in store.docs() if store.page_text(d.file, 1) == text)


# -- 1. same display name, different documents ----------------------------------------------
def test_two_files_of_one_name_get_unique_names_and_each_reads_its_own_pages(twins, twin_store):
    store, emb = twin_store
    assert sorted(d.file for d in store.docs()) == ["DIR_B/notes.txt", "notes.txt"]
    assert store.page_text("notes.txt", 1) == A_TEXT
    assert store.page_text("DIR_B/notes.txt", 1) == B_TEXT
    again = ingest([twins / "DIR_A", twins / "DIR_B"], embedder=emb, store=store)
    assert sorted(again.unchanged) == ["DIR_B/notes.txt", "notes.txt"] and not again.replaced  # names are stable
    assert ingest([twins / "DIR_B"], embedder=emb, store=store).unchanged == ["DIR_B/notes.txt"]


def test_a_file_filter_selects_exactly_one_of_two_files_of_one_name(twin_store):
    store, emb = twin_store
    r = Retriever(store, emb)
    b_hits = r.search("who opens the roof hatch", k=5, file="DIR_B/notes.txt")
    assert b_hits and all(h.text == B_TEXT and h.doc_id == _doc_id(store, B_TEXT) for h in b_hits)
    a_hits = r.search("who opens the roof hatch", k=5, file="notes.txt")
    assert a_hits and all(h.text == A_TEXT for h in a_hits)
    both = r.search("notes of building", k=5)
    assert {h.doc_id for h in both} == {d.doc_id for d in store.docs()}  # every hit says which document


def _ask(store, emb, reply: dict):
    model = ScriptedModel(reply)
    return run_ask(Retriever(store, emb), model, "Who opens the roof hatch?"), model


def test_ask_checks_a_quote_against_the_document_its_citation_names(twin_store):
    store, emb = twin_store
    good = {"citations": [{"file": "DIR_B/notes.txt", "page": 1, "quote": B_QUOTE}],
            "answer": "The facilities manager on duty.", "abstained": False}  # fmt: skip
    r, _ = _ask(store, emb, good)
    assert not r.abstained and r.citations[0].file == "DIR_B/notes.txt"
    assert r.citations[0].doc_id == _doc_id(store, B_TEXT)
    wrong = {**good, "citations": [{"file": "DIR_B/notes.txt", "page": 1, "quote": A_QUOTE}]}  # A's words, cited as B
    r, model = _ask(store, emb, wrong)
    assert r.abstained and "does not occur on DIR_B/notes.txt page 1" in model.requests[1][0][-1]["content"]


def test_the_work_order_guard_and_the_research_check_read_the_cited_document(twin_store):
    from multimodal_crew.crews.research.checks import verify_findings
    from multimodal_crew.steps.answer import page_reader

    store, emb = twin_store
    hits = Retriever(store, emb).search("notes of building", k=5)
    read = page_reader(hits, store)
    assert read("DIR_B/notes.txt", 1) == B_TEXT and read("notes.txt", 1) == A_TEXT
    found = {(h.file, h.page) for h in hits}
    assert check_email("Open the hatch (DIR_B/notes.txt, p. 1).", found, lambda f, p: read(f, p) is not None) == []

    from multimodal_crew.crews.research.models import Finding

    pages = {fp: read(*fp) or "" for fp in found}
    ok = Finding(fact="The manager opens the hatch.", file="DIR_B/notes.txt", page=1, quote=B_QUOTE)
    misfiled = Finding(fact="The key hangs by the fuse box.", file="DIR_B/notes.txt", page=1, quote=A_QUOTE)
    verified, _, notes = verify_findings([ok, misfiled], pages)
    assert [(f.file, f.quote) for f in verified] == [("DIR_B/notes.txt", B_QUOTE), ("notes.txt", A_QUOTE)]
    assert any("moved a quote from (DIR_B/notes.txt, p. 1)" in n for n in notes)


def test_an_older_catalog_with_one_name_twice_gets_unique_names_when_opened(twin_store):
    store, emb = twin_store
    db = sqlite3.connect(store.root / "catalog.sqlite")
    db.execute("DROP INDEX IF EXISTS docs_file_unique")
    db.execute("UPDATE docs SET file='notes.txt'")  # what the old ingestion wrote
    db.commit()
    db.close()
    store.close()
    reopened = make_store(emb)
    assert sorted(d.file for d in reopened.docs()) == ["DIR_B/notes.txt", "notes.txt"]
    assert reopened.page_text("DIR_B/notes.txt", 1) == B_TEXT


# -- 3. a file name that is not UTF-8 --------------------------------------------------------
def test_a_file_name_that_is_not_utf8_is_kept_losslessly_and_the_rest_is_ingested(tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    try:
        with open(os.path.join(os.fsencode(folder), b"caf\xe9.txt"), "wb") as f:
            f.write(b"The cafe on the ground floor opens at seven in the morning.\n")
    except OSError:
        pytest.skip("this file system refuses file names that are not UTF-8")
    (folder / "plain.txt").write_text("The plain room is on the first floor.\n", encoding="utf-8")
    emb = HashEmbedder()
    store = make_store(emb)
    r = ingest([folder], embedder=emb, store=store)
    assert sorted(r.added) == ["caf\\xe9.txt", "plain.txt"] and not r.failed
    assert "opens at seven" in store.page_text("caf\\xe9.txt", 1)
    assert sorted(ingest([folder], embedder=emb, store=store).unchanged) == ["caf\\xe9.txt", "plain.txt"]
    os.remove(os.path.join(os.fsencode(folder), b"caf\xe9.txt"))
    assert ingest([folder], embedder=emb, store=store).removed == ["caf\\xe9.txt"]


# -- 4. orphan vectors -----------------------------------------------------------------------
def test_uncommitted_vectors_do_not_crowd_out_committed_chunks(tmp_path):
    folder = tmp_path / "docs"
    shutil.copytree(FIX / "good", folder)
    emb = HashEmbedder()
    store = make_store(emb)
    ingest([folder], embedder=emb, store=store)
    query = "quantum flux capacitor"  # no document has these words: only the vector search ranks
    assert Retriever(store, emb).keyword(query, 30) == []
    near = emb.embed([query])[0] + np.random.default_rng(0).normal(0, 0.01, (320, emb.dim)).astype(np.float32)
    store.vectors.collection.upsert(  # what a crashed (or running) ingestion leaves: vectors the catalog does not have
        ids=[f"orphan:{i}" for i in range(320)], embeddings=near, metadatas=[{"doc_id": "orphan", "page": 1}] * 320
    )
    hits = Retriever(store, emb).search(query, k=5)
    assert len(hits) == 5 and not any(h.chunk_id.startswith("orphan") for h in hits)


# -- 5. chunk settings -----------------------------------------------------------------------
LEASE = " ".join(f"Clause {i}: the tenant keeps stairwell {i} free of boxes and bicycles." for i in range(60))


def _chunking(monkeypatch, size: int, overlap: int):
    monkeypatch.setenv("MMCREW_CHUNK_SIZE", str(size))
    monkeypatch.setenv("MMCREW_CHUNK_OVERLAP", str(overlap))
    return get_settings(refresh=True)


def _consistent(store) -> None:
    assert store.n_chunks() == sum(d.n_chunks for d in store.docs())  # no stale chunk
    assert store.vectors.collection.count() == store.n_chunks()  # no stale vector


def test_changed_chunk_settings_rechunk_every_document(tmp_path, monkeypatch):
    folder = tmp_path / "lease"
    folder.mkdir()
    (folder / "lease.txt").write_text(LEASE, encoding="utf-8")
    emb = HashEmbedder()
    store = make_store(emb)
    ingest([folder], settings=_chunking(monkeypatch, 1000, 150), embedder=emb, store=store)
    before = store.n_chunks()
    r = ingest([folder], settings=_chunking(monkeypatch, 300, 50), embedder=emb, store=store)
    assert r.replaced == ["lease.txt"] and not r.unchanged
    assert store.n_chunks() > before
    assert all(len(h.text) <= 300 for h in Retriever(store, emb).search("stairwell bicycles", k=10))
    _consistent(store)
    assert ingest([folder], settings=get_settings(), embedder=emb, store=store).unchanged == ["lease.txt"]


def test_changed_chunk_settings_and_a_new_name_leave_no_stale_chunks(tmp_path, monkeypatch):
    sub = tmp_path / "top" / "sub"
    sub.mkdir(parents=True)
    (sub / "lease.txt").write_text(LEASE, encoding="utf-8")
    emb = HashEmbedder()
    store = make_store(emb)
    ingest([sub], settings=_chunking(monkeypatch, 300, 50), embedder=emb, store=store)  # named lease.txt
    r = ingest([tmp_path / "top"], settings=_chunking(monkeypatch, 1000, 150), embedder=emb, store=store)
    assert r.replaced == ["sub/lease.txt"] and [d.file for d in store.docs()] == ["sub/lease.txt"]
    _consistent(store)
    assert all(len(h.text) > 300 for h in Retriever(store, emb).search("stairwell bicycles", k=10)[:-1])


# -- 6. damaged index ------------------------------------------------------------------------
def test_a_damaged_catalog_is_a_config_error_that_says_how_to_fix_it():
    emb = HashEmbedder()
    root = store_dir(get_settings(refresh=True).index_path, emb.name)
    root.mkdir(parents=True)
    (root / "catalog.sqlite").write_bytes(b"this is not a database, just bytes\n" * 200)
    with pytest.raises(ConfigError, match=r"damaged .*`mv .* .*\.broken` and run `mmcrew ingest` again") as e:
        KnowledgeStore(root, emb.name)
    assert e.value.exit_code == 3 and "\n" not in str(e.value) and str(root) in str(e.value)


def test_a_damaged_chroma_folder_is_a_config_error_that_says_how_to_fix_it(tmp_path):
    folder = tmp_path / "docs"
    shutil.copytree(FIX / "good", folder)
    emb = HashEmbedder()
    store = make_store(emb)
    (store.root / "chroma").mkdir()
    (store.root / "chroma" / "chroma.sqlite3").write_bytes(b"garbage, not a database\n" * 200)
    with pytest.raises(ConfigError, match=r"damaged .*\.broken` and run `mmcrew ingest` again") as e:
        ingest([folder], embedder=emb, store=store)
    assert e.value.exit_code == 3 and "chroma" in str(e.value)


def test_a_damaged_vector_segment_found_at_search_time_is_a_config_error(tmp_path):
    from chromadb.errors import InternalError

    folder = tmp_path / "docs"
    shutil.copytree(FIX / "good", folder)
    emb = HashEmbedder()
    store = make_store(emb)
    ingest([folder], embedder=emb, store=store)

    class Damaged:  # what Chroma raises when an HNSW file is corrupt: on first use, not at open
        def count(self):
            return 10

        def query(self, **kwargs):
            raise InternalError("Error constructing hnsw segment reader: Error loading hnsw index")

    store.vectors._collection = Damaged()
    with pytest.raises(ConfigError, match=r"damaged .*\.broken"):
        Retriever(store, emb).search("roof drains", k=3)


# -- 7. smaller ones -------------------------------------------------------------------------
def test_a_deleted_file_named_directly_is_removed_from_the_index(tmp_path):
    memo = tmp_path / "memo.txt"
    memo.write_text("The memo says the garage closes at midnight.\n", encoding="utf-8")
    emb = HashEmbedder()
    store = make_store(emb)
    assert ingest([memo], embedder=emb, store=store).added == ["memo.txt"]
    memo.unlink()
    r = ingest([memo], embedder=emb, store=store)
    assert r.removed == ["memo.txt"] and store.docs() == [] and store.vectors.collection.count() == 0
    with pytest.raises(InputError, match="no such file or folder"):
        ingest([tmp_path / "never-was.txt"], embedder=emb, store=store)


def test_a_cut_off_pdf_is_called_truncated_not_scanned(tmp_path):
    import pymupdf

    doc = pymupdf.open()
    for n in range(3):
        doc.new_page().insert_text((72, 72), f"Page {n + 1}: the contractor inspects the roof drains monthly.")
    whole = doc.tobytes(garbage=0, deflate=True)
    cut = tmp_path / "cut.pdf"
    for end in range(50, len(whole) - 6, 7):  # some cuts open with pages but no text, some with part of it
        cut.write_bytes(whole[:end])
        with pytest.raises(DocumentError, match="truncated") as e:
            load_document(cut)
        assert "scanned" not in str(e.value)
    with pytest.raises(DocumentError, match="truncated"):
        load_document(FIX / "broken" / "truncated.pdf")


def test_a_question_too_long_for_the_model_context_is_refused_before_any_model_call(twin_store):
    store, emb = twin_store
    model = ScriptedModel({"citations": [], "answer": "", "abstained": True})
    question = "Who opens the roof hatch, and when? " * 2000
    with pytest.raises(InputError, match=r"characters long; at most [\d,]+ fit .*MMCREW_N_CTX.*shorten it"):
        run_ask(Retriever(store, emb), model, question)
    assert model.requests == []
