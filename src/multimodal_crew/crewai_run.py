"""``crewai run`` for scripts and ``make run``: plain output, and an exit status that names a crash.

``crewai run`` runs the YAML flow of ``[tool.crewai].definition`` and exits non-zero when it
fails. In a terminal it opens CrewAI's interactive TUI; this wrapper gives it no terminal on
stdin, so the flow's progress and result are printed as plain lines. When the flow process
dies without a word (SIGILL from a llama.cpp build that does not fit the CPU), the one line
it prints names the signal and what to do.

    python -m multimodal_crew.crewai_run [crewai run arguments]
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

__all__ = ["main", "verdict"]

_ERROR_RE = re.compile(rb"An error occurred while running the declarative flow: ([^\n]*)")


def verdict(exit_code: int, error: str = "") -> tuple[int, str]:
    """(exit code, message) for how ``crewai run`` ended; ``error``: the flow's error line, if it printed one."""
    if exit_code == 0:
        return 0, "crewai run: finished"
    if exit_code < 0 or exit_code > 128:
        from .models.selftest import _describe_death

        return (exit_code if 0 < exit_code < 256 else 1), (
            f"crewai run: the flow process died: {_describe_death(exit_code)}; run `mmcrew doctor` for details"
        )
    return exit_code, f"crewai run: the flow failed (exit {exit_code}): {error or 'its error is printed above'}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    bin_dir = Path(sys.executable).parent
    crewai = shutil.which("crewai", path=str(bin_dir)) or shutil.which("crewai")
    if not crewai:
        print("crewai run: the `crewai` command is not installed; run: make setup", file=sys.stderr)
        return 3
    # `crewai run` calls `uv run crewai run`; uv is in the venv, so put the venv first on PATH
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.Popen([crewai, "run", *argv], env=env, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = bytearray()

    def pump() -> None:  # stream stderr through unchanged, keeping its tail to repeat the error line
        assert proc.stderr is not None
        while chunk := os.read(proc.stderr.fileno(), 65536):
            sys.stderr.buffer.write(chunk)
            sys.stderr.buffer.flush()
            seen.extend(chunk)
            del seen[:-16384]

    t = threading.Thread(target=pump, daemon=True)
    t.start()
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        code = proc.wait() or 130
    t.join(timeout=5)
    found = _ERROR_RE.findall(bytes(seen))
    code, message = verdict(code, found[-1].decode("utf-8", "replace").strip() if found else "")
    print(message, file=sys.stderr if code else sys.stdout)
    return code


if __name__ == "__main__":
    sys.exit(main())
