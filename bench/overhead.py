"""Runtime overhead: tokens/s of ``structured()`` versus raw llama-cpp-python, same run.

Three ways to produce the report summary on the same prompt and model file:

  raw          llama_cpp.Llama.create_chat_completion, no grammar (free text)
  raw+grammar  the same call with the grammar built from the same JSON schema
  structured   multimodal_crew.models.structured.structured() (grammar, parse, validators)

The three are interleaved, REPEATS times each, on separate Llama instances
loaded from the same file; medians are printed with the ratios to raw.

    python bench/overhead.py [--model qwen2.5-coder-1.5b] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import multimodal_crew  # noqa: F401  (offline env)
from multimodal_crew.datasource import markdown_table, parse_query, query_report
from multimodal_crew.models.runtime import get_runtime
from multimodal_crew.models.structured import structured
from multimodal_crew.settings import Settings
from multimodal_crew.steps.report import SYSTEM, ReportSummary, summary_validators


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=160)
    args = ap.parse_args()

    env = {"MMCREW_MAX_TOKENS": str(args.max_tokens)}
    if args.model:
        env["EMBEDDED_MODEL"] = args.model
    import os

    os.environ.update(env)
    s = Settings()
    rt = get_runtime(s)
    data = query_report(parse_query("2024-03-01", "2024-03-31"), s.knowledge_path / "daily_active_users.csv")
    messages = [
        {"role": "system", "content": SYSTEM},
        {
            "role": "user",
            "content": f"Daily active users from {data.start} to {data.end}:\n\n{markdown_table(data)}\n\n"
            "Write a summary of 2-3 sentences: name the city with the largest Total and "
            "give its Total, and mention one other notable figure. Also give top_city.",
        },
    ]
    schema = ReportSummary.model_json_schema()

    from llama_cpp import Llama, LlamaGrammar

    raw_llama = Llama(model_path=rt.llm.model_path, n_ctx=s.n_ctx, n_threads=s.threads, seed=s.seed, verbose=False)
    grammar = LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)

    def raw(with_grammar: bool) -> tuple[int, float]:
        t0 = time.perf_counter()
        out = raw_llama.create_chat_completion(
            messages=messages,
            max_tokens=args.max_tokens,
            temperature=0.0,
            seed=s.seed,
            grammar=grammar if with_grammar else None,
        )
        return out["usage"]["completion_tokens"], time.perf_counter() - t0

    def ours() -> tuple[int, float]:
        before = rt.llm._token_usage["completion_tokens"]
        t0 = time.perf_counter()
        structured(rt, messages, ReportSummary, validators=summary_validators(data), max_retries=0)
        return rt.llm._token_usage["completion_tokens"] - before, time.perf_counter() - t0

    runs: dict[str, list[tuple[int, float]]] = {"raw": [], "raw+grammar": [], "structured": []}
    # warm-up: load pages, compile grammars
    raw(True), ours()
    for _ in range(args.repeats):
        runs["raw"].append(raw(False))
        runs["raw+grammar"].append(raw(True))
        runs["structured"].append(ours())

    def tps(rs):
        return statistics.median(t / sec for t, sec in rs)

    base = tps(runs["raw"])
    print(f"model: {s.embedded_model}  threads: {s.threads}  repeats: {args.repeats}  max_tokens: {args.max_tokens}")
    print(f"{'mode':<12} {'tokens':>7} {'median s':>9} {'tok/s':>7} {'vs raw':>7} {'vs raw+grammar':>15}")
    for mode, rs in runs.items():
        print(
            f"{mode:<12} {statistics.median(t for t, _ in rs):>7.0f} {statistics.median(x for _, x in rs):>9.2f} "
            f"{tps(rs):>7.1f} {tps(rs) / base:>7.2f} {tps(rs) / tps(runs['raw+grammar']):>15.2f}"
        )
    ratio = tps(runs["structured"]) / base
    print(f"structured / raw tokens per second: {ratio:.2f} (goal >= 0.90: {'met' if ratio >= 0.9 else 'NOT met'})")


if __name__ == "__main__":
    main()
