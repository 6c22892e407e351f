"""The one place files and names are hashed (SHA-256).

* :func:`file_sha256`: a file's digest, read in blocks (documents, model weights);
* :func:`pinned_sha256`: the same, remembered in a stamp file next to a large pinned file
  (the embedded model, the embedder's weights), so an unchanged file is hashed once;
* :func:`short_hash`: a short stable id from text (store folders, document ids, fingerprints).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["file_sha256", "pinned_sha256", "remember_sha256", "short_hash"]

BLOCK = 8 << 20


def file_sha256(path: Path | str, block: int = BLOCK) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


def pinned_sha256(path: Path, expected: str, stamp: Path) -> str:
    """The SHA-256 of ``path``. When it is ``expected``, ``stamp`` remembers that together with the
    file's size and mtime, and later calls return it without reading the file again."""
    try:
        if Path(stamp).read_text().strip() == _token(path, expected):
            return expected
    except OSError:
        pass
    digest = file_sha256(path)
    if digest == expected:
        remember_sha256(path, expected, stamp)
    return digest


def remember_sha256(path: Path, expected: str, stamp: Path) -> None:
    """Record in ``stamp`` that ``path``, as it is now, has the SHA-256 ``expected`` (already checked)."""
    try:
        Path(stamp).write_text(_token(path, expected) + "\n")
    except OSError:  # a read-only folder: it is hashed again next time
        pass


def _token(path: Path, expected: str) -> str:
    st = Path(path).stat()
    return f"{expected} {st.st_size} {st.st_mtime_ns}"


def short_hash(text: str, n: int = 16) -> str:
    """The first ``n`` hex digits of the SHA-256 of ``text``."""
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:n]
