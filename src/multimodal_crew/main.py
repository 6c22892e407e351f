"""CrewAI entry points (``[project.scripts]``): ``crewai run`` calls ``kickoff``.

``crewai run`` cannot pass inputs to a flow, so ``kickoff`` reads them from
``config/inputs.yaml``, then ``MMCREW_INPUTS`` (JSON), then ``key=value``
arguments: ``uv run kickoff city=Osaka``. The flow is ``MMCREW_DEFAULT_FLOW``
(default ``report``). The output is the same as ``mmcrew run report``.
"""

from __future__ import annotations

import sys

from . import _offline  # noqa: F401  (before crewai)


def _write_status(flow: str, exit_code: int, error: str = "", result: object = None) -> None:
    """Tell whoever started ``crewai run`` how the flow ended: ``crewai run`` itself exits 0 whatever
    ``uv run kickoff`` did, so ``python -m multimodal_crew.crewai_run`` (``make run``) reads this file."""
    import json
    import os

    path = os.environ.get("MMCREW_RUN_STATUS")
    if not path:
        return
    output_dir = getattr(result, "output_dir", None)
    data = {"flow": flow, "exit_code": exit_code, "error": error, "output_dir": str(output_dir) if output_dir else None}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f)


def _run(flow: str | None, argv: list[str]) -> None:
    """Run ``flow`` (None: the default flow from the settings) with inputs from config, env and argv."""
    from .cli import _fail, _show
    from .flows import run_flow
    from .inputs import resolve_inputs

    try:
        if flow is None:
            from .settings import get_settings

            flow = get_settings().default_flow
        inputs = resolve_inputs(flow, pairs=argv)
        result = run_flow(flow, inputs, progress=lambda msg: print(f"[{flow}] {msg} …", file=sys.stderr))
    except (Exception, KeyboardInterrupt) as e:
        import typer

        try:
            _fail(e)
        except typer.Exit as ex:
            _write_status(flow or "default", ex.exit_code, f"{type(e).__name__}: {e}")
            sys.exit(ex.exit_code)
        return
    _show(flow, result, as_json=False)
    _write_status(flow, 0, result=result)


def kickoff() -> None:
    """Run the default flow (``crewai run``)."""
    _run(None, sys.argv[1:])


def run_crew() -> None:
    """Run the report as a YAML crew."""
    _run("report_crew", sys.argv[1:])


def plot() -> None:
    """Write the default flow's graph as Mermaid text (renders offline in most editors), built from
    the flow's own structure, and as CrewAI's HTML plot (it loads JavaScript from CDNs)."""
    import shutil

    from crewai.flow.visualization import build_flow_structure

    from .errors import UserError
    from .flows import get_flow
    from .settings import get_settings

    s = get_settings()
    entry = get_flow(s.default_flow)
    if entry.flow_cls is None:
        raise SystemExit(str(UserError(f"{entry.name!r} is a {entry.kind}, not a flow: nothing to plot")))
    flow = entry.flow_cls()
    folder = s.outputs_path / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    edges = build_flow_structure(flow)["edges"]
    lines = ["```mermaid", "flowchart TD", *(f"    {e['source']} --> {e['target']}" for e in edges), "```"]
    mermaid = folder / f"{entry.name}_flow.md"
    mermaid.write_text(f"# {entry.name} flow\n\n" + "\n".join(lines) + "\n", encoding="utf-8")
    print(f"flow graph (Mermaid, renders offline): {mermaid}")
    try:
        html = shutil.copy(flow.plot(f"{entry.name}_flow.html", show=False), folder / f"{entry.name}_flow.html")
        print(f"flow graph (CrewAI HTML, loads JavaScript from CDNs): {html}")
    except Exception as e:  # plotting is a convenience; say why it failed
        print(f"CrewAI's HTML plot failed: {e}", file=sys.stderr)


if __name__ == "__main__":
    kickoff()
