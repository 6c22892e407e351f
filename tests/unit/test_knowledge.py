"""Ingestion, the store and retrieval on the real Chroma folder and BM25 index, with a named fake
embedder (tests/fakes.py); the real embedder runs in tests/integration/test_knowledge_embedded.py."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from multimodal_crew.knowledge.ingest import ingest
from multimodal_crew.knowledge.loaders import DocumentError, load_document
from multimodal_crew.knowledge.retrieval import EmptyKnowledgeError, Retriever
from multimodal_crew.knowledge.store import StoreBusyError
from multimodal_crew.knowledge.text import chunk_page, quote_in, tokenize
from multimodal_crew.settings import get_settings
from tests.fakes import FIX, HashEmbedder, make_store


@pytest.fixture
def docs(tmp_path) -> Path:
    folder = tmp_path / "docs"
    shutil.copytree(FIX / "good", folder)
    return folder


# -- loaders -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, reason",
    [
        ("empty.txt", "empty file"),
        ("not_a_pdf.pdf", "not a PDF"),
        ("truncated.pdf", "corrupt PDF: truncated"),
        ("encrypted.pdf", "encrypted PDF"),
        ("scanned.pdf", "no text layer"),
        ("latin1.txt", "not UTF-8"),
        ("bad.json", "invalid JSON"),
        ("fake.docx", "not a DOCX"),
    ],
)
def test_each_broken_kind_has_its_reason(name, reason):
    with pytest.raises(DocumentError, match=reason):
        load_document(FIX / "broken" / name)


def test_type_is_decided_by_content(tmp_path):
    renamed = tmp_path / "contract.txt"
    shutil.copy(FIX / "good" / "contract.pdf", renamed)
    with pytest.raises(DocumentError, match="content is a PDF"):
        load_document(renamed)


def test_size_limit(tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("word " * 1000)
    with pytest.raises(DocumentError, match="too large"):
        load_document(big, max_bytes=100)


def test_pages_are_one_based_and_kept():
    doc = load_document(FIX / "good" / "contract.pdf")
    assert [p.number for p in doc.pages] == [1, 2, 3]
    assert "elevator B" in doc.pages[1].text


# -- text ----------------------------------------------------------------------------------
def test_chunks_cover_the_page_with_offsets():
    text = " ".join(f"Sentence number {i} is here." for i in range(200))
    spans = chunk_page(text, 300, 50)
    assert all(len(s.text) <= 300 for s in spans)
    assert all(text[s.start : s.end] == s.text for s in spans)
    assert spans[0].start == 0 and spans[-1].end == len(text)
    assert all(b.start < a.end for a, b in zip(spans, spans[1:], strict=False))  # overlapping, no gaps


def test_cjk_is_tokenised_into_characters_and_bigrams():
    toks = tokenize("消防演习 in April")
    assert {"消", "防", "消防", "演习", "april"} <= set(toks)


def test_quote_check_normalises_whitespace_only_loosely():
    page = "The contractor must\nreplace the door  sensors of elevator B."
    assert quote_in("the contractor must replace the door sensors", page)
    assert not quote_in("the contractor must repair the door sensors", page)


# -- ingestion -----------------------------------------------------------------------------
def test_ingest_reports_broken_files_and_keeps_the_rest(docs):
    for f in (FIX / "broken").iterdir():
        shutil.copy(f, docs / f.name)
    emb = HashEmbedder()
    r = ingest([docs], embedder=emb, store=make_store(emb))
    failed = dict(r.failed)
    assert set(failed) == {p.name for p in (FIX / "broken").iterdir()}
    assert "encrypted" in failed["encrypted.pdf"] and "no text layer" in failed["scanned.pdf"]
    assert len(r.added) == len(list((FIX / "good").iterdir()))


def test_incremental_unchanged_changed_deleted(docs):
    emb = HashEmbedder()
    store = make_store(emb)
    first = ingest([docs], embedder=emb, store=store)
    assert len(first.added) == 8 and first.chunks_embedded > 0
    embedded = sum(emb.calls)
    again = ingest([docs], embedder=emb, store=store)
    assert sorted(again.unchanged) == sorted(first.added) and sum(emb.calls) == embedded  # nothing re-embedded
    (docs / "notes.md").write_text("# Lobby notes\n\nThe lobby lights now stay on all night.\n")
    (docs / "zh.md").unlink()
    third = ingest([docs], embedder=emb, store=store)
    assert third.replaced == ["notes.md"] and third.removed == ["zh.md"]
    hits = Retriever(store, emb).search("lobby lights", k=3)
    assert hits[0].file == "notes.md" and "all night" in hits[0].text
    assert store.page_text("zh.md", 1) is None
    assert store.vectors.collection.count() == store.n_chunks()  # no stale vectors left


def test_a_copy_under_another_name_reuses_vectors(docs, tmp_path):
    emb = HashEmbedder()
    store = make_store(emb)
    ingest([docs], embedder=emb, store=store)
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(docs / "contract.pdf", copy / "contract-2024.pdf")
    r = ingest([copy], embedder=emb, store=store)
    assert r.added == ["contract-2024.pdf"] and r.chunks_embedded == 0 and r.chunks_reused > 0
    hits = Retriever(store, emb).search("elevator door sensors", k=4, file="contract-2024.pdf")
    assert hits and all(h.file == "contract-2024.pdf" for h in hits)


def test_ctrl_c_leaves_no_half_document_and_a_rerun_finishes(docs):
    emb = HashEmbedder(interrupt_after=3)  # dies inside the second document
    store = make_store(emb)
    r = ingest([docs], embedder=emb, store=store)
    assert r.interrupted
    committed = {d.file for d in store.docs()}
    assert len(committed) < 8
    for d in store.docs():  # every visible document is complete
        assert len(store.vectors.of_doc(d.doc_id)[0]) == d.n_chunks
    r2 = ingest([docs], embedder=HashEmbedder(), store=store)
    assert not r2.interrupted and len(store.docs()) == 8
    assert store.vectors.collection.count() == store.n_chunks()  # the interrupted file's vectors were collected


def test_sigkill_mid_ingestion_then_rerun(docs, tmp_path, state_home):
    """A real kill -9 of an ingesting process: the store stays consistent and a rerun completes it."""
    script = tmp_path / "ingest_slow.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
            from multimodal_crew.knowledge.ingest import ingest
            from tests.fakes import HashEmbedder, make_store
            emb = HashEmbedder(delay=0.4)
            ingest([{str(docs)!r}], embedder=emb, store=make_store(emb),
                   progress=lambda e, i: print(e, flush=True))
            """
        )
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    files_seen = 0
    for line in proc.stdout:
        files_seen += line.startswith("file")
        if files_seen == 4:  # in the middle of the 4th document
            time.sleep(0.2)
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=30)
    emb = HashEmbedder()
    store = make_store(emb)
    before = store.docs()
    assert 0 < len(before) < 8
    for d in before:
        assert len(store.vectors.of_doc(d.doc_id)[0]) == d.n_chunks
    r = ingest([docs], embedder=emb, store=store)
    assert len(r.unchanged) == len(before) and len(store.docs()) == 8
    assert store.vectors.collection.count() == store.n_chunks()


def test_a_second_ingestion_is_refused_clearly(docs):
    emb = HashEmbedder()
    holder = make_store(emb)
    holder.lock()
    try:
        with pytest.raises(StoreBusyError, match=f"pid {os.getpid()}"):
            ingest([docs], embedder=emb, store=make_store(emb))
    finally:
        holder.unlock()
    assert ingest([docs], embedder=emb, store=make_store(emb)).added


# -- retrieval -----------------------------------------------------------------------------
def test_chinese_question_finds_the_chinese_document(docs):
    emb = HashEmbedder()
    store = make_store(emb)
    ingest([docs], embedder=emb, store=store)
    hits = Retriever(store, emb).search("消防演习什么时候？", k=2)
    assert hits[0].file == "zh.md" and hits[0].keyword_rank == 1


def test_hits_carry_file_page_score_text(docs):
    emb = HashEmbedder()
    store = make_store(emb)
    ingest([docs], embedder=emb, store=store)
    h = Retriever(store, emb).search("roof drains blocked", k=1)[0]
    assert (h.file, h.page) == ("contract.pdf", 3) and h.score > 0 and "roof drains" in h.text


def test_empty_store_is_a_clear_error_before_any_model_loads():
    emb = HashEmbedder()
    r = Retriever(make_store(emb), embedder=None)
    with pytest.raises(EmptyKnowledgeError, match="mmcrew ingest"):
        r.search("anything")
    assert r._embedder is None


def test_an_empty_knowledge_base_has_one_message_wherever_it_is_found(tmp_path, monkeypatch):
    from multimodal_crew.knowledge.ingest import ingest_if_empty

    monkeypatch.setenv("MMCREW_KNOWLEDGE_DIR", str(tmp_path / "nothing-here"))
    s = get_settings(refresh=True)
    store = make_store(HashEmbedder())
    with pytest.raises(EmptyKnowledgeError) as searched:
        Retriever(store, embedder=None, settings=s).search("anything")
    with pytest.raises(EmptyKnowledgeError) as prepared:
        ingest_if_empty(store, s)
    assert str(searched.value) == str(prepared.value)
    assert str(s.knowledge_path) in str(searched.value) and "mmcrew ingest" in str(searched.value)


def test_the_keyword_index_lives_next_to_the_catalog_and_follows_its_generation(docs):
    emb = HashEmbedder()
    store = make_store(emb)
    ingest([docs], embedder=emb, store=store)
    _, ids, _ = store.bm25()
    assert len(ids) == store.n_chunks() and (store.root / "bm25" / "mmcrew.json").is_file()
    store.remove_doc(store.doc_by_file("zh.md").doc_id)
    _, after, _ = store.bm25()  # a new generation: rebuilt without the removed document's chunks
    assert len(after) == store.n_chunks() < len(ids)
    assert make_store(emb).bm25()[1].tolist() == after.tolist()  # another process reads it from disk


# -- hashing (src/multimodal_crew/hashing.py) ----------------------------------------------
def test_a_pinned_file_is_hashed_once_and_a_changed_one_again(tmp_path, monkeypatch):
    import hashlib

    from multimodal_crew import hashing

    f, stamp = tmp_path / "weights.bin", tmp_path / "weights.bin.sha256"
    f.write_bytes(b"model" * 1000)
    pin = hashlib.sha256(f.read_bytes()).hexdigest()
    assert hashing.file_sha256(f) == pin
    assert hashing.pinned_sha256(f, "0" * 64, stamp) != "0" * 64 and not stamp.exists()  # a mismatch is not remembered
    assert hashing.pinned_sha256(f, pin, stamp) == pin and stamp.is_file()
    reads = []
    real = hashing.file_sha256
    monkeypatch.setattr(hashing, "file_sha256", lambda *a: reads.append(a) or real(*a))
    assert hashing.pinned_sha256(f, pin, stamp) == pin and not reads  # the stamp answers
    f.write_bytes(b"other" * 1000)
    assert hashing.pinned_sha256(f, pin, stamp) != pin and reads  # changed: read again
