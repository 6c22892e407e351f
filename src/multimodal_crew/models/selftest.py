"""Does this llama.cpp build run on this CPU? Checked, not assumed.

Two checks, both used by setup (``make model``), ``mmcrew doctor`` and the test suite:

* ``build_problems()`` (cheap, in-process, before every model load): the CPU features the
  build was compiled for, read from ``llama_print_system_info()``, must all be on this CPU,
  and AMX must be off (llama.cpp's AMX matmul dies with SIGILL on Xeons that report AMX,
  upstream llama.cpp PR 26954).
* ``run_selftest()`` (about 20 s): a child process loads the model and decodes a prompt of
  ``SELFTEST_TOKENS`` tokens, long enough for the batched matrix multiplies a one-line prompt
  never reaches, then generates a few tokens. If the child dies (SIGILL, SIGSEGV, anything),
  the error names the cause and the command that fixes it. A pass is remembered in
  ``$MMCREW_HOME/selftest.json`` for this exact library, CPU and model file.

    python -m multimodal_crew.models.selftest MODEL.gguf     # the child; prints one JSON line
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import ConfigError
from ..hashing import short_hash

__all__ = [
    "SELFTEST_TOKENS",
    "REBUILD_HINT",
    "SelfTestError",
    "SelfTestResult",
    "cpu_flags",
    "system_info",
    "build_features",
    "build_problems",
    "check_build",
    "library_files",
    "tile_instruction_count",
    "run_selftest",
    "cached_selftest",
    "probe_system_info",
]

SELFTEST_TOKENS = 1100
REBUILD_HINT = "make llama-rebuild"

# llama_print_system_info() names -> the /proc/cpuinfo flags each needs
_SYSINFO_FLAGS: dict[str, tuple[str, ...]] = {
    "SSE3": ("pni",),
    "SSSE3": ("ssse3",),
    "AVX": ("avx",),
    "AVX2": ("avx2",),
    "F16C": ("f16c",),
    "FMA": ("fma",),
    "BMI2": ("bmi2",),
    "AVX_VNNI": ("avx_vnni",),
    "AVX512": ("avx512f",),
    "AVX512_VBMI": ("avx512vbmi",),
    "AVX512_VNNI": ("avx512_vnni",),
    "AVX512_BF16": ("avx512_bf16",),
    "AMX_INT8": ("amx_int8",),
}
_AMX = ("AMX_INT8", "AMX_TILE", "AMX_BF16")


class SelfTestError(ConfigError):
    """The embedded runtime crashed or failed its self-test on this machine."""


@dataclass
class SelfTestResult:
    ok: bool
    prompt_tokens: int
    prompt_tps: float
    gen_tokens: int
    gen_tps: float
    seconds: float
    system_info: str

    def summary(self) -> str:
        return (
            f"decoded a {self.prompt_tokens}-token prompt at {self.prompt_tps:.1f} tok/s and generated "
            f"{self.gen_tokens} tokens at {self.gen_tps:.1f} tok/s in a child process"
        )


def cpu_flags() -> set[str]:
    """This CPU's /proc/cpuinfo flags. scripts/build_llama.py keeps its own copy on purpose: it runs
    in a bare venv, before this package and its dependencies are installed."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def system_info() -> str:
    import llama_cpp

    return llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()


def build_features(info: str) -> dict[str, bool]:
    """``"CPU : SSE3 = 1 | AVX2 = 1 | ..."`` -> ``{"SSE3": True, "AVX2": True, ...}``."""
    out: dict[str, bool] = {}
    for part in info.replace(":", "|").split("|"):
        if "=" in part:
            name, _, value = part.partition("=")
            name = name.strip()
            if name.isupper() or "_" in name:
                out[name] = value.strip() not in ("0", "")
    return out


def build_problems(info: str | None = None, flags: set[str] | None = None) -> list[str]:
    """What is wrong with running this llama.cpp build on this CPU (empty: nothing)."""
    info = system_info() if info is None else info
    flags = cpu_flags() if flags is None else flags
    features = build_features(info)
    problems = []
    amx = [f for f in _AMX if features.get(f)]
    if amx:
        problems.append(
            f"the llama.cpp build has AMX code ({', '.join(amx)}), which dies with SIGILL on CPUs that report AMX "
            f"(llama.cpp PR 26954); rebuild it without AMX: {REBUILD_HINT}"
        )
    if flags:  # no /proc/cpuinfo (not Linux): nothing to compare against
        lacking = sorted(
            name
            for name, needs in _SYSINFO_FLAGS.items()
            if name not in _AMX and features.get(name) and not all(n in flags for n in needs)
        )
        if lacking:
            problems.append(
                f"the llama.cpp build uses {', '.join(lacking)}, which this CPU does not have (it was built on "
                f"another machine); rebuild it here: {REBUILD_HINT}"
            )
    return problems


def probe_system_info(timeout: float = 120.0) -> str:
    """``system_info()`` read in a child process, so a library that cannot even load here (SIGILL at
    import) is reported with its cause instead of killing the caller (``mmcrew doctor``)."""
    cmd = [sys.executable, "-m", "multimodal_crew.models.selftest", "--info"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_child_env())
    except subprocess.TimeoutExpired:
        raise SelfTestError(f"loading llama.cpp did not finish in {timeout:.0f} s") from None
    if proc.returncode != 0:
        last = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        if 0 < proc.returncode < 128 and last:
            raise SelfTestError(f"llama.cpp could not be loaded: {last[-1].strip()}; run: make setup")
        raise SelfTestError(_describe_death(proc.returncode))
    return proc.stdout.strip().splitlines()[-1]


def _child_env() -> dict[str, str]:
    return dict(os.environ, PYTHONFAULTHANDLER="")  # a crash is reported by its signal, not a traceback


def check_build() -> None:
    """Raise ``SelfTestError`` before a model loads on a build that cannot run here."""
    problems = build_problems()
    if problems:
        raise SelfTestError("; ".join(problems))


def library_files() -> list[Path]:
    """The native libraries of the installed llama-cpp-python (libllama, libggml*)."""
    import importlib.util

    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.origin:
        return []
    lib = Path(spec.origin).parent / "lib"
    return sorted(p for p in lib.glob("lib*.so*") if p.is_file() and not p.is_symlink())


def tile_instruction_count(path: Path) -> int | None:
    """AMX tile instructions (tilezero, tdpb*, ldtilecfg, ...) in a library; None without objdump."""
    try:
        out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(path)], capture_output=True, text=True)
    except FileNotFoundError:
        return None
    if out.returncode != 0:
        return None
    count = 0
    for line in out.stdout.splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            op = parts[1].split(" ", 1)[0].strip()
            if op.startswith(
                ("tilezero", "tdpb", "tdpf", "ldtilecfg", "sttilecfg", "tileload", "tilestore", "tilerelease")
            ):
                count += 1
    return count


def _fingerprint(model_path: Path, threads: int) -> str:
    """Changes when the llama.cpp library, the CPU, the model file or the test changes."""
    parts = [f"{lib.name}:{lib.stat().st_size}:{lib.stat().st_mtime_ns}" for lib in library_files()]
    parts.append(" ".join(sorted(cpu_flags())))
    st = model_path.stat()
    parts.append(f"{model_path.resolve()}:{st.st_size}:{threads}:{SELFTEST_TOKENS}")
    return short_hash("".join(parts))


def _describe_death(code: int) -> str:
    sig = -code if code < 0 else code - 128 if code > 128 else 0
    try:
        name = signal.Signals(sig).name if sig else ""
    except ValueError:
        name = f"signal {sig}"
    if name == "SIGILL":
        return (
            "the embedded model crashed with SIGILL (illegal instruction): this llama.cpp build uses an "
            f"instruction this CPU cannot run (AMX or a feature of the machine it was built on); rebuild it: {REBUILD_HINT}"
        )
    if name:
        return (
            f"the embedded model crashed with {name} while decoding a {SELFTEST_TOKENS}-token prompt; "
            f"rebuild llama.cpp ({REBUILD_HINT}) and re-fetch the model (rm the file, make model)"
        )
    return f"the embedded model's self-test exited with status {code}"


def run_selftest(model_path: Path, threads: int = 2, timeout: float = 300.0) -> SelfTestResult:
    """Decode a long prompt in a child process; raise ``SelfTestError`` naming the cause if it fails."""
    if not model_path.is_file():
        raise SelfTestError(f"no model file at {model_path}; run: make model")
    cmd = [sys.executable, "-m", "multimodal_crew.models.selftest", str(model_path), "--threads", str(threads)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_child_env())
    except subprocess.TimeoutExpired:
        raise SelfTestError(
            f"the embedded model's self-test did not finish in {timeout:.0f} s (a {SELFTEST_TOKENS}-token prompt "
            "takes about 20 s on 2 cores); the machine may be overloaded, or the build is very slow"
        ) from None
    if proc.returncode != 0:
        last = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        detail = _describe_death(proc.returncode)
        if proc.returncode > 0 and proc.returncode < 128 and last:
            detail = f"the embedded model's self-test failed: {last[-1].strip()}"
        raise SelfTestError(detail)
    try:
        data = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise SelfTestError(f"the embedded model's self-test printed no result: {proc.stdout[-200:]!r}") from None
    return SelfTestResult(**data)


def cached_selftest(model_path: Path, home: Path, threads: int = 2, force: bool = False) -> tuple[SelfTestResult, bool]:
    """``run_selftest`` unless it already passed for this library, CPU and model; returns (result, cached)."""
    record = home / "selftest.json"
    key = _fingerprint(model_path, threads) if model_path.is_file() else ""
    if not force and key:
        try:
            data = json.loads(record.read_text(encoding="utf-8"))
            if data.get("key") == key:
                return SelfTestResult(**data["result"]), True
        except (OSError, ValueError, KeyError, TypeError):
            pass
    result = run_selftest(model_path, threads)
    home.mkdir(parents=True, exist_ok=True)
    tmp = record.with_suffix(".tmp")
    tmp.write_text(json.dumps({"key": key, "result": asdict(result)}, indent=2), encoding="utf-8")
    tmp.replace(record)
    return result, False


_FILLER = (
    "The contractor services the elevators every month, clears the roof drains every quarter and after "
    "storms, replaces the air filters every three months and tests the sprinklers in April and October. "
)


def _child(model_path: str, threads: int, n_tokens: int) -> int:
    import numpy as np
    from llama_cpp import Llama

    info = system_info()
    problems = build_problems(info)
    if problems:
        print("; ".join(problems), file=sys.stderr)
        return 3
    llama = Llama(model_path=model_path, n_ctx=n_tokens + 256, n_batch=512, n_threads=threads, verbose=False)
    tokens = llama.tokenize(_FILLER.encode() * (n_tokens // 30 + 2))[:n_tokens]
    started = time.perf_counter()
    llama.eval(tokens)
    t_prompt = time.perf_counter() - started
    gen = 0
    t0 = time.perf_counter()
    n_vocab = llama.n_vocab()
    for _ in range(16):  # greedy: the argmax of the last position's logits
        tok = int(np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(n_vocab,)).argmax())
        llama.eval([tok])
        gen += 1
    t_gen = time.perf_counter() - t0
    result = SelfTestResult(
        ok=True,
        prompt_tokens=len(tokens),
        prompt_tps=round(len(tokens) / t_prompt, 2),
        gen_tokens=gen,
        gen_tps=round(gen / t_gen, 2),
        seconds=round(time.perf_counter() - started, 2),
        system_info=info,
    )
    llama.close()
    print(json.dumps(asdict(result)), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="llama.cpp self-test child: decode a long prompt, print JSON")
    ap.add_argument("model", nargs="?")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=SELFTEST_TOKENS)
    ap.add_argument("--info", action="store_true", help="only print llama_print_system_info()")
    a = ap.parse_args(argv)
    if a.info:
        try:
            print(system_info(), flush=True)
        except ImportError as e:
            print(f"llama-cpp-python is not installed ({e})", file=sys.stderr)
            return 2
        return 0
    if not a.model or not Path(a.model).is_file():
        print(f"no model file at {a.model}; run: make model", file=sys.stderr)
        return 2
    return _child(a.model, a.threads, a.tokens)


if __name__ == "__main__":
    sys.exit(main())
