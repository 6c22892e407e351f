"""The router: CrewAI's complexity x precision guide as the front door, in one model call.

One ``structured()`` call scores the request on the guide's eight factors (1-10, each with a
one-line reason), then picks a route, schema-constrained to the routable flows, and that route's
inputs. The inputs are validated against the flow's own input model (over its defaults), and a
problem goes back to the model for a retry. The quadrant follows from the scores:

===================  =====================  ==========================================
complexity           precision              shape (routes)
===================  =====================  ==========================================
low                  low                    a simple crew (``chat``)
low                  high                   a flow with direct LLM calls (``ask``, ``see``, ``report``, ``workorder``)
high                 low                    a complex crew (``research``)
high                 high                   a flow orchestrating tools and crews (``plan``)
===================  =====================  ==========================================
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model

from ..errors import InputError, UserError
from ..models.structured import Attempts, ValidationFailed, structured

__all__ = ["COMPLEXITY", "PRECISION", "ROUTES", "Factor", "RouteDecision", "decide", "quadrant_of"]

COMPLEXITY = ("steps", "interdependence", "conditional_logic", "domain_knowledge")
PRECISION = ("output_structure", "factual_accuracy", "reproducibility", "error_tolerance")
QUADRANTS = {
    ("low", "low"): ("chat",),
    ("low", "high"): ("ask", "see", "report", "workorder"),
    ("high", "low"): ("research",),
    ("high", "high"): ("plan",),
}
ROUTES = {
    "chat": "brainstorming, free writing, a poem, names, small talk, general advice: no fact from the documents",
    "ask": "ONE question whose answer is written in the user's documents (what a contract, plan, filing or rule "
    "says: when, how often, who must, how much): the answer with quotes, nothing else",
    "see": "a question about an image the user gives (chart, table, receipt, sign, form, photo)",
    "report": "daily active users for ONE date range (all cities or one city): a table, a chart and a summary; "
    "nothing compared or computed beyond that",
    "workorder": "the user wants an email or work order WRITTEN to the contractor about a problem or a duty",
    "research": "a longer written report or overview on a topic from the documents, with citations",
    "plan": "two or more operations combined: several facts plus arithmetic on them (totals, differences, ratios, "
    "growth, what would we pay if ...), comparing periods, cities or documents, looking something up and then "
    "translating it",
}


class Factor(BaseModel):
    score: int = Field(..., ge=1, le=10)
    # at most 60 characters: short enough for llama.cpp's grammar to enforce while it generates
    reason: str = Field(..., min_length=1, max_length=60, description="a few words")


class RouteDecision(BaseModel):
    route: str
    quadrant: str
    complexity: float
    precision: float
    scores: dict[str, Factor]
    inputs: dict[str, Any]
    model_calls: int = 1
    overridden: bool = False


def quadrant_of(scores: dict[str, Factor]) -> tuple[str, float, float]:
    c = sum(scores[f].score for f in COMPLEXITY) / len(COMPLEXITY)
    p = sum(scores[f].score for f in PRECISION) / len(PRECISION)
    return f"{'high' if c > 5 else 'low'} complexity, {'high' if p > 5 else 'low'} precision", c, p


SYSTEM = """You route a user's request to one of these routes:
{routes}

First score the request from 1 (low) to 10 (high) on each factor, each with a reason of a few words:
- steps: how many steps it needs; interdependence: how much the steps depend on each other;
- conditional_logic: how much depends on intermediate results; domain_knowledge: how much expertise;
- output_structure: how strictly shaped the output must be; factual_accuracy: how much facts must be exact;
- reproducibility: how much the same answer must come again; error_tolerance: 10 = no error is acceptable.
Then pick the route and give its inputs:
{inputs}
Reply in JSON."""


# what the model fills in for each route (the flow's input model checks it; tuning knobs keep their defaults)
INPUT_HELP = {
    "chat": '"message": the request',
    "ask": '"question": the question; "file": only if the user names one document\'s file name',
    "see": '"question": the question about the image; "choices": only if the user lists options, as "a|b|c"',
    "report": '"start_date", "end_date": YYYY-MM-DD; "city": only if the user names one city',
    "workorder": '"section": the problem or duty; "signature": who signs; "recipient": only if named',
    "research": '"topic": the topic; "audience": only if named',
    "plan": '"request": the request',
}


# the name the model sees for a route: "plan" drew one-document questions ("what does the plan say")
SHOWN = {"plan": "multi_step"}
_FLOW_OF = {v: k for k, v in SHOWN.items()}


def _shown(route: str) -> str:
    return SHOWN.get(route, route)


def _inputs_help(routes: Sequence[str]) -> str:
    return "\n".join(f"- {_shown(r)}: {INPUT_HELP[r]}" for r in routes)


def _schema(routes: Sequence[str]) -> type[BaseModel]:
    factors = {f: (Factor, ...) for f in (*COMPLEXITY, *PRECISION)}
    scores = create_model("Scores", **factors)  # type: ignore[call-overload]
    return create_model(
        "Routing",
        scores=(scores, ...),
        route=(Literal[tuple(_shown(r) for r in routes)], ...),  # type: ignore[valid-type]
        inputs=(dict[str, str], Field(default_factory=dict)),
    )


# inputs the request settles, never the model: the images given with it, and the router's own knobs
_SETTLED = frozenset({"id", "image", "images", "tools", "route", "dry_run"})


def _complete_inputs(route: str, given: dict[str, Any], request: str, images: Sequence[str]) -> dict[str, Any]:
    """The model's inputs, with what the request itself settles filled in."""
    out = {}
    for k, v in given.items():
        k = k.strip().rstrip("?")  # a small model copies an "optional" mark into the name
        if k not in _SETTLED and str(v).strip().lower() not in ("", "none", "no", "null", "n/a"):
            out[k] = v
    if route == "see":
        if images:
            out["image"] = ",".join(images)
        out.setdefault("question", request)  # the request is the question about the image
    if route in ("plan",):
        out.setdefault("request", request)
        if images:
            out["images"] = list(images)
    if route == "chat":
        out.setdefault("message", request)
    if route == "ask":
        out.setdefault("question", request)
    if route == "research":
        out.setdefault("topic", request)
    return out


def decide(
    request: str,
    model: Any,
    *,
    images: Sequence[str] = (),
    route: str = "",
    settings: Any = None,
) -> RouteDecision:
    """Score ``request``, pick a route (or take ``route``) and validate its inputs: one model call
    unless the inputs needed a retry."""
    from . import get_flow, validate_inputs

    if not request.strip():
        raise InputError("the request is empty")
    routes = list(ROUTES)
    if route:
        if route not in ROUTES:
            raise InputError(f"unknown route {route!r}; routes: {', '.join(ROUTES)}")
        routes = [route]
    if "see" in routes and not images and not route:
        routes.remove("see")  # no image: nothing to look at
    listing = "\n".join(f"- {_shown(r)}: {ROUTES[r]}" for r in routes)
    system = SYSTEM.format(routes=listing, inputs=_inputs_help(routes))
    user = f"Request: {request}" + (f"\nImages given: {', '.join(images)}" if images else "")
    checked: dict[str, Any] = {}

    def valid_inputs(d: Any) -> None:
        flow = _FLOW_OF.get(d.route, d.route)
        entry = get_flow(flow)
        known = set(entry.inputs_model.model_fields)  # another route's inputs the model added: not this flow's
        given = _complete_inputs(flow, {k: v for k, v in d.inputs.items() if k.strip().rstrip("?") in known},
                                 request, images)  # fmt: skip
        try:
            clean = validate_inputs(entry.inputs_model, entry.name, {**entry.defaults, **given})
        except UserError as e:
            raise ValidationFailed(f"inputs for {d.route}: {e}") from None
        checked["inputs"] = clean.model_dump(exclude={"id"})

    calls = Attempts()

    got = structured(
        model, [{"role": "system", "content": system}, {"role": "user", "content": user}], _schema(routes),
        validators=[valid_inputs], max_retries=getattr(settings, "max_retries", 2), on_attempt=calls,
    )  # fmt: skip
    scores = {f: Factor.model_validate(getattr(got.scores, f).model_dump()) for f in (*COMPLEXITY, *PRECISION)}
    quadrant, c, p = quadrant_of(scores)
    return RouteDecision(
        route=_FLOW_OF.get(got.route, got.route), quadrant=quadrant, complexity=c, precision=p, scores=scores, inputs=checked["inputs"],
        model_calls=calls.n, overridden=bool(route),
    )  # fmt: skip
