#!/usr/bin/env python3
"""Which part of multimodal_crew imports which: a Mermaid graph, and the edges that point the wrong way.

    python scripts/module_graph.py [SRC_DIR]        # prints the graph; exits 1 if a layer imports upward

Parts are the subpackages (flows, steps, crews, knowledge, ...) and the top-level modules
grouped as `cli` (cli*, main, crewai_run, doctor, inputs) and `base` (settings, errors, and the rest).
Layers, top to bottom: cli/serve -> schedule -> flows -> crews -> steps -> knowledge/vision/models
-> base. An import from a lower layer to a higher one is listed as a violation (imports inside
functions count too: they are dependencies all the same).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

LAYER = {"cli": 6, "serve": 5, "schedule": 5, "evals": 5, "flows": 4, "crews": 3, "steps": 2,
         "knowledge": 1, "vision": 1, "models": 1, "base": 0}  # fmt: skip
CLI = {"cli", "cli_console", "cli_eval", "cli_model", "cli_schedule", "cli_serve", "main", "crewai_run", "doctor",
       "inputs"}  # fmt: skip


def part(module: str) -> str:
    bits = module.split(".")
    if len(bits) < 2:
        return "base"
    head = bits[1]
    if head in CLI:
        return "cli"
    return head if head in LAYER else "base"


def edges(src: Path) -> set[tuple[str, str]]:
    root = src / "multimodal_crew"
    out: set[tuple[str, str]] = set()
    for f in root.rglob("*.py"):
        rel = f.relative_to(src).with_suffix("")
        mod = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        pkg = mod if rel.name == "__init__" else mod.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg.split(".")
                    base = base[: len(base) - node.level + 1]
                    if node.module:
                        targets = [".".join([*base, node.module])]
                    else:  # `from .. import crews`: each name may be a module
                        targets = [".".join([*base, a.name]) for a in node.names]
                elif node.module:
                    targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for t in targets:
                if t.startswith("multimodal_crew"):
                    a, b = part(mod), part(t)
                    if a != b:
                        out.add((a, b))
    return out


def main() -> int:
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "src"
    found = sorted(edges(src))
    print("```mermaid\nflowchart TD")
    for a, b in found:
        print(f"    {a} --> {b}")
    print("```")
    bad = [(a, b) for a, b in found if LAYER[a] < LAYER[b]]
    for a, b in bad:
        print(f"upward: {a} imports {b}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
