"""``mmcrew eval plan``: the planner scored on TaskBench-format tool graphs (node F1, edge F1).

Datasets (``DOMAINS``, under ``../shared/data/taskbench`` from the project root): TaskBench's
HuggingFace-tools domain (first 45 records), and RestBench/TMDB and UltraTool as converted by
GNN4TaskPlan. A record is ``{id, type, user_request, task_nodes: [{task, arguments?}], task_links:
[{source, target}]}``; each tool of the ``*_tool_desc.json`` becomes a ``ToolSpec`` with free arguments.

Scoring follows TaskBench's ``taskbench/evaluate.py`` (microsoft/JARVIS, commit
3c29e382877e1b7f792ac1212ba8d1e68a3f1c16; the later tip differs only in the label file names):

* **node F1** is ``node_micro_f1_no_matching`` (the paper's n-F1, see ``show_mertics.py``):
  ``flatten(label_names, predcition_names, types=tool ids)`` (lines 73-110, called at 490-492) takes,
  per record, the *set* union of gold and predicted tool names; a name that is not a tool id is
  dropped from both sides (gt = pred = 0); then ``precision_recall_fscore_support(..., labels=tool
  ids, average='micro')`` (495). So: per-record sets, counts pooled over all records (micro):
  TP = names in both, FP = predicted only, FN = gold only.
* **edge F1** is ``link_binary_f1`` (lines 538-550): the links of each record as ``(source, target)``
  tool-name pairs, ``flatten`` without types (set union per record, every pair counts), then
  ``average="binary"``: again per-record sets, counts pooled (micro) over all records.
* **which links**: with the default ``dependency_type == "resource"`` (HuggingFace, lines 356-408) the
  gold links are read from ``<node-j>`` arguments (j is a 0-based node index; a self reference is
  skipped; only the first ``<node-`` of an argument counts), not from ``task_links``, and tool names
  have ``_`` replaced by a space (357-358; the link *target* keeps the raw name, 375). With
  ``"temporal"`` (409-410) both sides' ``task_links`` are used as given. Here a record with
  ``arguments`` is scored as "resource", one without (TMDB, UltraTool) as "temporal". On the 45
  HuggingFace records the two readings of the gold links differ in 3 records (29369761, 19276184,
  27512782).
* **an unparsable prediction** is *left out* of every score: ``inference.py`` (tip 342e3b86, lines
  206-213, 291-293) raises ``ContentFormatError`` and writes no prediction, and ``evaluate`` scores
  only ids present in both files (line 299) and skips a prediction it cannot read (454-456).
  A zero-division precision/recall/F1 is 0, as sklearn's default gives.

Deviations:

* ``node_f1``/``edge_f1`` follow TaskBench (a ``PlanError`` record is left out); ``node_f1_all``/
  ``edge_f1_all`` also score it, as an empty prediction (only FN), since leaving failures out
  flatters a planner that fails often. ``scored`` says how many records the TaskBench figures cover.
* Our plan's links always come from ``<task-N>`` references (data flow, what TaskBench reads for
  "resource"); for the "temporal" domains (gold ``task_links`` are call order) a model is never asked
  for order-only links, so edge F1 there measures how often call order coincides with data flow.
* TMDB records have no ``type``; it is inferred (one node: single; n-1 links, in/out degree <= 1:
  chain; else dag). Argument F1, ROUGE of the steps and normalised edit distance are not computed.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ..errors import InputError, UserError
from ..settings import project_root
from ..steps.planning import Plan, PlanError, ToolSpec, make_plan, shortlist
from .stats import percentile, read_jsonl

__all__ = [
    "DOMAINS", "domain", "edge_f1", "eval_plan", "f1_counts", "gold_graph", "link_counts", "load_records",
    "load_tools", "node_counts", "node_f1", "predicted", "prf", "run_eval", "taskbench_names",
]  # fmt: skip

_DATA = (project_root() / ".." / "shared" / "data" / "taskbench").resolve()
# short name -> (dataset, tool descriptions)
DOMAINS: dict[str, tuple[Path, Path]] = {
    "huggingface": (_DATA / "taskbench_huggingface_first45.jsonl", _DATA / "huggingface_tool_desc.json"),
    "tmdb": (_DATA / "gnn4taskplan_tmdb_restbench_all.jsonl", _DATA / "gnn4taskplan_tmdb_tool_desc.json"),
    "ultratool": (_DATA / "gnn4taskplan_ultratool_first100.jsonl", _DATA / "gnn4taskplan_ultratool_tool_desc.json"),
}
TYPES = ("single", "chain", "dag")
_NODE_REF = re.compile(r"<node-(\d+)>")

Link = tuple[str, str]


def domain(name: str) -> tuple[Path, Path]:
    """(dataset, tool descriptions) of a domain named in ``DOMAINS``."""
    try:
        return DOMAINS[name]
    except KeyError:
        raise InputError(f"unknown TaskBench domain {name!r} (known: {', '.join(DOMAINS)})") from None


# ---------------------------------------------------------------- loading


def load_tools(tool_desc_path: Path | str) -> list[ToolSpec]:
    """The ``nodes`` of a TaskBench ``tool_desc.json`` as planner tools (free arguments, text output)."""
    path = Path(tool_desc_path)
    if not path.is_file():
        raise UserError(f"tool descriptions {path} do not exist")
    try:
        nodes = json.loads(path.read_text(encoding="utf-8"))["nodes"]
        tools = []
        for n in nodes:
            inputs = _typed_inputs(n.get("input-type") or [])
            output = ", ".join(n.get("output-type") or []) or "text"
            tools.append(ToolSpec(name=str(n["id"]), description=_first_sentence(str(n.get("desc", ""))),
                                  inputs=inputs, required=list(inputs), free_args=True, output=output))  # fmt: skip
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise UserError(f"{path}: not a TaskBench tool description file ({e})") from None
    if not tools:
        raise UserError(f"{path}: no tools")
    return tools


def _first_sentence(text: str, limit: int = 160) -> str:
    """The first sentence of a tool description (a small model reads a short list better)."""
    text = " ".join(text.split())
    m = re.search(r"(?<=[.!?])\s", text)
    first = text[: m.start()] if m else text
    return first if len(first) <= limit else first[: limit - 1].rsplit(" ", 1)[0] + "…"


def _typed_inputs(types: Sequence[str]) -> dict[str, str]:
    """TaskBench ``input-type`` (``["image", "text"]``) as shown arguments: ``{"image": "image", "text": "text"}``;
    a repeated type is numbered (``text``, ``text2``)."""
    out: dict[str, str] = {}
    for t in types:
        name, k = str(t), 1
        while name in out:
            k += 1
            name = f"{t}{k}"
        out[name] = str(t)
    return out


def _shape(nodes: Sequence[str], links: Iterable[Link]) -> str:
    """single / chain / dag of a graph that has no ``type`` (TMDB records)."""
    links = set(links)
    if len(nodes) <= 1:
        return "single"
    outs = [s for s, _ in links]
    ins = [t for _, t in links]
    if len(links) == len(nodes) - 1 and len(outs) == len(set(outs)) and len(ins) == len(set(ins)):
        return "chain"
    return "dag"


def load_records(path: Path | str, limit: int = 0) -> list[dict]:
    """The records of a TaskBench-format JSONL file (the first ``limit`` when ``limit > 0``)."""

    def item(r: dict) -> dict:
        nodes = r["task_nodes"]
        if not isinstance(nodes, list) or not nodes or not all(isinstance(n, dict) and n["task"] for n in nodes):
            raise ValueError("task_nodes must be a non-empty list of {task, arguments?}")
        links = r.get("task_links") or []
        request = str(r["user_request"]).strip()
        if not request:
            raise ValueError("empty user_request")
        names = [str(n["task"]) for n in nodes]
        kind = r.get("type") or _shape(names, [(str(x["source"]), str(x["target"])) for x in links])
        if kind not in TYPES:
            raise ValueError(f"unknown type {kind!r}")
        return {"id": str(r["id"]), "type": kind, "user_request": request, "task_nodes": nodes, "task_links": links}

    records = read_jsonl(path, item)
    return records[:limit] if limit > 0 else records


# ---------------------------------------------------------------- graphs as TaskBench reads them


def _argument_text(argument: Any) -> str:
    if isinstance(argument, dict):
        argument = next(iter(argument.values()), "")
    if isinstance(argument, list):
        argument = " ".join(str(a) for a in argument)
    return argument if isinstance(argument, str) else ""


def gold_graph(record: dict) -> tuple[list[str], list[Link], str]:
    """(tool names, links, dependency type) of a record, the links read as TaskBench reads them.

    "resource" (nodes carry ``arguments``): a link per ``<node-j>`` argument (j 0-based, the first
    reference of an argument, a self reference skipped); "temporal": the record's ``task_links``.
    """
    nodes = [str(n["task"]) for n in record["task_nodes"]]
    if not any("arguments" in n for n in record["task_nodes"]):
        return nodes, [(str(x["source"]), str(x["target"])) for x in record.get("task_links") or []], "temporal"
    links = []
    for i, node in enumerate(record["task_nodes"]):
        for argument in node.get("arguments") or []:
            m = _NODE_REF.search(_argument_text(argument))
            if m and int(m.group(1)) != i and int(m.group(1)) < len(nodes):
                links.append((nodes[int(m.group(1))], nodes[i]))
    return nodes, links, "resource"


def predicted(plan: Plan) -> tuple[list[str], list[Link]]:
    """Tool names of a plan's tasks, and its links (task numbers) as (source tool, target tool)."""
    nodes = [t.tool for t in plan.tasks]
    return nodes, [(nodes[s - 1], nodes[t - 1]) for s, t in plan.links()]


def taskbench_names(nodes: Sequence[str], links: Iterable[Link], dependency: str) -> tuple[list[str], list[Link]]:
    """Names as TaskBench compares them: for "resource", ``_`` becomes a space in node names and
    in a link's source (its target keeps the raw name, evaluate.py line 375); "temporal" as given."""
    if dependency != "resource":
        return list(nodes), list(links)
    return [n.replace("_", " ") for n in nodes], [(s.replace("_", " "), t) for s, t in links]


# ---------------------------------------------------------------- scoring


def node_counts(gold: Iterable[str], pred: Iterable[str], tool_ids: Iterable[str]) -> tuple[int, int, int]:
    """(TP, FP, FN) of one record's tool names: sets, names outside ``tool_ids`` ignored on both sides."""
    ids = set(tool_ids)
    g = {n for n in gold if n in ids}
    p = {n for n in pred if n in ids}
    return len(g & p), len(p - g), len(g - p)


def link_counts(gold: Iterable[Link], pred: Iterable[Link]) -> tuple[int, int, int]:
    """(TP, FP, FN) of one record's links, as sets of (source, target) name pairs."""
    g, p = {tuple(x) for x in gold}, {tuple(x) for x in pred}
    return len(g & p), len(p - g), len(g - p)


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall, F1; 0 where a denominator is 0 (sklearn's zero_division default)."""
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def f1_counts(counts: Iterable[tuple[int, int, int]]) -> tuple[float, float, float]:
    """Micro precision/recall/F1 of per-record (TP, FP, FN): the counts are summed first."""
    tp = fp = fn = 0
    for a, b, c in counts:
        tp, fp, fn = tp + a, fp + b, fn + c
    return prf(tp, fp, fn)


def node_f1(pairs: Iterable[tuple[Sequence[str], Sequence[str]]], tool_ids: Iterable[str]) -> float:
    """TaskBench's node micro F1 over (gold names, predicted names) pairs, one per record."""
    ids = set(tool_ids)
    return f1_counts(node_counts(g, p, ids) for g, p in pairs)[2]


def edge_f1(pairs: Iterable[tuple[Sequence[Link], Sequence[Link]]]) -> float:
    """TaskBench's link binary F1 over (gold links, predicted links) pairs, one per record."""
    return f1_counts(link_counts(g, p) for g, p in pairs)[2]


def _pct(x: float) -> float:
    return round(100 * x, 1)


def _scores(rows: list[dict], tool_ids: set[str]) -> dict[str, Any]:
    """TaskBench's figures (PlanError records left out) and the strict ones (they count as empty)."""
    out: dict[str, Any] = {"records": len(rows), "valid": sum(r["valid"] for r in rows)}
    for suffix, chosen in (("", [r for r in rows if r["valid"]]), ("_all", rows)):
        nodes = f1_counts(r["node_counts"] for r in chosen)
        links = f1_counts(r["link_counts"] for r in chosen)
        out[f"node_f1{suffix}"] = _pct(nodes[2])
        out[f"edge_f1{suffix}"] = _pct(links[2])
        if not suffix:
            out["scored"] = len(chosen)
            out["node_precision"], out["node_recall"] = _pct(nodes[0]), _pct(nodes[1])
            out["edge_precision"], out["edge_recall"] = _pct(links[0]), _pct(links[1])
    return out


def run_eval(
    records: list[dict],
    tools: Sequence[ToolSpec],
    planner: Callable[[str, Sequence[ToolSpec]], Plan],
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Plan each record's request with ``planner`` and score the plans as TaskBench does.

    ``PlanError`` makes an invalid plan (empty prediction, ``valid`` false); other errors propagate.
    """
    tool_ids = {t.name for t in tools}
    rows = []
    for k, rec in enumerate(records, start=1):
        if progress:
            progress(f"{k}/{len(records)} {rec['type']} {rec['id']}")
        gold_nodes, gold_links, dependency = gold_graph(rec)
        t0 = time.perf_counter()
        try:
            got = planner(rec["user_request"], tools)
            pred_nodes, pred_links = predicted(got)
            steps, valid, error = [t.step for t in got.tasks], True, ""
        except PlanError as e:
            pred_nodes, pred_links, steps, valid, error = [], [], [], False, str(e)
        seconds = time.perf_counter() - t0
        g_nodes, g_links = taskbench_names(gold_nodes, gold_links, dependency)
        p_nodes, p_links = taskbench_names(pred_nodes, pred_links, dependency)
        nc, lc = node_counts(g_nodes, p_nodes, tool_ids), link_counts(g_links, p_links)
        rows.append(
            {
                "id": rec["id"],
                "type": rec["type"],
                "dependency": dependency,
                "request": rec["user_request"],
                "gold_nodes": gold_nodes,
                "gold_links": [list(x) for x in gold_links],
                "pred_nodes": pred_nodes,
                "pred_links": [list(x) for x in pred_links],
                "pred_steps": steps,
                "valid": valid,
                "seconds": round(seconds, 3),
                "error": error,
                "node_counts": list(nc),
                "link_counts": list(lc),
            }
        )
    secs = [r["seconds"] for r in rows]
    summary = _scores(rows, tool_ids)
    summary["valid_share"] = round(summary["valid"] / len(rows), 3) if rows else None
    summary["latency_s"] = {"p50": round(percentile(secs, 0.5), 2), "p95": round(percentile(secs, 0.95), 2)}
    summary["by_type"] = {
        t: _scores([r for r in rows if r["type"] == t], tool_ids) for t in TYPES if any(r["type"] == t for r in rows)
    }
    summary["counts_by_type"] = {t: v["records"] for t, v in summary["by_type"].items()}
    return {"rows": rows, "summary": summary}


def eval_plan(
    dataset: Path,
    tools_path: Path,
    *,
    limit: int,
    model: Any,
    max_tasks: int,
    max_retries: int,
    max_tools: int = 0,
    embed: Callable[[list[str]], Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """``run_eval`` with ``make_plan`` over ``model`` as the planner, and the settings it ran with.
    With more than ``max_tools`` tools (and ``embed``), each request is planned over its nearest
    ``max_tools`` (``shortlist``), as ``mmcrew plan`` does."""
    records = load_records(dataset, limit)
    tools = load_tools(tools_path)

    def planner(request: str, offered: Sequence[ToolSpec]) -> Plan:
        if embed is not None and 0 < max_tools < len(offered):
            offered = shortlist(request, offered, embed, max_tools)
        return make_plan(request, offered, model, max_tasks=max_tasks, max_retries=max_retries)

    result = run_eval(records, tools, planner, progress)
    result["config"] = {
        "dataset": str(dataset),
        "tools": str(tools_path),
        "n_tools": len(tools),
        "limit": limit,
        "max_tasks": max_tasks,
        "max_retries": max_retries,
        "max_tools": max_tools if embed is not None and 0 < max_tools < len(tools) else len(tools),
    }
    return result
