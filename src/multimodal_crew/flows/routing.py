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

from pydantic import BaseModel, Field, create_model, field_validator

from ..errors import InputError, UserError
from ..models.structured import ValidationFailed, structured

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
    "chat": "brainstorming, free writing, a poem, small talk, advice: no document facts needed",
    "ask": "one question answered from the user's documents (contracts, plans, filings, house rules), with quotes",
    "see": "a question about an image the user gives (chart, table, receipt, sign, form, photo)",
    "report": "the daily active users report by city for a date range (a table, a chart and a summary)",
    "workorder": "draft an email asking the contractor or provider to act on a problem, citing the contract",
    "research": "a longer written report on a topic from the documents, with citations, reviewed by a critic",
    "plan": "several steps combined: compare or compute figures from several sources, query then chart "
    "then summarise, translate an answer, questions needing two or more tools",
}


class Factor(BaseModel):
    score: int = Field(..., ge=1, le=10)
    reason: str = Field(..., min_length=1, description="a few words")

    @field_validator("reason")
    @classmethod
    def _one_line(cls, v: str) -> str:  # shown to the user, never parsed: cut, not refused
        v = " ".join(v.split())
        return v if len(v) <= 100 else v[:99] + "…"


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


def _inputs_help(routes: Sequence[str]) -> str:
    from . import get_flow

    lines = []
    for r in routes:
        model = get_flow(r).inputs_model
        fields = [f for f in model.model_fields if f not in _SETTLED]
        req = [f for f in fields if model.model_fields[f].is_required()]
        lines.append(f"- {r}: {', '.join(f if f in req else f + '?' for f in fields)}")
    return "\n".join(lines)


def _schema(routes: Sequence[str]) -> type[BaseModel]:
    factors = {f: (Factor, ...) for f in (*COMPLEXITY, *PRECISION)}
    scores = create_model("Scores", **factors)  # type: ignore[call-overload]
    return create_model(
        "Routing",
        scores=(scores, ...),
        route=(Literal[tuple(routes)], ...),  # type: ignore[valid-type]
        inputs=(dict[str, str], Field(default_factory=dict)),
    )


# inputs the request settles, never the model: the images given with it, and the router's own knobs
_SETTLED = frozenset({"id", "image", "images", "tools", "route", "dry_run"})


def _complete_inputs(route: str, given: dict[str, Any], request: str, images: Sequence[str]) -> dict[str, Any]:
    """The model's inputs, with what the request itself settles filled in."""
    out = {k: v for k, v in given.items() if k not in _SETTLED}
    if route == "see" and images:
        out["image"] = ",".join(images)
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
    system = SYSTEM.format(routes="\n".join(f"- {r}: {ROUTES[r]}" for r in routes), inputs=_inputs_help(routes))
    user = f"Request: {request}" + (f"\nImages given: {', '.join(images)}" if images else "")
    checked: dict[str, Any] = {}

    def valid_inputs(d: Any) -> None:
        entry = get_flow(d.route)
        given = _complete_inputs(d.route, d.inputs, request, images)
        try:
            clean = validate_inputs(entry.inputs_model, entry.name, {**entry.defaults, **given})
        except UserError as e:
            raise ValidationFailed(f"inputs for {d.route}: {e}") from None
        checked["inputs"] = clean.model_dump(exclude={"id"})

    calls = 0

    def count(n: int, raw: str, err: str | None) -> None:
        nonlocal calls
        calls = n

    got = structured(
        model, [{"role": "system", "content": system}, {"role": "user", "content": user}], _schema(routes),
        validators=[valid_inputs], max_retries=getattr(settings, "max_retries", 2), on_attempt=count,
    )  # fmt: skip
    scores = {f: Factor.model_validate(getattr(got.scores, f).model_dump()) for f in (*COMPLEXITY, *PRECISION)}
    quadrant, c, p = quadrant_of(scores)
    return RouteDecision(
        route=got.route, quadrant=quadrant, complexity=c, precision=p, scores=scores, inputs=checked["inputs"],
        model_calls=calls, overridden=bool(route),
    )  # fmt: skip
