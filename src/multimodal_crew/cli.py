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
from typing import Annotated, Any

import typer
from rich.markdown import Markdown
from rich.table import Table

from . import _offline  # noqa: F401  (before crewai)
from .cli_console import _fail, _ingest_progress, _when, err, out
from .cli_eval import eval_app
from .cli_model import model_app
from .cli_schedule import schedule_app
from .cli_serve import serve
from .steps.results import RunResult

# CrewAI logs a failed flow step before re-raising it; the CLI reports it once, itself.
logging.getLogger("crewai.flow.runtime").setLevel(logging.CRITICAL)

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Local-first CrewAI crews and flows.")
app.add_typer(model_app, name="model")
app.add_typer(eval_app, name="eval")
app.add_typer(schedule_app, name="schedule")
app.command()(serve)


# the options `run` and `step` share: inputs as the flow's or the step's input model takes them
Pairs = Annotated[list[str] | None, typer.Option("--input", "-i", help="key=value, repeatable")]
InputsFile = Annotated[Path | None, typer.Option("--inputs-file", help="JSON or YAML file of inputs")]
AsJson = Annotated[bool, typer.Option("--json", help="print the typed result as JSON")]


def _show(result: RunResult, as_json: bool) -> None:
    """Print a flow's result from its type; a run that could not finish exits 5."""
    if as_json:
        out.print_json(result.model_dump_json())
    else:
        text = result.text.strip()
        out.print(Markdown(text) if "\n" in text or text.startswith("#") else text, highlight=False, soft_wrap=True)
        if result.status != "ok":
            out.print(f"[yellow]{result.status}[/]: {result.reason}", highlight=False, soft_wrap=True)
        for n, c in enumerate(result.citations, start=1):
            out.print(f'  [{n}] {c.file}, page {c.page}: [italic]"{c.quote}"[/]', highlight=False, soft_wrap=True)
        if result.citations:
            out.print("[dim]every quote was found on its cited page[/]")
        if result.output_dir:
            out.print(f"[green]saved[/] {result.output_dir}", highlight=False, soft_wrap=True)
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items())
        out.print(f"[dim]{result.flow}: {steps}; {result.model_calls} model call(s)[/]", highlight=False)
    if result.status == "incomplete":
        raise typer.Exit(5)


def _run(flow: str, inputs: dict[str, Any], as_json: bool, then=None) -> None:
    from .flows import run_flow

    with err.status(f"{flow}: starting …") as status:
        result = run_flow(flow, inputs, progress=lambda msg: status.update(f"{flow}: {msg} …"))
    if then is not None:
        then(result)
    _show(result, as_json)


def _show_tables(result: RunResult, as_json: bool) -> None:
    """The charts' values, diagrams' graphs and tables' grids that `see` read, as tables (to stderr under --json)."""
    from .vision.evidence import reading_rows as table_rows

    console = err if as_json else out
    tables = (result.data or {}).get("tables") or []
    if not tables:
        console.print("[dim]no chart, diagram or table was read in the image(s)[/]")
    for t in tables:
        title, header, rows = table_rows(t)
        table = Table(title=f"image {t.get('image', 1)}: {title}", title_justify="left")
        for h in header:
            table.add_column(h)
        for r in rows:
            table.add_row(*r)
        console.print(table)


@app.command()
def run(
    flow: str = typer.Argument(..., help="flow name (see `mmcrew flows`)"),
    input: Pairs = None,
    inputs_file: InputsFile = None,
    as_json: AsJson = False,
) -> None:
    """Run a flow (config/flows/<flow>.yaml) with inputs over its defaults."""
    from .flows import get_flow
    from .inputs import resolve_inputs

    get_flow(flow)
    _run(flow, resolve_inputs(flow, file=inputs_file, pairs=input), as_json)


@app.command()
def see(
    image: str = typer.Argument(..., help="image file (several: comma-separated)"),
    question: str = typer.Argument(..., help="the question"),
    choice: list[str] = typer.Option(None, "--choice", "-c", help="an answer option, repeatable"),
    context: str = typer.Option("", "--context", help="text that comes with the image"),
    single_stage: bool = typer.Option(False, "--single-stage", help="answer directly, without a rationale"),
    show_table: bool = typer.Option(
        False,
        "--show-table",
        help="print what was read: a chart's values (label or measured), a diagram's arrows or a table's grid",
    ),
    as_json: bool = typer.Option(False, "--json", help="print the structured result"),
) -> None:
    """Answer a question about an image: rationale first, then the answer."""
    mode = "single" if single_stage else "two_stage"
    inputs = {"image": image, "question": question, "choices": list(choice or []), "context": context, "mode": mode}
    _run("see", inputs, as_json, then=(lambda r: _show_tables(r, as_json)) if show_table else None)


@app.command()
def ingest(
    paths: list[Path] = typer.Argument(None, help="files or folders (default: the knowledge folder)"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Ingest documents (PDF, TXT, MD, CSV, XLSX, JSON, DOCX) into the local index; unchanged files are skipped."""
    from .knowledge.ingest import ingest as run_ingest

    progress, tell = _ingest_progress()
    with progress:
        report = run_ingest(paths or None, progress=tell)
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
        progress, tell = _ingest_progress()  # shows nothing unless there is something to ingest
        with progress:
            ingest_if_empty(store, progress=tell)
    finally:
        store.close()


@app.command()
def kb() -> None:
    """List the ingested documents."""
    from .knowledge.ingest import open_store

    store = open_store()
    docs = store.docs()
    table = Table(title=f"knowledge index ({store.root})")
    for col in ("file", "kind", "pages", "chunks", "sha256", "ingested"):
        table.add_column(col)
    for d in docs:
        table.add_row(d.file, d.kind, str(d.n_pages), str(d.n_chunks), d.sha256[:12], _when(d.ingested_at))
    out.print(table)
    if not docs:
        from .knowledge.retrieval import EmptyKnowledgeError
        from .settings import get_settings

        out.print(str(EmptyKnowledgeError.of(get_settings().knowledge_path)), highlight=False, soft_wrap=True)


@app.command()
def search(
    query: str = typer.Argument(..., help="what to look for"),
    k: int = typer.Option(5, "-k", min=1, max=50, help="passages to show"),
    file: str = typer.Option("", "--file", help="only this ingested file"),
    as_json: bool = typer.Option(False, "--json", help="print the hits as JSON"),
) -> None:
    """Hybrid (BM25 + vector) search over the ingested documents; no model involved."""
    from .knowledge.retrieval import search as run_search

    _ingest_first()
    hits = run_search(query, k, file or None)
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
    _ingest_first()
    _run("ask", {"question": question, "file": file}, as_json)


@app.command()
def research(
    topic: str = typer.Argument(..., help="what the report is about"),
    audience: str = typer.Option(None, help="who reads it (default: the flow's)"),
    length: str = typer.Option(None, help="how long it should be (default: the flow's)"),
    tools: str = typer.Option(None, help="extra researcher tools by step name: report_query, see (comma-separated)"),
    as_json: bool = typer.Option(False, "--json", help="print the structured result"),
) -> None:
    """A cited report from your documents: planner, researcher, writer and critic, with checked citations."""
    _ingest_first()
    given = {"topic": topic, "audience": audience, "length": length, "tools": tools}
    _run("research", {k: v for k, v in given.items() if v is not None}, as_json)


@app.command()
def plan(
    request: str = typer.Argument(..., help="what you want done, in words"),
    image: list[Path] = typer.Option(None, "--image", help="an image that comes with the request, repeatable"),
    tools: str = typer.Option("", "--tools", help="only these registered tools, comma-separated"),
    dry_run: bool = typer.Option(False, "--dry-run", help="show the validated plan (table + Mermaid), run nothing"),
    as_json: bool = typer.Option(False, "--json", help="print the result (with --dry-run: the plan) as JSON"),
) -> None:
    """HuggingGPT-style: plan a task graph over the registered tools, validate it, run it as a YAML flow, answer."""
    inputs = {"request": request, "images": [str(p) for p in image or []], "tools": tools}
    if not dry_run:
        _ingest_first()
        _run("plan", inputs, as_json)
        return
    from .steps import Deps, call_step

    with err.status("plan: planning …") as status:
        planned = call_step("make_plan", inputs, Deps(progress=lambda m: status.update(f"plan: {m} …")))
    p = planned.plan
    deps_of = {i: p.deps(i) for i in range(1, len(p.tasks) + 1)}
    if as_json:
        tasks = [{"id": i, "step": t.step, "tool": t.tool, "args": t.args, "deps": deps_of[i]}
                 for i, t in enumerate(p.tasks, 1)]  # fmt: skip
        out.print_json(
            json.dumps({"request": request, "tasks": tasks, "attempts": planned.attempts}, ensure_ascii=False)
        )
        return
    table = Table(title=f"plan ({planned.attempts} attempt(s)): {request}", title_justify="left")
    for col in ("#", "step", "tool", "arguments", "uses"):
        table.add_column(col)
    for i, t in enumerate(p.tasks, 1):
        args = ", ".join(f"{k}={v!r}" for k, v in t.args.items())
        table.add_row(str(i), t.step, t.tool, args, ", ".join(f"task {n}" for n in deps_of[i]))
    out.print(table)
    lines = ["flowchart LR"] + [f'  task_{i}["{i}. {t.tool}"]' for i, t in enumerate(p.tasks, 1)]
    lines += [f"  task_{a} --> task_{b}" for a, b in p.links()]
    out.print("\n".join(lines), highlight=False)


@app.command("do")
def do(
    request: str = typer.Argument(..., help="what you want, in words"),
    image: list[Path] = typer.Option(None, "--image", help="an image that comes with the request, repeatable"),
    route: str = typer.Option(
        "", "--route", help="skip the router's choice: chat, ask, see, report, workorder, research, plan"
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="decide only: route, quadrant, scores and inputs"),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
) -> None:
    """The front door: score the request (complexity x precision), pick the flow that serves it, run it."""
    inputs = {"request": request, "images": [str(p) for p in image or []], "route": route, "dry_run": dry_run}
    if dry_run and as_json:
        from .steps import Deps, call_step

        with err.status("route: deciding …"):
            routed = call_step("route", {k: inputs[k] for k in ("request", "images", "route")}, Deps())
        d = routed.decision
        shown = {"route": d.route, "quadrant": d.quadrant, "scores": {k: v.model_dump() for k, v in d.scores.items()},
                 "inputs": d.inputs, "model_calls": d.model_calls}  # fmt: skip
        out.print_json(json.dumps(shown, ensure_ascii=False))
        return
    _run("route", inputs, as_json)


def _fields(model: Any, defaults: dict | None = None) -> str:
    names = [f for f in model.model_fields if f != "id"]  # a flow's inputs are its CrewAI state, which has an id
    shown = []
    for field in names:
        info = model.model_fields[field]
        d = (defaults or {}).get(field)
        shown.append(f"{field}{'' if info.is_required() else '?'}" + (f" ({d!s})" if d not in (None, "") else ""))
    return "\n".join(shown)


@app.command()
def flows() -> None:
    """List the flows (config/flows/*.yaml) with their inputs and defaults."""
    from .flows import all_flows

    table = Table(title="flows")
    for col in ("name", "inputs (default)", "what it does", "definition"):
        table.add_column(col)
    for name, entry in all_flows().items():
        table.add_row(name, _fields(entry.inputs_model, entry.defaults), entry.description, _rel(entry.path))
    out.print(table)


@app.command()
def steps() -> None:
    """List the registered steps: what YAML flows, agents and the planner can call."""
    from .steps import all_steps

    table = Table(title="steps")
    for col in ("name", "output", "inputs", "what it does", "tool"):
        table.add_column(col)
    for name, entry in sorted(all_steps().items()):
        table.add_row(name, entry.output, _fields(entry.input_model), entry.description, "yes" if entry.tool else "")
    out.print(table)


@app.command("step")
def run_step(
    name: str = typer.Argument(..., help="step name (see `mmcrew steps`)"),
    input: Pairs = None,
    inputs_file: InputsFile = None,
    as_json: AsJson = False,
) -> None:
    """Run one registered step: `mmcrew step calculate -i expression="(3 + 4) * 2"`."""
    from .inputs import resolve_inputs
    from .steps import Deps, StepOutput, call_step, get_step

    get_step(name)
    inputs = resolve_inputs(name, file=inputs_file, pairs=input)
    with err.status(f"{name}: starting …") as status:
        result = call_step(name, inputs, Deps(progress=lambda msg: status.update(f"{name}: {msg} …")))
    if isinstance(result, StepOutput) and not as_json:
        out.print(str(result.result_fields().get("text", "")), highlight=False, soft_wrap=True)
    else:
        out.print_json(result.model_dump_json())


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@app.command()
def doctor() -> None:
    """What is configured and whether it works; a check that cannot run is a FAIL row, never a crash."""
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


def main() -> None:
    """The one error handler: every expected failure is one line on stderr and its exit code."""
    from . import procs

    procs.EXIT_ON_INTERRUPT.set()  # Ctrl-C during a plan: mark its run folder and exit 130 at once
    try:
        code = app(standalone_mode=False)
    except typer.Exit as e:
        code = e.exit_code
    except typer.Abort:
        err.print("interrupted", highlight=False)
        code = 130
    except (Exception, KeyboardInterrupt) as e:
        if callable(getattr(e, "show", None)) and isinstance(getattr(e, "exit_code", None), int):
            e.show()  # a usage error (unknown option, missing argument): click's own message
            code = e.exit_code
        else:
            try:
                _fail(e)
            except typer.Exit as ex:
                code = ex.exit_code
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
