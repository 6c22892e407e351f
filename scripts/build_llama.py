"""Build and install llama-cpp-python so that it runs on this CPU and never executes AMX code.

This is the one place the llama.cpp build flags live; `make setup` runs it before the project is
installed (standard library only, so it runs in a bare venv).

Why: llama-cpp-python's default build (``GGML_NATIVE=ON``, ``-march=native``) turns on every
instruction set the build machine has. On Xeons that report AMX, llama.cpp's AMX matmul dies with
SIGILL (``tilezero`` in ``ggml_backend_amx_mul_mat``, upstream llama.cpp PR 26954) as soon as a
prompt is long enough for a batched matrix multiply. Turning the ``GGML_AMX_*`` options off does
not help while ``GGML_NATIVE=ON``. So the build is ``GGML_NATIVE=OFF`` with the x86 features listed
explicitly (see FEATURES and the policy below) and AMX always off.

Wheel reuse: pip caches a wheel it built from source under the sdist's name only, whatever
``CMAKE_ARGS`` said, and would hand a wheel built on one CPU to another. This script therefore
builds with ``--no-cache-dir`` into a folder of its own whose name carries a hash of the exact
flags (``$MMCREW_WHEEL_CACHE``, default ``~/.cache/multimodal-crew/wheels``), and installs from
there. A machine whose CPU needs other flags gets another folder and its own build; the embedded
runtime also refuses to load a build that uses a feature the CPU lacks (``mmcrew doctor``).

    python scripts/build_llama.py            # build if needed, install into this interpreter
    python scripts/build_llama.py --print    # show the flags and the wheel folder, do nothing
    python scripts/build_llama.py --rebuild  # throw the cached wheel away and build again
    LLAMA_BUILD_POLICY=portable python scripts/build_llama.py   # AVX2 baseline, runs on any x86-64-v3
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

VERSION = "0.3.36"
PACKAGE = f"llama-cpp-python=={VERSION}"

# (ggml CMake option, the /proc/cpuinfo flags it needs). GGML_AVX512 compiles with
# -mavx512f -mavx512cd -mavx512vl -mavx512dq -mavx512bw, so it needs all five.
FEATURES: list[tuple[str, tuple[str, ...]]] = [
    ("GGML_SSE42", ("sse4_2",)),
    ("GGML_AVX", ("avx",)),
    ("GGML_F16C", ("f16c",)),
    ("GGML_FMA", ("fma",)),
    ("GGML_AVX2", ("avx2",)),
    ("GGML_BMI2", ("bmi2",)),
    ("GGML_AVX_VNNI", ("avx_vnni",)),
    ("GGML_AVX512", ("avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw")),
    ("GGML_AVX512_VBMI", ("avx512vbmi",)),
    ("GGML_AVX512_VNNI", ("avx512_vnni",)),
    ("GGML_AVX512_BF16", ("avx512_bf16",)),
]
PORTABLE = {"GGML_SSE42", "GGML_AVX", "GGML_F16C", "GGML_FMA", "GGML_AVX2", "GGML_BMI2"}  # x86-64-v3
NEVER = ("GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16")  # llama.cpp's AMX path crashes (SIGILL)


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def cmake_args(policy: str, flags: set[str]) -> list[str]:
    """The CMake options for ``policy`` on a CPU with ``flags``.

    host:      every listed feature this CPU has (AMX never), the fastest build that fits it
    portable:  the AVX2 baseline (x86-64-v3), one wheel for every CPU of that level
    """
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return []  # llama.cpp's own defaults; the AMX problem is x86-only
    args = ["-DGGML_NATIVE=OFF"]
    for option, needs in FEATURES:
        if policy == "portable":
            on = option in PORTABLE
        else:
            on = all(f in flags for f in needs)
        args.append(f"-D{option}={'ON' if on else 'OFF'}")
    args += [f"-D{o}=OFF" for o in NEVER]
    return args


def missing_features(args: list[str], flags: set[str]) -> list[str]:
    """CPU flags a build with ``args`` uses that this CPU does not have."""
    need = {f for option, fl in FEATURES if f"-D{option}=ON" in args for f in fl}
    return sorted(need - flags)


def build_key(args: list[str]) -> str:
    return hashlib.sha256(json.dumps([VERSION, args]).encode()).hexdigest()[:12]


def wheel_dir(key: str) -> Path:
    root = (
        os.environ.get("MMCREW_WHEEL_CACHE")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "multimodal-crew" / "wheels"
    )
    return Path(root) / f"llama-cpp-python-{VERSION}-{key}"


def stamp_path() -> Path:
    return Path(sys.prefix) / "llama-build.json"


def installed_key() -> str | None:
    try:
        return json.loads(stamp_path().read_text(encoding="utf-8")).get("key")
    except (OSError, ValueError):
        return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--policy", choices=("host", "portable"), default=os.environ.get("LLAMA_BUILD_POLICY", "host"))
    ap.add_argument("--print", action="store_true", help="show the flags and the wheel folder, do nothing")
    ap.add_argument("--rebuild", action="store_true", help="delete the cached wheel and build again")
    a = ap.parse_args()

    flags = cpu_flags()
    args = cmake_args(a.policy, flags)
    key = build_key(args)
    folder = wheel_dir(key)
    if a.print:
        print(json.dumps({"policy": a.policy, "cmake_args": args, "key": key, "wheel_dir": str(folder)}, indent=2))
        return 0
    lacking = missing_features(args, flags)
    if lacking:
        print(f"build_llama: the {a.policy!r} build needs CPU features this CPU lacks: {', '.join(lacking)}; "
              "use LLAMA_BUILD_POLICY=host", file=sys.stderr)  # fmt: skip
        return 1
    if a.rebuild and folder.exists():
        shutil.rmtree(folder)
    wheels = sorted(folder.glob("llama_cpp_python-*.whl"))
    if not wheels:
        print(f"build_llama: building llama-cpp-python {VERSION} from source ({a.policy} policy, AMX off; "
              f"about 4 minutes on 2 cores)\n  CMAKE_ARGS={' '.join(args)}", file=sys.stderr, flush=True)  # fmt: skip
        tmp = folder.with_name(folder.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        env = dict(os.environ, CMAKE_ARGS=" ".join(args))
        env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
        started = time.monotonic()
        cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-cache-dir",
               "--no-binary", "llama-cpp-python", PACKAGE, "-w", str(tmp)]  # fmt: skip
        if subprocess.run(cmd, env=env).returncode != 0:
            print("build_llama: building llama-cpp-python failed (see above); it needs a C/C++ compiler and cmake "
                  "(pip installs cmake itself)", file=sys.stderr)  # fmt: skip
            return 1
        folder.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
        (folder / "build.json").write_text(
            json.dumps(
                {
                    "version": VERSION,
                    "policy": a.policy,
                    "cmake_args": args,
                    "seconds": round(time.monotonic() - started),
                },
                indent=2,
            ),  # fmt: skip
            encoding="utf-8",
        )
        wheels = sorted(folder.glob("llama_cpp_python-*.whl"))
    if installed_key() == key and not a.rebuild:
        return 0
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(wheels[-1])]
    if subprocess.run(cmd).returncode != 0:
        print(f"build_llama: installing {wheels[-1]} failed", file=sys.stderr)
        return 1
    stamp_path().write_text(
        json.dumps({"key": key, "policy": a.policy, "cmake_args": args, "wheel": str(wheels[-1])}, indent=2),
        encoding="utf-8",
    )
    print(f"build_llama: installed llama-cpp-python {VERSION} ({a.policy} build {key}, AMX off)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
