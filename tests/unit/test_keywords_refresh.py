"""The keyword index on a shared catalog: the index in memory answers while the new generation's is
built in the background, and then the new one answers (keywords.py)."""

from __future__ import annotations

import threading
import time

from multimodal_crew.knowledge.keywords import KeywordIndex


def test_an_old_index_answers_while_the_new_generation_is_built_then_the_new_one(tmp_path):
    idx = KeywordIndex(tmp_path)
    first = [("c1", "d1", "alpha beta")]
    second = first + [("c2", "d2", "gamma delta")]
    release = threading.Event()

    def slow_rows():
        release.wait(10)
        return second

    _, ids, _ = idx.get(1, lambda: first)
    assert list(ids) == ["c1"]
    started = time.monotonic()
    _, ids, _ = idx.get(2, slow_rows, wait=False)  # does not wait for the slow build
    assert time.monotonic() - started < 1 and list(ids) == ["c1"]
    _, ids, _ = idx.get(2, slow_rows, wait=False)  # one build at a time: still the old one
    assert list(ids) == ["c1"]
    release.set()
    idx._refreshing.join(10)
    _, ids, _ = idx.get(2, lambda: [], wait=False)
    assert list(ids) == ["c1", "c2"]


def test_without_an_index_in_memory_the_first_search_waits_for_it(tmp_path):
    idx = KeywordIndex(tmp_path)
    _, ids, _ = idx.get(3, lambda: [("c9", "d9", "word")], wait=False)
    assert list(ids) == ["c9"]


def test_a_failed_background_build_is_left_to_the_next_search(tmp_path):
    idx = KeywordIndex(tmp_path)
    idx.get(1, lambda: [("c1", "d1", "alpha")])

    def broken():
        raise OSError("the database went away")

    _, ids, _ = idx.get(2, broken, wait=False)
    idx._refreshing.join(10)
    assert list(ids) == ["c1"]
    _, ids, _ = idx.get(2, lambda: [("c1", "d1", "alpha"), ("c2", "d2", "beta")])
    assert list(ids) == ["c1", "c2"]
