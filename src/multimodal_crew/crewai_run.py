"""``crewai run``, with an exit status you can trust (what ``make run`` uses).

``crewai run`` executes ``uv run kickoff`` and, when that fails, prints
"An error occurred while running the flow: ... returned non-zero exit status N" and exits 0
(crewai-cli 1.15.30, ``_execute_uv_script``). A script or CI would take that for success.
This wrapper runs ``crewai run`` unchanged (its output streams through), gives ``kickoff``
a status file to fill in (``MMCREW_RUN_STATUS``), and afterwards exits

* 0 when the flow wrote a successful status,
* the flow's own exit code when it failed and said why (the reason is already printed),
* non-zero with one line naming the cause when the flow process died without a word
  (a crash such as SIGILL from the embedded model, or ``crewai run`` failing to start it).

    python -m multimodal_crew.crewai_run [crewai run arguments]
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

__all__ = ["main", "verdict"]

_EXIT_RE = re.compile(rb"returned non-zero exit status (-?\d+)")


def verdict(status: dict | None, child_exit: int | None, crewai_exit: int) -> tuple[int, str]:
    """(exit code, message) from the status file, the exit status crewai printed, and crewai's own."""
    if status is not None:
        code = int(status.get("exit_code", 1))
        if code == 0:
            where = status.get("output_dir")
            return 0, f"crewai run: {status.get('flow')} finished" + (f"; output in {where}" if where else "")
        return code, f"crewai run: the {status.get('flow')} flow failed (exit {code}): {status.get('error', '')}"
    if child_exit is not None:
        from .models.selftest import _describe_death

        cause = _describe_death(child_exit) if child_exit < 0 or child_exit > 128 else f"it exited with {child_exit}"
        code = child_exit if 0 < child_exit < 256 else 1
        return code, f"crewai run: the flow process died before finishing: {cause}; run `mmcrew doctor` for details"
    if crewai_exit != 0:
        return crewai_exit, f"crewai run exited with status {crewai_exit}"
    return 1, "crewai run: the flow did not report an outcome (was `kickoff` run?); no result was written"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    bin_dir = Path(sys.executable).parent
    crewai = shutil.which("crewai", path=str(bin_dir)) or shutil.which("crewai")
    if not crewai:
        print("crewai run: the `crewai` command is not installed; run: make setup", file=sys.stderr)
        return 3
    fd, status_path = tempfile.mkstemp(prefix="mmcrew-run-", suffix=".json")
    os.close(fd)
    os.unlink(status_path)  # kickoff creates it; its absence means the flow never finished
    # `crewai run` calls `uv run kickoff`; uv is in the venv, so put the venv first on PATH
    env = dict(os.environ, MMCREW_RUN_STATUS=status_path, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.Popen([crewai, "run", *argv], env=env, stderr=subprocess.PIPE)
    seen = bytearray()

    def pump() -> None:  # stream crewai's stderr through unchanged, keeping a copy to read the exit status
        assert proc.stderr is not None
        while chunk := os.read(proc.stderr.fileno(), 65536):
            sys.stderr.buffer.write(chunk)
            sys.stderr.buffer.flush()
            seen.extend(chunk[-4096:])
            del seen[:-8192]

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    try:
        crewai_exit = proc.wait()
    except KeyboardInterrupt:
        proc.wait()
        crewai_exit = 130
    t.join(timeout=5)
    status = None
    try:
        status = json.loads(Path(status_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    finally:
        Path(status_path).unlink(missing_ok=True)
    m = _EXIT_RE.search(bytes(seen))
    code, message = verdict(status, int(m.group(1)) if m else None, crewai_exit)
    print(message, file=sys.stderr if code else sys.stdout)
    return code


if __name__ == "__main__":
    sys.exit(main())
