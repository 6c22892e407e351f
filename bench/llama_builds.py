"""llama.cpp builds compared in one run: prompt and generation tokens/s of each, same model, same prompt.

Each build is a llama-cpp-python wheel (see scripts/build_llama.py for how ours is built). Every wheel
is unpacked into its own folder; the self-test child (multimodal_crew.models.selftest) runs with that
folder first on PYTHONPATH, decodes a SELFTEST_TOKENS-token prompt and generates 16 tokens. Builds are
interleaved, REPEATS rounds, one child at a time (llama.cpp threads starve each other); medians are
printed with ratios to the first build. A build that crashes is reported with its signal.

    python bench/llama_builds.py NAME=WHEEL [NAME=WHEEL ...] [--repeats 3] [--model qwen2.5-coder-1.5b]

Also reports, per build, what llama_print_system_info() says and how many AMX tile instructions its
libraries contain (objdump).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import multimodal_crew  # noqa: F401  (offline env)
from multimodal_crew.models.selftest import build_features, tile_instruction_count
from multimodal_crew.models.weights import model_file
from multimodal_crew.settings import Settings


def unpack(wheel: Path, into: Path) -> Path:
    with zipfile.ZipFile(wheel) as z:
        z.extractall(into)
    return into


def run_child(site: Path, model: Path, threads: int) -> dict:
    env = dict(os.environ, PYTHONPATH=f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    cmd = [sys.executable, "-m", "multimodal_crew.models.selftest", str(model), "--threads", str(threads)]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    if p.returncode != 0:
        return {"ok": False, "code": p.returncode, "stderr": p.stderr.strip()[-300:]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("builds", nargs="+", help="NAME=path/to/llama_cpp_python-*.whl (the first is the baseline)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--model", default=None)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    s = Settings()
    model = model_file(a.model or s.embedded_model, s.models_path)
    threads = a.threads or s.threads
    tmp = Path(tempfile.mkdtemp(prefix="llama-builds-"))
    sites: dict[str, Path] = {}
    for spec in a.builds:
        name, _, wheel = spec.partition("=")
        sites[name] = unpack(Path(wheel), tmp / name)

    print(f"model {model.name}, {threads} threads, {a.repeats} rounds, CPU: {_cpu_name()}")
    for name, site in sites.items():
        libs = sorted((site / "llama_cpp" / "lib").glob("lib*.so*"))
        tiles = sum((tile_instruction_count(p) or 0) for p in libs)
        print(f"  {name}: {len(libs)} libraries, AMX tile instructions: {tiles}")

    runs: dict[str, list[dict]] = {n: [] for n in sites}
    for r in range(a.repeats):
        for name, site in sites.items():
            res = run_child(site, model, threads)
            runs[name].append(res)
            state = f"{res['prompt_tps']:.1f} / {res['gen_tps']:.1f} tok/s" if res.get("ok") else f"FAILED {res}"
            print(f"  round {r + 1} {name}: prompt / generation {state}", flush=True)

    base = None
    print(f"\n{'build':<12} {'prompt tok/s':>12} {'gen tok/s':>10} {'prompt x':>9} {'gen x':>7}  features")
    for name, rs in runs.items():
        ok = [x for x in rs if x.get("ok")]
        if not ok:
            print(f"{name:<12} {'crashed':>12}  {rs[0]}")
            continue
        p = statistics.median(x["prompt_tps"] for x in ok)
        g = statistics.median(x["gen_tps"] for x in ok)
        base = base or (p, g)
        feats = [k for k, v in build_features(ok[0]["system_info"]).items() if v]
        print(f"{name:<12} {p:>12.1f} {g:>10.1f} {p / base[0]:>9.2f} {g / base[1]:>7.2f}  {' '.join(feats)}")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


if __name__ == "__main__":
    main()
