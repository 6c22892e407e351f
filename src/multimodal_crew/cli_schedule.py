"""``mmcrew schedule``: list, run, start and look back at scheduled flows.

Errors are reported by the one handler in ``cli.main`` (one line, its exit code).
"""

from __future__ import annotations

import typer
from rich.table import Table

from .cli_console import _when, err, out

_COLOURS = {"ok": "green", "abstained": "yellow", "incomplete": "yellow", "failed": "red", "timeout": "red",
            "interrupted": "yellow", "missed": "yellow", "skipped": "yellow", "running": "cyan"}  # fmt: skip

schedule_app = typer.Typer(no_args_is_help=True, help="Run flows on a schedule (config/schedules.yaml).")


@schedule_app.command("list")
def schedule_list() -> None:
    """The entries of schedules.yaml, checked, with their next run time."""
    from datetime import datetime, timezone

    from .schedule.service import current_entries, schedules_path
    from .settings import get_settings

    entries = current_entries()
    anchored = get_settings().shared_database  # due times on the grid every machine shares
    table = Table(title=f"schedules ({schedules_path()})")
    for col in ("name", "flow", "when", "tz", "enabled", "misfire", "max run", "next run"):
        table.add_column(col)
    now = datetime.now(timezone.utc)
    for e in entries.values():
        nxt = e.trigger(anchored=anchored).get_next_fire_time(None, now) if e.enabled else None
        when = f"cron {e.cron}" if e.cron else f"every {e.interval}"
        enabled = "yes" if e.enabled else "no"
        next_run = nxt.isoformat(timespec="seconds") if nxt else ""
        table.add_row(e.name, e.flow, when, e.timezone, enabled, e.misfire, f"{e.max_runtime:g}s", next_run)
    out.print(table)


@schedule_app.command("run")
def schedule_run(name: str = typer.Argument(..., help="entry name")) -> None:
    """Run one entry now (recorded in the history like a scheduled run)."""
    from .errors import UserError
    from .schedule.history import History
    from .schedule.runner import run_entry
    from .schedule.service import current_entries

    entries = current_entries()
    if name not in entries:
        raise UserError(f"no schedule entry {name!r}; entries: {', '.join(entries) or '(none)'}")
    history = History.of()
    with err.status(f"{name}: running {entries[name].flow} …"):
        run_id = run_entry(entries[name], trigger="manual", history=history)
    run = next(r for r in history.runs(name, limit=20) if r.id == run_id)
    colour = _COLOURS.get(run.status, "red")
    out.print(f"[{colour}]{run.status}[/] {name} ({run.flow}) {run.output_dir or run.error}", highlight=False,
              soft_wrap=True)  # fmt: skip
    if run.status not in ("ok", "abstained"):  # as `mmcrew run`: an honest abstention is a finished run
        raise typer.Exit(1)


@schedule_app.command("start")
def schedule_start() -> None:
    """Run the scheduler in the foreground until Ctrl-C."""
    import signal

    from .schedule.service import Scheduler

    sched = Scheduler()
    enabled = sched.start()
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
    """Past runs: start, end, status, the machine that ran it, error or output folder."""
    from .schedule.history import History

    history = History.of()
    try:
        runs = history.runs(name, limit=limit)
    finally:
        history.close()
    table = Table(title=f"schedule history ({history.where})")
    for col in ("#", "name", "flow", "trigger", "due", "start", "end", "status", "machine", "error / output"):
        table.add_column(col)
    for r in runs:
        status = f"[{_COLOURS.get(r.status, 'white')}]{r.status}[/]"
        table.add_row(str(r.id), r.name, r.flow, r.trigger, _when(r.scheduled_for), _when(r.started), _when(r.ended),
                      status, r.machine, r.error or r.output_dir)  # fmt: skip
    out.print(table)
