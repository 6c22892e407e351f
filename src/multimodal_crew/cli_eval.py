"""``mmcrew eval``: evaluations that print measured figures."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from .cli_console import _ingest_progress, err, out

eval_app = typer.Typer(no_args_is_help=True, help="Evaluations that print measured figures.")


@eval_app.command("vision")
def eval_vision(
    dataset: Path = typer.Option(Path("bench/data/vision/items.jsonl"), "--dataset", help="JSONL of items"),
    mode: str = typer.Option("both", help="two_stage, single or both"),
    limit: int = typer.Option(0, help="first N items only (0: all)"),
) -> None:
    """Accuracy of the see flow: overall, per category, two-stage versus single-stage, latency."""
    from datetime import datetime

    from .evals.vision import load_items, run_eval
    from .settings import ensure_dir, get_settings

    s = get_settings()
    folder = ensure_dir(s.outputs_path / "eval")  # before the run, not after it
    items = load_items(dataset)[: limit or None]
    modes = ["two_stage", "single"] if mode == "both" else [mode]
    with err.status("eval vision …") as status:
        report = run_eval(items, modes, progress=lambda m: status.update(f"eval vision: {m} …"))
    saved = folder / f"vision-{datetime.now():%Y%m%d-%H%M%S}.json"
    saved.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    summary = report["summary"]
    table = Table(title=f"vision eval: {len(items)} items ({s.vision_model} + {s.model})")
    table.add_column("category")
    for m in modes:
        table.add_column(m)
    for cat, by_mode in summary["by_category"].items():
        table.add_row(cat, *[by_mode.get(m, "") for m in modes])
    table.add_section()
    for grp, by_mode in summary["by_group"].items():
        table.add_row(grp, *[by_mode.get(m, "") for m in modes])
    table.add_section()
    for key in ("accuracy", "in_choices", "failed", "low_confidence", "p50_s", "p95_s"):
        table.add_row(key, *[str(summary["overall"][m][key]) for m in modes])
    out.print(table)
    out.print(f"saved {saved}", highlight=False, soft_wrap=True)


@eval_app.command("rag")
def eval_rag(
    dataset: list[Path] = typer.Option(
        ..., "--dataset", help="JSONL of questions (repeatable); no citations = unanswerable"
    ),
    docs: Path = typer.Option(None, "--docs", help="ingest this folder first (incremental)"),
    limit: int = typer.Option(0, help="first N questions of each dataset (0: all)"),
    retrieval_only: bool = typer.Option(False, "--retrieval-only", help="measure retrieval only (no model)"),
) -> None:
    """Gold page in the top 5, gold page cited, quotes verified, abstention, latency."""
    from datetime import datetime

    from .evals.rag import load_questions, run_eval
    from .settings import ensure_dir, get_settings

    s = get_settings()
    folder = ensure_dir(s.outputs_path / "eval")  # before the run, not after it
    if docs:
        from .knowledge.ingest import ingest as run_ingest

        progress, tell = _ingest_progress()
        with progress:
            run_ingest([docs], progress=tell)
    items = [q for d in dataset for q in load_questions(d)[: limit or None]]
    with err.status("eval rag …") as status:
        report = run_eval(items, retrieval_only=retrieval_only, progress=lambda m: status.update(f"eval rag: {m} …"))
    saved = folder / f"rag-{datetime.now():%Y%m%d-%H%M%S}.json"
    saved.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    summary = report["summary"]
    table = Table(title=f"rag eval: {summary['questions']['answerable']} answerable, "
                        f"{summary['questions']['unanswerable']} unanswerable ({s.model}, {s.embedder} embedder)")  # fmt: skip
    table.add_column("measure")
    table.add_column("value")
    for key, val in summary.items():
        if isinstance(val, dict) and "share" in val:
            shown = "-" if val["share"] is None else f"{100 * val['share']:.1f}% ({val['count']}/{val['n']})"
        else:
            shown = json.dumps(val)
        table.add_row(key, shown)
    out.print(table)
    out.print(f"saved {saved}", highlight=False, soft_wrap=True)


def _save(report: dict, name: str) -> Path:
    from datetime import datetime

    from .settings import ensure_dir, get_settings

    folder = ensure_dir(get_settings().outputs_path / "eval")
    saved = folder / f"{name}-{datetime.now():%Y%m%d-%H%M%S}.json"
    saved.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    return saved


@eval_app.command("plan")
def eval_plan(
    dataset: str = typer.Option(
        "huggingface", "--dataset", help="huggingface, tmdb, ultratool, or a TaskBench JSONL file"
    ),
    tools: Path = typer.Option(None, "--tools", help="the tool descriptions (with a JSONL --dataset)"),
    limit: int = typer.Option(0, help="first N records only (0: all)"),
) -> None:
    """TaskBench: node F1 and edge F1 of the planner's task graphs, valid plans, latency."""
    from .evals.taskbench import DOMAINS, domain, eval_plan
    from .knowledge.embedder import get_embedder
    from .models.runtime import get_runtime
    from .settings import get_settings

    s = get_settings()
    data, tool_desc = domain(dataset) if dataset in DOMAINS else (Path(dataset), tools)
    if tool_desc is None:
        raise typer.BadParameter("give --tools with a dataset file")
    with err.status("eval plan …") as status:
        report = eval_plan(data, tool_desc, limit=limit, model=get_runtime(s), max_tasks=s.plan_max_tasks,
                           max_retries=s.max_retries, max_tools=s.plan_max_tools, embed=lambda texts: get_embedder(s).embed(texts),
                           progress=lambda m: status.update(f"eval plan: {m} …"))  # fmt: skip
    saved = _save(report, f"plan-{Path(str(data)).stem}")
    sm = report["summary"]
    table = Table(title=f"TaskBench {dataset}: {sm['records']} records ({s.model} {s.embedded_model})")
    table.add_column("figure")
    table.add_column("value")
    for key in ("node_f1", "edge_f1", "node_f1_all", "edge_f1_all", "valid_share", "latency_s", "counts_by_type"):
        table.add_row(key, str(sm.get(key)))
    out.print(table)
    out.print(f"saved {saved}", highlight=False, soft_wrap=True)


@eval_app.command("route")
def eval_route(
    dataset: Path = typer.Option(
        Path("bench/data/route/requests.jsonl"), "--dataset", help="JSONL of labelled requests"
    ),
    limit: int = typer.Option(0, help="first N requests only (0: all)"),
) -> None:
    """The router: accuracy overall, per route and per language, model calls per request, latency."""
    from .evals.route import eval_route
    from .models.runtime import get_runtime
    from .settings import get_settings

    s = get_settings()
    with err.status("eval route …") as status:
        report = eval_route(dataset, limit=limit, model=get_runtime(s), settings=s,
                            progress=lambda m: status.update(f"eval route: {m} …"))  # fmt: skip
    saved = _save(report, "route")
    sm = report["summary"]
    table = Table(title=f"route eval: {sm['n']} requests ({s.model} {s.embedded_model})")
    table.add_column("figure")
    table.add_column("value")
    for key, value in sm.items():
        if key != "confusion":
            table.add_row(key, json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else str(value))
    out.print(table)
    out.print(f"saved {saved}", highlight=False, soft_wrap=True)
