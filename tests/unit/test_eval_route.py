"""The router's labelled request set loads and is balanced; run_eval scores a fake decide as worked out by hand."""

import json
import sys
import types
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

from multimodal_crew.errors import InputError, ModelBehaviorError
from multimodal_crew.evals.route import ROUTES, load_requests, run_eval

ROOT = Path(__file__).resolve().parents[2]
DATASET = ROOT / "bench/data/route/requests.jsonl"


def test_real_dataset_is_complete_and_balanced():
    items = load_requests(DATASET)
    assert len(items) >= 72
    assert len({it["id"] for it in items}) == len(items)
    per_route = Counter(it["route"] for it in items)
    assert set(per_route) == set(ROUTES)
    assert min(per_route.values()) >= 8, per_route
    langs = Counter(it["lang"] for it in items)
    assert set(langs) == {"en", "zh"}
    assert 0.25 <= langs["zh"] / len(items) <= 0.45, langs
    for it in items:
        assert all(Path(p).is_file() for p in it["images"]), it["id"]
        assert bool(it["images"]) == (it["route"] == "see"), it["id"]
        assert it["note"], it["id"]
    # the file keeps the paths relative to the project root
    for line in DATASET.read_text(encoding="utf-8").splitlines():
        for p in json.loads(line)["images"]:
            assert not Path(p).is_absolute() and (ROOT / p).is_file(), p


def test_limit_takes_the_first_requests():
    items = load_requests(DATASET, limit=5)
    assert [it["id"] for it in items] == ["r001", "r002", "r003", "r004", "r005"]


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "requests.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = json.dumps({"id": "a", "request": "hello", "route": "chat", "lang": "en", "images": [], "note": "hi"})


@pytest.mark.parametrize(
    "bad, words",
    [
        ("{not json", "line 3"),
        (json.dumps({"id": "b", "request": "x", "route": "dance", "lang": "en"}), "'route' must be one of"),
        (json.dumps({"id": "b", "request": "x", "route": "ask", "lang": "fr"}), "'lang'"),
        (json.dumps({"id": "b", "request": "  ", "route": "ask", "lang": "en"}), "'request'"),
        (json.dumps({"id": "b", "request": "x", "route": "see", "lang": "en", "images": ["nope.png"]}), "nope.png"),
        (json.dumps({"id": "a", "request": "x", "route": "ask", "lang": "en"}), "already used on line 1"),
    ],
)
def test_a_bad_line_is_an_input_error_naming_its_line(tmp_path, bad, words):
    path = _write(tmp_path, [GOOD, "", bad])  # the blank line still counts
    with pytest.raises(InputError) as e:
        load_requests(path)
    msg = str(e.value)
    assert "line 3" in msg and words in msg and "\n" not in msg


def test_missing_dataset_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_requests(tmp_path / "none.jsonl")


def _items() -> list[dict]:
    spec = [  # id, lang, gold
        ("r1", "en", "ask"),
        ("r2", "en", "ask"),
        ("r3", "zh", "chat"),
        ("r4", "zh", "plan"),
        ("r5", "en", "see"),
    ]
    return [
        {"id": i, "lang": lang, "route": gold, "request": f"request {i}", "images": ["x.png"] if gold == "see" else []}
        for i, lang, gold in spec
    ]


def test_run_eval_with_a_lookup_and_a_failure():
    answers = {"request r1": "ask", "request r2": "plan", "request r3": "chat", "request r4": "plan"}
    seen = []

    def decide(request, images):
        seen.append((request, images))
        if request not in answers:
            raise ModelBehaviorError("the router gave no route")
        return SimpleNamespace(route=answers[request], quadrant="q", model_calls=len(request) % 3 + 1)

    progress = []
    report = run_eval(_items(), decide, progress=progress.append)
    rows, s = report["rows"], report["summary"]
    assert progress[0] == "1/5 r1" and len(progress) == 5
    assert seen[4] == ("request r5", ["x.png"])
    assert [r["predicted"] for r in rows] == ["ask", "plan", "chat", "plan", None]
    assert [r["correct"] for r in rows] == [True, False, True, True, False]
    assert rows[4]["error"] == "the router gave no route" and rows[4]["model_calls"] is None
    assert set(rows[0]) == {"id", "lang", "gold", "predicted", "quadrant", "correct", "seconds", "model_calls", "error"}

    # by hand: 3 of 5 right; en r1 r2 r5 -> 1/3, zh r3 r4 -> 2/2
    assert (s["n"], s["correct"], s["accuracy"], s["failed"]) == (5, 3, 0.6, 1)
    assert s["by_lang"] == {
        "en": {"n": 3, "correct": 1, "accuracy": 0.3333},
        "zh": {"n": 2, "correct": 2, "accuracy": 1.0},
    }
    # ask: gold 2, predicted 1 (r1), right 1 -> recall 0.5, precision 1.0
    assert s["by_route"]["ask"] == {"gold": 2, "predicted": 1, "correct": 1, "recall": 0.5, "precision": 1.0}
    # plan: gold 1, predicted 2 (r2, r4), right 1 -> recall 1.0, precision 0.5
    assert s["by_route"]["plan"] == {"gold": 1, "predicted": 2, "correct": 1, "recall": 1.0, "precision": 0.5}
    # see: gold 1, never predicted -> recall 0, precision undefined; research: neither
    assert s["by_route"]["see"] == {"gold": 1, "predicted": 0, "correct": 0, "recall": 0.0, "precision": None}
    assert s["by_route"]["research"]["recall"] is None and list(s["by_route"]) == list(ROUTES)
    assert s["confusion"] == {
        "ask": {"ask": 1, "plan": 1},
        "chat": {"chat": 1},
        "see": {"error": 1},
        "plan": {"plan": 1},
    }
    # model calls (len % 3 + 1, all requests are 10 chars -> 2 each) over the 4 decided requests
    assert s["mean_model_calls"] == 2.0
    assert set(s["latency_s"]) == {"p50", "p95"} and 0 <= s["latency_s"]["p50"] <= s["latency_s"]["p95"]


def test_any_exception_is_a_wrong_row_with_its_text():
    def decide(request, images):
        raise RuntimeError("llama crashed\n  at line 2")

    report = run_eval(_items()[:2], decide)
    assert [r["error"] for r in report["rows"]] == ["RuntimeError: llama crashed at line 2"] * 2
    s = report["summary"]
    assert (s["accuracy"], s["failed"], s["mean_model_calls"]) == (0.0, 2, None)
    assert s["confusion"] == {"ask": {"error": 2}}


def test_an_unexpected_route_is_counted_not_dropped():
    report = run_eval(_items()[:1], lambda r, i: SimpleNamespace(route="dance", quadrant="?", model_calls=1))
    s = report["summary"]
    assert s["by_route"]["dance"] == {"gold": 0, "predicted": 1, "correct": 0, "recall": None, "precision": 0.0}
    assert s["confusion"] == {"ask": {"dance": 1}}


def test_latency_percentiles_by_hand(monkeypatch):
    # perf_counter pairs give durations 1, 2, 3, 4, 10 s: nearest-rank p50 = 3, p95 = 10
    ticks = iter([0, 1, 10, 12, 20, 23, 30, 34, 40, 50])
    monkeypatch.setattr("multimodal_crew.evals.route.time.perf_counter", lambda: next(ticks))
    report = run_eval(_items(), lambda r, i: SimpleNamespace(route="ask", quadrant="q", model_calls=3))
    assert [r["seconds"] for r in report["rows"]] == [1, 2, 3, 4, 10]
    assert report["summary"]["latency_s"] == {"p50": 3, "p95": 10}
    assert report["summary"]["mean_model_calls"] == 3.0


def test_eval_route_calls_the_router_with_model_images_and_settings(monkeypatch, tmp_path):
    calls = []

    def fake_decide(request, model, *, images=(), settings=None):
        calls.append((request, model, list(images), settings))
        return SimpleNamespace(route="see" if images else "chat", quadrant="q", model_calls=1)

    fake = types.ModuleType("multimodal_crew.flows.routing")
    fake.decide = fake_decide
    monkeypatch.setitem(sys.modules, "multimodal_crew.flows.routing", fake)
    import multimodal_crew.flows as flows

    monkeypatch.setattr(flows, "routing", fake, raising=False)
    from multimodal_crew.evals.route import eval_route

    report = eval_route(DATASET, limit=7, model="M", settings="S")
    assert len(report["rows"]) == 7 and report["dataset"] == str(DATASET)
    assert all(m == "M" and s == "S" for _, m, _, s in calls)
    see = [c for c in calls if c[2]]
    assert see and all(Path(p).is_absolute() and Path(p).is_file() for c in see for p in c[2])
    assert report["summary"]["by_route"]["see"]["recall"] == 1.0
