"""All-or-nothing output folders for steps that write files.

A step writes into a staging folder (``<outputs>/<flow>/.staging-<id>``) and publishes it with
one rename. If the step raises (or is interrupted), the staging folder is removed, so a failed
run never leaves a half-written output. An owner file next to it names the process writing it,
so a staging folder left by a killed run is removed by the next run (``procs.py``)::

    with staged(deps.settings, "report") as out:
        (out.path / "report.md").write_text(...)
        final = out.publish("2024-01-01_2024-01-31")
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from ..procs import PUBLISH_LOCK, STOPPING, claim_staging, release_staging

__all__ = ["Staging", "staged"]


class Staging:
    def __init__(self, path: Path):
        self.path = path
        self.final: Path | None = None

    def publish(self, label: str = "") -> Path:
        """Move the staging folder into place as ``<stamp>-<label>-<id>``; return the final folder."""
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        run_id = self.path.name.removeprefix(".staging-")[:8]
        name = "-".join(x for x in (stamp, label, run_id) if x)
        final = self.path.parent / name
        with PUBLISH_LOCK:  # never while the run's watchdog removes its staging folders
            if STOPPING.is_set():
                raise InterruptedError("the run is being stopped; its output is not published")
            os.replace(self.path, final)
        release_staging(self.path)
        self.final = final
        return final


@contextmanager
def staged(settings, flow: str) -> Iterator[Staging]:
    """A fresh staging folder under ``<outputs>/<flow>/``; removed unless published inside the block."""
    path = settings.outputs_path / flow / f".staging-{uuid.uuid4()}"
    claim_staging(path)  # ours; and removes the staging folders of runs that were killed
    path.mkdir(parents=True, exist_ok=True)
    out = Staging(path)
    try:
        yield out
    finally:
        if out.final is None:
            shutil.rmtree(path, ignore_errors=True)
            release_staging(path)
