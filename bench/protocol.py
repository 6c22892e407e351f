"""Protocol adherence: does the YAML report crew's agent call the tool and report the data?

The same crew (the `report_crew` flow, config/flows/report_crew.yaml) runs over 10 date ranges twice, on the same model file:

  ours      EmbeddedLLM: llama.cpp in-process, each step grammar-constrained to a tool
            call or (after a tool result) a final answer
  baseline  plain CrewAI ``LLM`` (openai provider) against llama-cpp-python's
            OpenAI-compatible server on 127.0.0.1, its default chat format

A run counts when the tool was called and the final answer holds a table equal to the data.

    python bench/protocol.py [--model qwen2.5-coder-1.5b] [--runs 10] [--skip-baseline]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request

import multimodal_crew  # noqa: F401  (offline env)
from multimodal_crew.flows import run_flow
from multimodal_crew.models.runtime import get_runtime
from multimodal_crew.settings import Settings
from multimodal_crew.steps.report_data import ReportCheck

CASES = [
    ("2024-01-01", "2024-01-31", ""),
    ("2024-02-01", "2024-02-29", ""),
    ("2024-03-01", "2024-03-31", ""),
    ("2024-04-01", "2024-04-30", ""),
    ("2024-01-01", "2024-01-31", "Osaka"),
    ("2024-02-01", "2024-02-29", "Berlin"),
    ("2024-03-01", "2024-03-15", "Lisbon"),
    ("2024-04-10", "2024-04-20", "Nairobi"),
    ("2024-01-15", "2024-02-15", ""),
    ("2024-03-01", "2024-04-30", "Toronto"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(model_path: str, n_ctx: int, threads: int) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            model_path,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            str(n_ctx),
            "--n_threads",
            str(threads),
            "--model_alias",
            "qwen",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(url + "/v1/models", timeout=1)
            return proc, url
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(
                    "llama_cpp.server exited; install the bench extra: pip install -e '.[bench]'"
                ) from None
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("llama_cpp.server did not start within 60 s")


def run_report_crew(inputs: dict, llm) -> ReportCheck:
    """The report_crew flow with its agent on ``llm``: a runtime (with ``.llm``) or a bare CrewAI LLM."""
    model = llm if hasattr(llm, "llm") else type("BareLLM", (), {"llm": llm})()
    return ReportCheck.model_validate(run_flow("report_crew", inputs, model=model).data)


def run_all(label: str, llm, cases: list[tuple[str, str, str]]) -> list[dict]:
    rows = []
    for start, end, city in cases:
        t0 = time.perf_counter()
        try:
            r = run_report_crew({"start_date": start, "end_date": end, "city": city}, model=llm)
            row = {"tool_called": r.tool_called, "table_matches": r.table_matches, "error": ""}
            if not (r.tool_called and r.table_matches):  # show what came back instead
                row["error"] = "answer: " + " ".join(r.answer.split())[:90]
        except Exception as e:  # a baseline that crashes counts as a failed run, with its reason
            row = {"tool_called": False, "table_matches": False, "error": f"{type(e).__name__}: {str(e)[:80]}"}
        row.update(case=f"{start}..{end} {city or 'all'}", seconds=time.perf_counter() - t0)
        ok = row["tool_called"] and row["table_matches"]
        print(
            f"  {label:<8} {row['case']:<32} tool={'y' if row['tool_called'] else 'n'} "
            f"table={'y' if row['table_matches'] else 'n'} {row['seconds']:6.1f}s {'OK' if ok else 'FAIL'} "
            f"{row['error']}",
            flush=True,
        )
        rows.append(row)
    return rows


def summary(label: str, rows: list[dict]) -> str:
    ok = sum(r["tool_called"] and r["table_matches"] for r in rows)
    called = sum(r["tool_called"] for r in rows)
    secs = sorted(r["seconds"] for r in rows)
    return (
        f"{label:<8} correct {ok}/{len(rows)}  tool called {called}/{len(rows)}  "
        f"median {secs[len(secs) // 2]:.1f}s per run"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    ap.add_argument("--runs", type=int, default=len(CASES))
    ap.add_argument("--skip-baseline", action="store_true")
    args = ap.parse_args()
    if args.model:
        os.environ["EMBEDDED_MODEL"] = args.model
    cases = CASES[: args.runs]
    s = Settings()
    rt = get_runtime(s)
    print(f"model: {s.embedded_model}  runs: {len(cases)}  temperature: {s.temperature}")
    ours = run_all("ours", rt, cases)
    lines = [summary("ours", ours)]
    if not args.skip_baseline:
        from crewai import LLM

        proc, url = _start_server(rt.llm.model_path, s.n_ctx, s.threads)
        try:
            llm = LLM(
                model="openai/qwen",
                base_url=url + "/v1",
                api_key="not-needed",
                temperature=s.temperature,
                max_tokens=s.max_tokens,
                timeout=600,
            )
            base = run_all("baseline", llm, cases)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        lines.append(summary("baseline", base))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
