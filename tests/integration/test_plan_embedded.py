"""The planner and the router on the real embedded model (llama.cpp, pinned GGUF)."""

import json
import re
from pathlib import Path

import pytest

from multimodal_crew.errors import StructuredOutputError
from multimodal_crew.flows import run_flow
from multimodal_crew.flows.routing import decide
from multimodal_crew.models.runtime import get_runtime
from tests.fakes import expected_totals

pytestmark = pytest.mark.integration


def _plain(text: str) -> str:
    """``12,345`` -> ``12345``: the answer may group thousands."""
    return re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)


def test_a_three_step_plan_queries_twice_calculates_and_states_the_true_difference(state_home):
    request = "How many more active users did Osaka have than Lisbon from 2024-02-01 to 2024-02-29?"
    r = run_flow("plan", {"request": request})
    run = Path(r.output_dir)
    planned = json.loads((run / "plan.json").read_text(encoding="utf-8"))
    tools = [t["tool"] for t in planned["tasks"]]
    t = expected_totals("2024-02-01", "2024-02-29")
    diff = t["Osaka"] - t["Lisbon"]
    facts = f"plan: {json.dumps(planned['tasks'])}\nstatus: {r.status} {r.reason}\nanswer: {r.text}\ntrue: {diff}"
    assert "report_query" in tools and "calculate" in tools, facts
    assert r.status == "ok", facts
    assert str(diff) in _plain(r.text), facts


ROUTED = [
    ("chat", "Write a short cheerful poem about the first day of spring."),
    ("ask", "According to the maintenance plan, how often must the smoke detector sensors be replaced?"),
    (
        "research",
        "Write a detailed research report on the fire safety duties of the contractors in the facility "
        "maintenance plans, with citations, reviewed by a critic.",
    ),
    (
        "plan",
        "Query the daily active users of Osaka and of Lisbon for February 2024, calculate the difference "
        "between the two totals, then translate the answer into French.",
    ),
]


@pytest.mark.parametrize(("route", "request_text"), ROUTED, ids=[r for r, _ in ROUTED])
def test_a_clear_request_goes_to_its_route(state_home, route, request_text):
    try:
        d = decide(request_text, get_runtime())
    except StructuredOutputError as e:  # show what the model wrote, attempt by attempt
        pytest.fail("\n".join([str(e), *(f"attempt {i}: {a.raw[:1500]}\n  refused: {a.error}"
                                         for i, a in enumerate(e.attempts, start=1))]))  # fmt: skip
    scores = {name: f.score for name, f in d.scores.items()}
    assert d.route == route, f"routed to {d.route} ({d.quadrant}); scores {scores}; inputs {d.inputs}"
