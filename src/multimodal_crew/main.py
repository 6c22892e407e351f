"""CrewAI entry points (``[project.scripts]``) for ``uv run kickoff`` and ``uv run plot``.

``crewai run`` itself runs the YAML flow named by ``[tool.crewai].definition`` in pyproject.toml
(``crewai run --inputs '{...}'``, ``crewai run --definition config/flows/ask.yaml``). ``kickoff``
runs the same default flow the Python way: inputs over the definition's defaults from
``MMCREW_INPUTS`` (JSON), then ``key=value`` arguments: ``uv run kickoff city=Osaka``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from . import _offline  # noqa: F401  (before crewai)


def default_flow():
    """The flow ``[tool.crewai].definition`` points at (``crewai run``'s default), loaded from that file."""
    from crewai_core.project import configured_project_definition

    from .errors import ConfigError
    from .flows import load_definition

    root = Path.cwd()  # where `crewai run` looks for pyproject.toml too
    path = configured_project_definition("flow", project_root=root) if (root / "pyproject.toml").is_file() else None
    if path is None:
        raise ConfigError(f"{root / 'pyproject.toml'} names no [tool.crewai] definition (the default flow)")
    return load_definition(Path(path))


def _run(flow: str | None, argv: list[str]) -> None:
    """Run ``flow`` (None: the default flow) with inputs from the environment and argv; one error line."""

    def go() -> None:
        from .cli import _show
        from .flows import get_flow, run_flow
        from .inputs import resolve_inputs

        entry = get_flow(flow) if flow else default_flow()
        inputs = resolve_inputs(entry.name, pairs=argv)
        result = run_flow(entry, inputs, progress=lambda msg: print(f"[{entry.name}] {msg} …", file=sys.stderr))
        _show(result, as_json=False)

    _guarded(go)


def kickoff() -> None:
    """Run the default flow (``uv run kickoff key=value ...``)."""
    _run(None, sys.argv[1:])


def plot() -> None:
    """Write the default flow's graph as Mermaid text (renders offline in most editors)."""
    _guarded(_plot)


def _plot() -> None:
    from .settings import get_settings

    entry = default_flow()
    folder = get_settings().outputs_path / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    mermaid = folder / f"{entry.name}_flow.md"
    mermaid.write_text(f"# {entry.name} flow\n\n{flow_mermaid(entry.definition)}\n", encoding="utf-8")
    print(f"flow graph (Mermaid, renders offline): {mermaid}")


def _guarded(fn) -> None:
    """Run ``fn``; an expected failure is one line and its exit code (the CLI's one handler)."""
    import typer

    from .cli_console import _fail

    try:
        fn()
    except typer.Exit as ex:
        sys.exit(ex.exit_code)
    except (Exception, KeyboardInterrupt) as e:
        try:
            _fail(e)
        except typer.Exit as ex:
            sys.exit(ex.exit_code)


def flow_mermaid(definition) -> str:
    """A Mermaid flowchart of a ``crewai.flow/v1`` definition: an edge for each method a method
    listens to, labelled with the event when a router emits it; each node says what it calls."""
    from .steps.definitions import listened, step_refs

    refs = step_refs(definition)
    emitted = {e: n for n, m in definition.methods.items() for e in (m.emit or [])}
    lines = ["```mermaid", "flowchart TD"]
    for name, m in definition.methods.items():
        what = refs.get(name) or getattr(m.do, "call", "")
        lines.append(f'    {name}["{name}<br/><small>{what}</small>"]')
    for name, m in definition.methods.items():
        for target in sorted(listened(m.listen)):
            if target in emitted:
                lines.append(f"    {emitted[target]} -- {target} --> {name}")
            else:
                lines.append(f"    {target} --> {name}")
    return "\n".join([*lines, "```"])


if __name__ == "__main__":
    kickoff()
