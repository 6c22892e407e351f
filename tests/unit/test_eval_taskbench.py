"""TaskBench scoring of the planner: hand-computed F1s, the three real datasets, run_eval with fake planners."""

from __future__ import annotations

import json
import random
from graphlib import TopologicalSorter

import pytest

from multimodal_crew.errors import InputError, UserError
from multimodal_crew.evals import taskbench as tb
from multimodal_crew.steps.planning import Plan, PlanError, PlanTask, ToolSpec
from tests.fakes import ScriptedModel

IDS = ["A", "B", "C", "D"]
HAVE_DATA = all(d.is_file() and t.is_file() for d, t in tb.DOMAINS.values())
needs_data = pytest.mark.skipif(not HAVE_DATA, reason="TaskBench data not present")


def plan(*tools: str, refs: dict[int, list[int]] | None = None) -> Plan:
    """A plan of ``tools``; ``refs[i]`` are the task numbers task ``i`` (1-based) reads."""
    refs = refs or {}
    return Plan(
        tasks=[
            PlanTask(tool=t, args={f"in{k}": f"<task-{n}>" for k, n in enumerate(refs.get(i, []))} or {"text": "x"})
            for i, t in enumerate(tools, start=1)
        ]
    )


def record(rid: str, kind: str, nodes: list[str], links: list[tuple[str, str]]) -> dict:
    return {
        "id": rid,
        "type": kind,
        "user_request": f"request {rid}",
        "task_nodes": [{"task": n} for n in nodes],
        "task_links": [{"source": s, "target": t} for s, t in links],
    }


# ---------------------------------------------------------------- scoring, hand-computed


def test_perfect_plan():
    assert tb.node_f1([(["A", "B"], ["A", "B"])], IDS) == 1.0
    assert tb.edge_f1([([("A", "B")], [("A", "B")])]) == 1.0


def test_missing_node_and_link():
    # gold A->B->C, predicted A->B: nodes tp 2 fn 1 -> P 1, R 2/3, F1 0.8; links tp 1 fn 1 -> F1 2/3
    assert tb.node_counts(["A", "B", "C"], ["A", "B"], IDS) == (2, 0, 1)
    assert tb.node_f1([(["A", "B", "C"], ["A", "B"])], IDS) == pytest.approx(0.8)
    assert tb.edge_f1([([("A", "B"), ("B", "C")], [("A", "B")])]) == pytest.approx(2 / 3)


def test_extra_node():
    # P 2/3, R 1 -> F1 0.8
    assert tb.node_counts(["A", "B"], ["A", "B", "C"], IDS) == (2, 1, 0)
    assert tb.node_f1([(["A", "B"], ["A", "B", "C"])], IDS) == pytest.approx(0.8)


def test_wrong_link_direction():
    assert tb.link_counts([("A", "B")], [("B", "A")]) == (0, 1, 1)
    assert tb.edge_f1([([("A", "B")], [("B", "A")])]) == 0.0
    # the nodes are still right
    assert tb.node_f1([(["A", "B"], ["B", "A"])], IDS) == 1.0


def test_empty_prediction():
    assert tb.node_counts(["A", "B"], [], IDS) == (0, 0, 2)
    assert tb.node_f1([(["A", "B"], [])], IDS) == 0.0
    assert tb.edge_f1([([("A", "B")], [])]) == 0.0
    assert tb.prf(0, 0, 0) == (0.0, 0.0, 0.0)


def test_micro_not_macro():
    # record 1 perfect (tp 1), record 2 empty (fn 3): micro P 1, R 1/4 -> 0.4 (per-record mean would be 0.5)
    pairs = [(["A"], ["A"]), (["B", "C", "D"], [])]
    assert tb.node_f1(pairs, IDS) == pytest.approx(0.4)
    links = [([("A", "B")], [("A", "B")]), ([("B", "C"), ("C", "D"), ("B", "D")], [])]
    assert tb.edge_f1(links) == pytest.approx(0.4)


def test_sets_not_multisets_and_unknown_names_ignored():
    # TaskBench's flatten takes set unions: a repeated tool counts once
    assert tb.node_f1([(["A", "A"], ["A"])], IDS) == 1.0
    assert tb.edge_f1([([("A", "B"), ("A", "B")], [("A", "B")])]) == 1.0
    # a name that is no tool id is dropped on both sides (not a false positive)
    assert tb.node_counts(["A"], ["A", "Z"], IDS) == (1, 0, 0)
    # links are not filtered by tool ids
    assert tb.link_counts([("A", "B")], [("A", "B"), ("Z", "A")]) == (1, 1, 0)


def test_resource_names_replace_underscores_like_taskbench():
    nodes, links = tb.taskbench_names(["a_b", "c_d"], [("a_b", "c_d")], "resource")
    assert nodes == ["a b", "c d"] and links == [("a b", "c_d")]
    assert tb.taskbench_names(["a_b"], [("a_b", "c_d")], "temporal") == (["a_b"], [("a_b", "c_d")])


def _flatten(gold: list, pred: list, types: list | None) -> tuple[list[int], list[int]]:
    """TaskBench's label vectors, written out independently: one position per distinct item of a record."""
    gt, pr = [], []
    for g, p in zip(gold, pred, strict=True):
        for s in set(g) | set(p):
            if types is not None and s not in types:
                gt.append(0), pr.append(0)
                continue
            label = types.index(s) + 1 if types is not None else 1
            gt.append(label if s in g else 0)
            pr.append(label if s in p else 0)
    return gt, pr


def test_matches_sklearn_as_taskbench_calls_it():
    prfs = pytest.importorskip("sklearn.metrics").precision_recall_fscore_support
    rng = random.Random(7)
    pool = IDS + ["Z"]
    gold, pred = [], []
    for _ in range(40):
        gold.append([rng.choice(IDS) for _ in range(rng.randint(1, 4))])
        pred.append([rng.choice(pool) for _ in range(rng.randint(0, 4))])
    gt, pr = _flatten(gold, pred, IDS)
    want = prfs(gt, pr, labels=list(range(1, len(IDS) + 1)), average="micro", zero_division=0)[2]
    assert tb.node_f1(zip(gold, pred, strict=True), IDS) == pytest.approx(want)

    glinks = [[(rng.choice(IDS), rng.choice(IDS)) for _ in range(rng.randint(0, 3))] for _ in range(40)]
    plinks = [[(rng.choice(pool), rng.choice(IDS)) for _ in range(rng.randint(0, 3))] for _ in range(40)]
    gt, pr = _flatten(glinks, plinks, None)
    want = prfs(gt, pr, average="binary", zero_division=0)[2]
    assert tb.edge_f1(zip(glinks, plinks, strict=True)) == pytest.approx(want)


# ---------------------------------------------------------------- graphs


def test_predicted_maps_task_numbers_to_tool_names():
    p = plan("A", "B", "C", refs={2: [1], 3: [1, 2]})
    assert tb.predicted(p) == (["A", "B", "C"], [("A", "B"), ("A", "C"), ("B", "C")])


def test_gold_links_from_node_arguments_when_present():
    rec = {
        "id": "1",
        "task_nodes": [
            {"task": "A", "arguments": ["x.jpg"]},
            {"task": "B", "arguments": ["<node-0>", "<node-1>"]},  # the self reference is skipped
            {"task": "C", "arguments": [{"text": "<node-1>"}]},
        ],
        "task_links": [{"source": "A", "target": "C"}],  # ignored in "resource" mode, as TaskBench does
    }
    assert tb.gold_graph(rec) == (["A", "B", "C"], [("A", "B"), ("B", "C")], "resource")
    no_args = record("2", "chain", ["A", "B"], [("A", "B")])
    assert tb.gold_graph(no_args) == (["A", "B"], [("A", "B")], "temporal")


# ---------------------------------------------------------------- the real files


@needs_data
@pytest.mark.parametrize(
    ("name", "n_records", "n_tools"), [("huggingface", 45, 23), ("tmdb", 100, 46), ("ultratool", 100, 260)]
)
def test_load_real_domains(name, n_records, n_tools):
    dataset, tools_path = tb.domain(name)
    records = tb.load_records(dataset)
    tools = tb.load_tools(tools_path)
    assert len(records) == n_records and len(tools) == n_tools
    assert all(t.free_args and t.output and t.description and len(t.description) <= 160 for t in tools)
    ids = {t.name for t in tools}
    assert all(n["task"] in ids for r in records for n in r["task_nodes"])
    assert all(r["type"] in tb.TYPES and r["user_request"] and isinstance(r["id"], str) for r in records)
    assert len(tb.load_records(dataset, limit=5)) == 5


@needs_data
def test_huggingface_details():
    dataset, tools_path = tb.DOMAINS["huggingface"]
    tools = {t.name: t for t in tb.load_tools(tools_path)}
    # the input and output types become the signature; the description its first sentence
    assert tools["Object Detection"].line() == (
        "- Object Detection(image: image) -> text: "
        "Object Detection models allow users to identify objects of certain defined classes."
    )
    assert tools["Question Answering"].inputs == {"text": "text", "text2": "text"}
    assert tools["Image Editing"].output == "image"
    records = {r["id"]: r for r in tb.load_records(dataset)}
    kinds = [r["type"] for r in records.values()]
    assert (kinds.count("single"), kinds.count("chain"), kinds.count("dag")) == (17, 23, 5)
    # TaskBench reads gold links from <node-j> arguments; here they differ from task_links
    nodes, links, dep = tb.gold_graph(records["27512782"])
    assert dep == "resource"
    assert sorted(links) == [
        ("Conversational", "Sentence Similarity"),
        ("Summarization", "Conversational"),
        ("Summarization", "Sentence Similarity"),
    ]


def _oracle(records: dict[str, dict]):
    """A planner that answers each request with its gold graph, tasks in a topological order (a gold
    argument may refer to a later node; a plan may not), links as <task-N> references."""

    def planner(request: str, tools) -> Plan:
        rec = next(r for r in records.values() if r["user_request"] == request)
        nodes, links, _ = tb.gold_graph(rec)
        assert len(set(nodes)) == len(nodes)
        order = list(TopologicalSorter({n: {s for s, t in links if t == n} for n in nodes}).static_order())
        refs: dict[int, list[int]] = {}
        for s, t in links:
            refs.setdefault(order.index(t) + 1, []).append(order.index(s) + 1)
        return plan(*order, refs=refs)

    return planner


@needs_data
@pytest.mark.parametrize("name", ["huggingface", "ultratool"])
def test_gold_as_prediction_scores_100(name):
    dataset, tools_path = tb.DOMAINS[name]
    records = tb.load_records(dataset)
    out = tb.run_eval(records, tb.load_tools(tools_path), _oracle({r["id"]: r for r in records}))
    s = out["summary"]
    assert (s["node_f1"], s["edge_f1"], s["node_f1_all"], s["valid_share"]) == (100.0, 100.0, 100.0, 1.0)


@needs_data
def test_tmdb_types_are_inferred():
    records = tb.load_records(tb.DOMAINS["tmdb"][0])
    kinds = [r["type"] for r in records]
    assert kinds.count("single") == 5 and kinds.count("chain") + kinds.count("dag") == 95
    assert next(r for r in records if r["id"] == "78")["type"] == "chain"  # SearchMovie -> SearchMovie


# ---------------------------------------------------------------- run_eval with fake planners


TOOLS = [ToolSpec(name=n, description=f"tool {n}", free_args=True) for n in IDS]
RECORDS = [
    record("r1", "single", ["A"], []),
    record("r2", "chain", ["A", "B", "C"], [("A", "B"), ("B", "C")]),
    record("r3", "dag", ["A", "B", "C"], [("A", "C"), ("B", "C")]),
]
ANSWERS = {
    "request r1": plan("A"),
    "request r2": plan("A", "B", refs={2: [1]}),  # misses C and B->C
}


def fake_planner(request: str, tools) -> Plan:
    assert [t.name for t in tools] == IDS
    if request not in ANSWERS:
        raise PlanError("no valid plan after 3 attempt(s): task 2: <task-5> does not exist", ["bad ref"])
    return ANSWERS[request]


def test_run_eval_with_fake_planner():
    seen = []
    out = tb.run_eval(RECORDS, TOOLS, fake_planner, progress=seen.append)
    assert len(seen) == 3 and seen[0].startswith("1/3")
    rows = {r["id"]: r for r in out["rows"]}
    assert rows["r2"]["pred_nodes"] == ["A", "B"] and rows["r2"]["pred_links"] == [["A", "B"]]
    assert rows["r2"]["gold_links"] == [["A", "B"], ["B", "C"]] and rows["r2"]["valid"] and not rows["r2"]["error"]
    assert not rows["r3"]["valid"] and "<task-5>" in rows["r3"]["error"]
    assert rows["r3"]["pred_nodes"] == [] and rows["r3"]["pred_links"] == []
    assert all(set(r) >= {"id", "type", "gold_nodes", "gold_links", "seconds"} for r in rows.values())

    s = out["summary"]
    # TaskBench leaves the invalid r3 out: nodes tp 3 fn 1 -> P 1, R 3/4 -> 85.7; links tp 1 fn 1 -> 66.7
    assert (s["records"], s["scored"], s["valid"], s["valid_share"]) == (3, 2, 2, 0.667)
    assert (s["node_f1"], s["edge_f1"], s["node_recall"]) == (85.7, 66.7, 75.0)
    # counted as an empty prediction: nodes tp 3 fn 4 -> R 3/7 -> 60.0; links tp 1 fn 3 -> 40.0
    assert (s["node_f1_all"], s["edge_f1_all"]) == (60.0, 40.0)
    assert s["counts_by_type"] == {"single": 1, "chain": 1, "dag": 1}
    assert s["by_type"]["chain"]["node_f1"] == 80.0 and s["by_type"]["dag"]["node_f1_all"] == 0.0
    assert set(s["latency_s"]) == {"p50", "p95"}


def test_run_eval_lets_other_errors_through():
    def broken(request, tools):
        raise RuntimeError("backend down")

    with pytest.raises(RuntimeError):
        tb.run_eval(RECORDS[:1], TOOLS, broken)


def test_eval_plan_with_scripted_model(tmp_path):
    desc = {"nodes": [{"id": n, "desc": f"tool {n}", "input-type": ["text"], "output-type": ["text"]} for n in IDS]}
    (tmp_path / "tools.json").write_text(json.dumps(desc))
    (tmp_path / "data.jsonl").write_text("\n".join(json.dumps(r) for r in RECORDS[1:]) + "\n")
    model = ScriptedModel(
        {
            "tasks": [
                {"step": "a", "tool": "A", "args": {"text": "x"}},
                {"step": "b", "tool": "B", "args": {"text": "<task-1>"}},
            ]
        }
    )
    out = tb.eval_plan(
        tmp_path / "data.jsonl", tmp_path / "tools.json", limit=1, model=model, max_tasks=4, max_retries=0
    )
    assert len(out["rows"]) == 1 and out["rows"][0]["pred_links"] == [["A", "B"]]
    assert out["summary"]["node_f1"] == 80.0 and out["config"]["n_tools"] == 4
    assert "- A(text: text) -> text: tool A" in model.last_messages[-1]["content"]


def test_bad_inputs_are_user_errors(tmp_path):
    with pytest.raises(UserError):
        tb.load_tools(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"nodes": [{"desc": "no id"}]}')
    with pytest.raises(UserError):
        tb.load_tools(tmp_path / "bad.json")
    (tmp_path / "bad.jsonl").write_text('{"id": 1, "user_request": "x", "task_nodes": []}\n')
    with pytest.raises(UserError, match="line 1"):
        tb.load_records(tmp_path / "bad.jsonl")
    with pytest.raises(InputError, match="huggingface"):
        tb.domain("nope")


def test_a_long_tool_list_is_shortlisted_to_the_tools_nearest_the_request(tmp_path):
    """More tools than max_tools: the planner sees the nearest by the embedder, most similar first."""
    from multimodal_crew.steps.planning import shortlist
    from tests.fakes import HashEmbedder

    emb = HashEmbedder()
    tools = [ToolSpec(name=n, description=f"tool {n}") for n in ("alpha", "beta", "gamma", "delta")]
    # the request is exactly the text of gamma's line, so gamma must come first
    kept = shortlist("gamma: tool gamma", tools, emb.embed, 2)
    assert len(kept) == 2 and kept[0].name == "gamma"
    assert shortlist("anything", tools, emb.embed, 10) == tools  # short lists are left as they are

    desc = {"nodes": [{"id": n, "desc": f"tool {n}", "input-type": ["text"], "output-type": ["text"]} for n in IDS]}
    (tmp_path / "tools.json").write_text(json.dumps(desc))
    (tmp_path / "data.jsonl").write_text(json.dumps(RECORDS[1]) + "\n")
    model = ScriptedModel({"tasks": [{"step": "a", "tool": "A", "args": {"text": "x"}}]})
    out = tb.eval_plan(tmp_path / "data.jsonl", tmp_path / "tools.json", limit=1, model=model, max_tasks=4,
                       max_retries=0, max_tools=2, embed=emb.embed)  # fmt: skip
    shown = [line for line in model.last_messages[-1]["content"].splitlines() if line.startswith("- ")]
    assert len(shown) == 2 and out["config"]["max_tools"] == 2
