"""What the ``mmcrew`` commands share: the two consoles, the one-line failure, progress and times."""

from __future__ import annotations

import os
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from .errors import MMCrewError

out = Console()
err = Console(stderr=True)


def _fail(e: BaseException) -> None:
    if os.environ.get("MMCREW_DEBUG"):
        raise e
    if isinstance(e, OSError):  # a state folder that cannot be created or written is a configuration error
        from .settings import state_folder_error

        e = state_folder_error(e) or e
    if isinstance(e, MMCrewError):
        err.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        raise typer.Exit(e.exit_code)
    if isinstance(e, KeyboardInterrupt):
        err.print(
            "interrupted; the run published no output (research keeps its log in a <run>-incomplete folder)",
            highlight=False,
        )
        raise typer.Exit(130)
    err.print(
        f"[bold red]internal error:[/] {type(e).__name__}: {e} (MMCREW_DEBUG=1 shows the traceback)",
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(1)


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


def _when(ts: float | None) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else ""
