"""Where a run's inputs come from, lowest priority first.

1. the flow definition's ``state.default`` (``config/flows/<flow>.yaml``): what ``crewai run`` uses;
2. ``MMCREW_INPUTS``: a JSON object in the environment (the inputs, or one section per flow);
3. an inputs file (``--inputs-file F.json|F.yaml``);
4. ``key=value`` pairs (``--input`` on the CLI, argv of ``kickoff``).

>>> parse_pairs(["city=Osaka", "start_date=2024-02-01"])
{'city': 'Osaka', 'start_date': '2024-02-01'}
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError

__all__ = ["parse_pairs", "load_file", "env_inputs", "resolve_inputs"]


def parse_pairs(pairs: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in pairs or []:
        key, sep, value = p.partition("=")
        if not sep or not key.strip():
            raise InputError(f"inputs are written key=value, got {p!r}")
        out[key.strip()] = value
    return out


def _mapping(data: Any, source: str) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"{source} must hold a mapping of input names to values")
    return {str(k): v for k, v in data.items()}


def load_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"inputs file {p} does not exist")
    text = p.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise InputError(
            f"inputs file {p} is not valid {p.suffix.lstrip('.') or 'YAML'}: {str(e).splitlines()[0]}"
        ) from None
    return _mapping(data, f"inputs file {p}")


def flow_section(data: dict[str, Any], flow: str) -> dict[str, Any]:
    """An inputs file is either the flow's inputs (``start_date: ...``) or one section per flow
    (``report: {start_date: ...}``, ``ask: {question: ...}``): then the flow's own section."""
    if flow in data and isinstance(data[flow], dict):
        return _mapping(data[flow], f"section {flow!r}")
    return data


def env_inputs(flow: str) -> dict[str, Any]:
    raw = os.environ.get("MMCREW_INPUTS", "").strip()
    if not raw:
        return {}
    try:
        return flow_section(_mapping(json.loads(raw), "MMCREW_INPUTS"), flow)
    except json.JSONDecodeError as e:
        raise InputError(f"MMCREW_INPUTS is not a JSON object: {e.msg}") from None


def resolve_inputs(flow: str, *, file: str | Path | None = None, pairs: list[str] | None = None) -> dict[str, Any]:
    """The inputs given for a run, lowest priority first; ``run_flow`` puts them over the flow's defaults."""
    merged: dict[str, Any] = {}
    merged.update(env_inputs(flow))
    if file:
        merged.update(flow_section(load_file(file), flow))
    merged.update(parse_pairs(pairs))
    return merged
