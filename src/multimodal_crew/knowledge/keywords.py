"""The keyword half of hybrid retrieval: a BM25 index (``bm25s``) over a store's committed chunks.

It lives in ``<store>/bm25/`` with a ``mmcrew.json`` that names the catalog generation it was
built from; a stale or unreadable index is rebuilt from the catalog's rows and published with
one rename, so a reader in another process sees the old index or the new one, never half of one.

On a shared catalog (``MMCREW_DATABASE_URL``) other machines change the generation at every
document they commit, and a rebuild at 100k chunks takes seconds: there ``get(..., wait=False)``
answers with the index it has while one background thread builds the new one (a retired chunk's
hit is dropped by the catalog lookup after it, a new document is found by the vector side until
the new index is in). Every machine ends on the index of the same generation, built from the same
rows in the same order, so they rank alike.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .text import tokenize

__all__ = ["KeywordIndex", "BM25_FORMAT"]

BM25_FORMAT = 2  # ids.npy + docs.npy (the document id of each chunk)

# (bm25s retriever or None when nothing is indexed, chunk ids, document id of each chunk)
Index = tuple[object | None, np.ndarray, np.ndarray]
# the committed chunks as (chunk id, document id, text), in a stable order
Rows = Callable[[], Sequence[tuple[str, str, str]]]


class KeywordIndex:
    def __init__(self, root: Path):
        self.root = Path(root)
        self._current: tuple[int, Index] | None = None
        self._lock = threading.Lock()  # one build at a time in this process (the temporary folder is per process)
        self._refreshing: threading.Thread | None = None

    def get(self, generation: int, rows: Rows, wait: bool = True) -> Index:
        """The index for ``generation``: in memory, loaded from disk, or built from ``rows()``. With
        ``wait=False`` and an index of an older generation in memory, that one, while a background
        thread loads or builds the new one."""
        current = self._current
        if current is not None and current[0] == generation:
            return current[1]
        if current is not None and not wait:
            self._refresh(generation, rows)
            return current[1]
        with self._lock:
            if self._current is not None and self._current[0] == generation:
                return self._current[1]
            index = self._load(generation) or self._build(generation, rows())
            self._current = (generation, index)
            return index

    def _refresh(self, generation: int, rows: Rows) -> None:
        if self._refreshing is not None and self._refreshing.is_alive():
            return  # one at a time; the next call after it sees whether the generation moved on again

        def build() -> None:
            try:
                self.get(generation, rows)
            except Exception:  # noqa: BLE001 - the next search builds it in the foreground and reports
                pass

        self._refreshing = threading.Thread(target=build, name="mmcrew-bm25-refresh", daemon=True)
        self._refreshing.start()

    def forget(self) -> None:
        """Drop the index in memory (the next ``get`` reads or builds it again)."""
        with self._lock:
            self._current = None

    def _load(self, generation: int) -> Index | None:
        folder = self.root / "bm25"
        try:
            meta = json.loads((folder / "mmcrew.json").read_text())
            if meta.get("generation") != generation or meta.get("format") != BM25_FORMAT:
                return None
            import bm25s

            ret = bm25s.BM25.load(str(folder), mmap=False, show_progress=False) if meta["n"] else None
            ids = np.load(folder / "ids.npy", allow_pickle=False)
            docs = np.load(folder / "docs.npy", allow_pickle=False)
            return ret, ids, docs
        except (OSError, ValueError, KeyError):
            return None

    def _build(self, generation: int, rows: Sequence[tuple[str, str, str]]) -> Index:
        import bm25s

        ids = np.array([r[0] for r in rows], dtype=str)
        docs = np.array([r[1] for r in rows], dtype=str)
        ret = None
        if rows:
            ret = bm25s.BM25()
            ret.index([tokenize(r[2]) or [""] for r in rows], show_progress=False)
        tmp = self.root / f"bm25.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        if ret is not None:
            ret.save(str(tmp), show_progress=False)
        np.save(tmp / "ids.npy", ids, allow_pickle=False)
        np.save(tmp / "docs.npy", docs, allow_pickle=False)
        meta = {"generation": generation, "format": BM25_FORMAT, "n": len(rows), "built": time.time()}
        (tmp / "mmcrew.json").write_text(json.dumps(meta))
        final = self.root / "bm25"
        old = self.root / f"bm25.old-{os.getpid()}"
        try:  # another process may be publishing the same generation; either copy is right
            if final.exists():
                os.replace(final, old)
            os.replace(tmp, final)
        except OSError:
            pass
        shutil.rmtree(old, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
        return ret, ids, docs
