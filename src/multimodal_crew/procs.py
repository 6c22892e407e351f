"""Which process is alive, and which staging folders belong to a live one.

A process is known by its pid *and* its identity (boot id and start time, read from
``/proc`` on Linux), so a pid reused by an unrelated process is not taken for it.

A flow's staging folder ``<outputs>/<flow>/.staging-<id>`` has an owner file next to it,
``.staging-<id>.owner`` (written before the folder exists, removed after it is published
or discarded), naming the process that writes it. A staging folder whose owner is gone
belongs to a run that was killed; ``clean_stale_staging`` removes it.
"""

from __future__ import annotations

import functools
import os
import shutil
import threading
import time
from pathlib import Path

__all__ = [
    "identity",
    "alive",
    "claim_staging",
    "release_staging",
    "clean_stale_staging",
    "clean_all_stale_staging",
    "remove_own_staging",
    "on_interrupt",
    "drop_interrupt",
    "run_interrupt_hooks",
    "EXIT_ON_INTERRUPT",
]

OWNER_SUFFIX = ".owner"
# a staging folder with no owner file (left by an older version) is stale once untouched this long
UNOWNED_GRACE = 3600.0


@functools.cache  # a constant of the running system: threads that race here read the same value
def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _stat(pid: int) -> list[bytes] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    return data[data.rindex(b")") + 2 :].split()


def identity(pid: int) -> str:
    """``"<boot id>:<start time in clock ticks>"`` of process ``pid``; "" where that cannot be read."""
    fields = _stat(pid)
    if not fields or len(fields) < 20:
        return ""
    return f"{_boot_id()}:{fields[19].decode()}"


def _exists(pid: int) -> bool:
    if pid <= 0:
        return False
    fields = _stat(pid)
    if fields is not None:
        return fields[0] not in (b"Z", b"X")  # a zombie has ended; it only waits to be reaped
    if os.path.isdir("/proc/self"):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def alive(pid: int | None, ident: str | None = "") -> bool:
    """Whether process ``pid`` still runs and, when ``ident`` is known, is the same process."""
    if not pid or not _exists(pid):
        return False
    if not ident:
        return True
    now = identity(pid)
    return not now or now == ident


# -- staging folders ------------------------------------------------------------------------
def _owner_file(staging: Path) -> Path:
    return staging.with_name(staging.name + OWNER_SUFFIX)


def claim_staging(staging: Path) -> None:
    """Before ``staging`` is created: name this process as its owner, and remove the staging
    folders next to it that no live process owns."""
    staging = Path(staging)
    staging.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_staging(staging.parent)
    pid = os.getpid()
    _owner_file(staging).write_text(f"{pid} {identity(pid)}\n", encoding="utf-8")


def release_staging(staging: Path) -> None:
    """After ``staging`` was published or removed."""
    _owner_file(Path(staging)).unlink(missing_ok=True)


def _owner(owner_file: Path) -> tuple[int, str] | None:
    try:
        parts = owner_file.read_text(encoding="utf-8").split()
        return int(parts[0]), (parts[1] if len(parts) > 1 else "")
    except (OSError, ValueError, IndexError):
        return None


def _remove(staging: Path) -> None:
    for _ in range(3):  # a file written while it is removed can make one pass fail
        shutil.rmtree(staging, ignore_errors=True)
        if not staging.exists():
            break
    release_staging(staging)


def clean_stale_staging(folder: Path) -> list[Path]:
    """Remove the ``.staging-*`` folders in ``folder`` (one flow's outputs) whose owner is gone;
    return them."""
    removed: list[Path] = []
    try:
        entries = list(Path(folder).glob(".staging-*"))
    except OSError:
        return removed
    now = time.time()
    for p in entries:
        if p.name.endswith(OWNER_SUFFIX):
            staging = p.with_name(p.name[: -len(OWNER_SUFFIX)])
            owner = _owner(p)
            if owner is None:  # being written right now, or unreadable: judged by its age
                try:
                    if now - p.stat().st_mtime < 60:
                        continue
                except OSError:
                    continue
            elif alive(*owner):
                continue
            _remove(staging)
            removed.append(staging)
        elif p.is_dir() and not _owner_file(p).exists():
            try:
                if now - p.stat().st_mtime < UNOWNED_GRACE:
                    continue
            except OSError:
                continue
            _remove(p)
            removed.append(p)
    return removed


def clean_all_stale_staging(outputs: Path) -> list[Path]:
    """``clean_stale_staging`` for every flow's output folder under ``outputs``."""
    removed: list[Path] = []
    if Path(outputs).is_dir():
        for folder in Path(outputs).iterdir():
            if folder.is_dir():
                removed += clean_stale_staging(folder)
    return removed


# Publishing a staging folder (a rename) and removing this process's staging folders (a run being
# stopped by its watchdog thread) exclude each other: a half-removed folder is never published.
# Once ``remove_own_staging`` ran, ``STOPPING`` is set and nothing more is published.
PUBLISH_LOCK = threading.Lock()
STOPPING = threading.Event()


def remove_own_staging(outputs: Path) -> list[Path]:
    """Remove every staging folder under ``outputs`` that this process owns (a run being stopped);
    from then on this process publishes nothing."""
    with PUBLISH_LOCK:
        STOPPING.set()
        return _remove_own(outputs)


def _remove_own(outputs: Path) -> list[Path]:
    me = (os.getpid(), identity(os.getpid()))
    removed: list[Path] = []
    for owner_file in Path(outputs).glob(f"*/.staging-*{OWNER_SUFFIX}"):
        if _owner(owner_file) == me:
            staging = owner_file.with_name(owner_file.name[: -len(OWNER_SUFFIX)])
            _remove(staging)
            removed.append(staging)
    return removed


# Work that must be marked when the user presses Ctrl-C (a plan's run folder says "interrupted").
# ``run_flow`` runs these hooks from its SIGINT handler, in the main thread, while CrewAI's worker
# thread may still be inside a step. Under the ``mmcrew`` CLI (``EXIT_ON_INTERRUPT``) the process
# then exits at once with 130 instead of waiting for that step: what finished is already on disk.
_INTERRUPT_HOOKS: dict[int, object] = {}
_HOOKS_LOCK = threading.Lock()
_NEXT_HOOK = iter(range(1, 1 << 62))
EXIT_ON_INTERRUPT = threading.Event()


def on_interrupt(hook) -> int:
    """Call ``hook()`` if the process is interrupted before ``drop_interrupt(token)``."""
    with _HOOKS_LOCK:
        token = next(_NEXT_HOOK)
        _INTERRUPT_HOOKS[token] = hook
    return token


def drop_interrupt(token: int) -> None:
    with _HOOKS_LOCK:
        _INTERRUPT_HOOKS.pop(token, None)


def run_interrupt_hooks() -> int:
    """Run (and forget) every registered hook; how many there were. A hook that fails is skipped."""
    with _HOOKS_LOCK:
        hooks = list(_INTERRUPT_HOOKS.values())
        _INTERRUPT_HOOKS.clear()
    for hook in hooks:
        try:
            hook()
        except Exception:  # noqa: BLE001 - marking is best effort; the interrupt goes on
            pass
    return len(hooks)
