"""The warm server against a new ``mmcrew ask`` process per question, in one run on this machine.

    .venv/bin/python bench/serve.py [--questions 20] [--clients 16] [--port 8767]

Starts ``mmcrew serve`` (model and retriever loaded once) on loopback, then for each question runs
``mmcrew ask QUESTION --json`` (the baseline: a new process that loads CrewAI, the embedder and the
model) and the same question through ``POST /runs`` + the run's events, alternating so that the
machine's noise falls on both alike. Prints per-question seconds, p50/p95 of each and their ratio;
the time from ``POST /runs`` to the first event on ``/runs/{id}/events``; ``--clients`` clients
asking at once (answered, in submission order, errors); and the page image with a highlighted quote
(``GET /documents/{id}/pages/{n}.png?quote=``) when the documents API is there.

Questions: bench/data/rag/sample_qa.jsonl, sample_unanswerable.jsonl, then northwind_zh.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
DATA = ROOT / "bench" / "data" / "rag"


def questions(n: int) -> list[str]:
    out: list[str] = []
    for name in ("sample_qa.jsonl", "sample_unanswerable.jsonl", "northwind_zh.jsonl"):
        for line in (DATA / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                out.append(json.loads(line)["question"])
    return out[:n]


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q * (len(xs) - 1)))] if xs else float("nan")


def start_server(port: int) -> subprocess.Popen:
    proc = subprocess.Popen([str(BIN / "mmcrew"), "serve", "--port", str(port)], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"mmcrew serve exited: {proc.stderr.read()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/flows", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(1)
    raise SystemExit("mmcrew serve did not come up in 600 s")


def ask_server(base: str, question: str) -> tuple[float, float, dict]:
    """(seconds to the final status, seconds to the first event, the run record)."""
    t0 = time.perf_counter()
    run = httpx.post(f"{base}/runs", json={"flow": "ask", "inputs": {"question": question}}, timeout=30).json()
    first = None
    with httpx.stream("GET", f"{base}/runs/{run['id']}/events", timeout=600) as r:
        for line in r.iter_lines():
            if first is None and line.startswith("id:"):
                first = time.perf_counter() - t0
            if line.startswith("data:") and '"final": true' in line:
                break
    total = time.perf_counter() - t0
    return total, first or float("nan"), httpx.get(f"{base}/runs/{run['id']}", timeout=30).json()


def ask_cli(question: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    proc = subprocess.run([str(BIN / "mmcrew"), "ask", question, "--json"], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - t0, proc.returncode


def concurrent(base: str, n: int) -> dict:
    """``n`` clients post an ``ask`` at once (the bench's questions, in turn); every run is awaited."""
    asked = questions(n)
    ids: list[str | None] = [None] * n
    errors: list[str] = []
    barrier = threading.Barrier(n)

    def client(i: int) -> None:
        try:
            barrier.wait()
            question = asked[i % len(asked)]
            r = httpx.post(f"{base}/runs", json={"flow": "ask", "inputs": {"question": question}}, timeout=60)
            r.raise_for_status()
            ids[i] = r.json()["id"]
        except Exception as e:  # noqa: BLE001 - every failure is counted
            errors.append(f"{i}: {e}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records = []
    for run_id in filter(None, ids):
        while (rec := httpx.get(f"{base}/runs/{run_id}", timeout=30).json())["status"] in ("queued", "running"):
            time.sleep(1)
        records.append(rec)
    by_created = sorted(records, key=lambda r: r["created"])
    in_order = all(a["started"] <= b["started"] for a, b in zip(by_created, by_created[1:], strict=False))
    answered = sum(r["status"] in ("ok", "abstained") for r in records)
    span = max(r["finished"] for r in records) - min(r["created"] for r in records) if records else 0.0
    return {"clients": n, "answered": answered, "in_order": in_order, "errors": errors,
            "statuses": sorted({r["status"] for r in records}), "seconds_all": round(span, 1)}  # fmt: skip


def page_images(base: str, n: int = 20) -> dict | None:
    docs = httpx.get(f"{base}/documents", timeout=30)
    if docs.status_code != 200 or not docs.json():
        return None
    doc = next((d for d in docs.json() if str(d.get("file", "")).endswith(".pdf")), None)
    if doc is None:
        return None
    times = []
    for k in range(n):
        page = 1 + k % max(1, int(doc.get("pages") or 1))
        info = httpx.get(f"{base}/documents/{doc['doc_id']}/pages/{page}", timeout=30).json()
        quote = " ".join(str(info.get("text", "")).split()[10:30])
        t0 = time.perf_counter()
        r = httpx.get(f"{base}/documents/{doc['doc_id']}/pages/{page}.png", params={"quote": quote}, timeout=30)
        times.append(time.perf_counter() - t0)
        r.raise_for_status()
    return {"n": n, "p50_ms": round(1000 * pct(times, 0.5), 1), "p95_ms": round(1000 * pct(times, 0.95), 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", type=int, default=20)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--port", type=int, default=8767)
    args = ap.parse_args()
    os.environ.setdefault("MMCREW_MODEL", "embedded")
    base = f"http://127.0.0.1:{args.port}"
    server = start_server(args.port)
    try:
        warm, cold, firsts = [], [], []
        for i, q in enumerate(questions(args.questions), 1):
            c, code = ask_cli(q)
            w, first, rec = ask_server(base, q)
            cold.append(c)
            warm.append(w)
            firsts.append(first)
            print(f"{i:2} cli {c:6.1f} s (exit {code})  server {w:6.1f} s ({rec['status']})  first event "
                  f"{1000 * first:6.1f} ms  {q[:50]}", flush=True)  # fmt: skip
        print(f"ask, {len(warm)} questions: server p50 {pct(warm, 0.5):.1f} s p95 {pct(warm, 0.95):.1f} s; "
              f"mmcrew ask p50 {pct(cold, 0.5):.1f} s p95 {pct(cold, 0.95):.1f} s; "
              f"ratio p50 {pct(cold, 0.5) / pct(warm, 0.5):.2f}x")  # fmt: skip
        print(f"first event after POST /runs: p50 {1000 * pct(firsts, 0.5):.1f} ms, max {1000 * max(firsts):.1f} ms")
        print("concurrent:", json.dumps(concurrent(base, args.clients)))
        print("page images:", json.dumps(page_images(base)))
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    sys.exit(main())
