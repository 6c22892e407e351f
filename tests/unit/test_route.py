"""The router on named fake models: scores -> quadrant, routes schema-constrained, inputs validated, override."""

import json

import pytest

from multimodal_crew.errors import InputError
from multimodal_crew.flows import run_flow
from multimodal_crew.flows.routing import COMPLEXITY, PRECISION, decide
from tests.fakes import ScriptedModel, ScriptedRuntime


def reply(route: str, inputs: dict, c: int = 2, p: int = 8) -> dict:
    route = {"plan": "multi_step"}.get(route, route)  # the name the model sees
    scores = {f: {"score": c, "reason": "few steps"} for f in COMPLEXITY}
    scores |= {f: {"score": p, "reason": "facts must be exact"} for f in PRECISION}
    return {"scores": scores, "route": route, "inputs": inputs}


def _offered(model: ScriptedModel) -> list[str]:
    schema = json.dumps(model.requests[0][1])
    return [r for r in ("chat", "ask", "see", "report", "workorder", "research", "multi_step") if f'"{r}"' in schema]


def test_one_call_scores_picks_a_route_and_validates_its_inputs_over_the_flow_defaults():
    model = ScriptedModel(reply("report", {"start_date": "2024-02-01", "end_date": "2024-02-29", "city": "Osaka"}))
    d = decide("Active users in Osaka in February 2024", model)
    assert d.route == "report" and d.model_calls == 1 and len(model.requests) == 1
    assert d.quadrant == "low complexity, high precision" and d.complexity == 2 and d.precision == 8
    assert d.inputs == {"start_date": "2024-02-01", "end_date": "2024-02-29", "city": "Osaka"}


def test_bad_inputs_go_back_to_the_model_with_the_reason():
    bad = reply("report", {"start_date": "2024-02-30", "end_date": "2024-02-29"})
    good = reply("report", {"start_date": "2024-02-01", "end_date": "2024-02-29"})
    model = ScriptedModel(bad, good)
    d = decide("February", model)
    assert d.inputs["start_date"] == "2024-02-01" and d.model_calls == 2
    assert "inputs for report" in str(model.requests[1][0])


def test_the_quadrant_follows_the_scores():
    assert decide("x", ScriptedModel(reply("chat", {}, c=2, p=2))).quadrant == "low complexity, low precision"
    assert (
        decide("fire safety", ScriptedModel(reply("research", {}, c=8, p=3))).quadrant
        == "high complexity, low precision"
    )
    assert decide("x", ScriptedModel(reply("plan", {}, c=8, p=9))).quadrant == "high complexity, high precision"


def test_what_the_request_settles_is_filled_in():
    d = decide("Write a haiku about lifts", ScriptedModel(reply("chat", {}, c=1, p=1)))
    assert d.inputs == {"message": "Write a haiku about lifts"}
    d = decide("compare two figures", ScriptedModel(reply("plan", {}, c=8, p=9)))
    assert d.inputs["request"] == "compare two figures"


def test_see_is_offered_only_with_an_image_and_gets_it(tmp_path):
    model = ScriptedModel(reply("ask", {"question": "q"}))
    decide("What is the total?", model)
    assert "see" not in _offered(model)
    img = tmp_path / "r.png"
    img.write_bytes(b"x")
    model = ScriptedModel(reply("see", {"question": "What is the total?"}))
    d = decide("What is the total?", model, images=[str(img)])
    assert "see" in _offered(model) and d.inputs["image"] == str(img)


def test_the_override_constrains_the_schema_to_that_route_and_an_unknown_one_is_refused():
    model = ScriptedModel(reply("research", {"topic": "fire safety duties"}))
    d = decide("fire safety", model, route="research")
    assert d.route == "research" and d.overridden and _offered(model) == ["research"]
    with pytest.raises(InputError, match="unknown route 'poem'"):
        decide("x", ScriptedModel(reply("chat", {})), route="poem")
    with pytest.raises(InputError, match="empty"):
        decide("  ", ScriptedModel(reply("chat", {})))


def test_the_route_flow_runs_the_chosen_flow_and_returns_its_result(state_home):
    model = ScriptedRuntime(["Lift-o-matic and FixIt."], reply("chat", {}, c=1, p=1))
    r = run_flow("route", {"request": "Two names for a maintenance app"}, model=model)
    assert r.flow == "route" and r.status == "ok" and r.text == "Lift-o-matic and FixIt."
    assert r.model_calls == 2  # one to route, one for the chat agent
    assert r.data["routed"]["decision"]["route"] == "chat"


def test_a_dry_run_decides_and_runs_nothing(state_home):
    model = ScriptedRuntime([], reply("chat", {}, c=1, p=1))
    r = run_flow("route", {"request": "Two names", "dry_run": True}, model=model)
    assert "route: chat (low complexity, low precision" in r.text and model.llm.seen == []


def test_inputs_the_request_settles_are_never_taken_from_the_model():
    """The model once wrote "images": "" for plan, which no list accepts: it is the caller's, not the model's."""
    model = ScriptedModel(reply("plan", {"request": "compare", "images": "", "tools": "rm -rf"}, c=8, p=9))
    d = decide("compare the two plans' penalties and compute the difference", model)
    assert d.inputs["images"] == [] and d.inputs["tools"] == "" and d.model_calls == 1
    assert "images" not in model.requests[0][0][0]["content"].split("- multi_step:")[1].splitlines()[0]


def test_see_takes_the_request_as_its_question_when_the_model_leaves_it_out(tmp_path):
    img = tmp_path / "r.png"
    img.write_bytes(b"x")
    d = decide("Which city did they write on this form?", ScriptedModel(reply("see", {})), images=[str(img)])
    assert d.inputs["question"] == "Which city did they write on this form?" and d.model_calls == 1
