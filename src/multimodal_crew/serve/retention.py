"""What a long-running server deletes: runs that ended more than ``MMCREW_SERVE_KEEP_DAYS`` ago with their
events, and the uploaded images (``outputs/uploads/``) that no kept run names. ``create_app`` runs
``prune`` at start and daily."""

from __future__ import annotations

import logging
import time
from typing import Any

from .run_store import RunStore, error_line

__all__ = ["prune"]

log = logging.getLogger(__name__)


def prune(settings: Any, store: RunStore, now: float | None = None) -> dict[str, int]:
    """Deletes runs that ended more than ``MMCREW_SERVE_KEEP_DAYS`` ago, their events, and the uploaded images
    no kept run names. A failure is logged, never raised: the server goes on."""
    days = settings.serve_keep_days
    if days <= 0:
        return {"runs": 0, "images": 0}
    before = (now if now is not None else time.time()) - days * 86400
    try:
        out = {"runs": store.prune(before), "images": _prune_uploads(settings, store, before)}
    except Exception as e:  # noqa: BLE001 - housekeeping must not stop the server
        log.warning("pruning old runs failed: %s", error_line(e))
        return {"runs": 0, "images": 0}
    if any(out.values()):
        log.info("deleted %d runs and %d uploaded images older than %g days", out["runs"], out["images"], days)
    return out


def _prune_uploads(settings: Any, store: Any, before: float) -> int:
    """Deletes the uploaded images older than ``before`` that no kept run names; the number deleted."""
    folder = settings.outputs_path / "uploads"
    gone = 0
    for path in folder.glob("*") if folder.is_dir() else ():
        try:
            if path.is_file() and path.stat().st_mtime < before and not store.names(path.name):
                path.unlink()
                gone += 1
        except OSError:  # gone meanwhile, or not ours to delete: kept, tried again next time
            continue
    return gone
