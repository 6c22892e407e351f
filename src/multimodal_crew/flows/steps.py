"""Steps that run flows (flows use steps, so these live here and the registry finds them by file,
as it finds ``crews/<crew>/steps.py``): ``route`` decides where a request goes, ``dispatch`` runs it."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ..steps.registry import Deps, StepInputs, step
from ..steps.results import RunResult, StepOutput
from .routing import RouteDecision, decide


class RouteStepInputs(StepInputs):
    request: str = Field(..., min_length=1, max_length=4000)
    images: list[str] = Field(default_factory=list)
    route: str = Field("", description="the user's override: this route")


class Routed(StepOutput):
    request: str
    decision: RouteDecision

    def result_fields(self) -> dict[str, Any]:
        d = self.decision
        lines = [f"route: {d.route} ({d.quadrant}; complexity {d.complexity:.1f}, precision {d.precision:.1f})"]
        lines += [f"  {name}: {f.score} - {f.reason}" for name, f in d.scores.items()]
        lines.append(f"inputs: {d.inputs}")
        return {"text": "\n".join(lines)}


@step("route", "Score a request on complexity and precision and pick the flow that serves it", RouteStepInputs,
      "check", tool=False)  # fmt: skip
def route(inputs: RouteStepInputs, deps: Deps) -> Routed:
    deps.step("routing the request")
    d = decide(inputs.request, deps.model, images=inputs.images, route=inputs.route, settings=deps.settings)
    deps.step(f"route: {d.route} ({d.quadrant})")
    return Routed(request=inputs.request, decision=d)


class DispatchInputs(StepInputs):
    routed: Routed = Field(..., description="the output of route")
    dry_run: bool = False


class Dispatched(StepOutput):
    routed: Routed
    result: RunResult | None = None  # None: a dry run

    def result_fields(self) -> dict[str, Any]:
        if self.result is None:
            return self.routed.result_fields()
        r = self.result
        fields = {"text": r.text, "status": r.status, "citations": r.citations, "files": r.files, "reason": r.reason}
        if r.output_dir:
            fields["output_dir"] = r.output_dir
        return fields


@step("dispatch", "Run the flow a route decision names, with its inputs", DispatchInputs, "report", tool=False)
def dispatch(inputs: DispatchInputs, deps: Deps) -> Dispatched:
    if inputs.dry_run:
        return Dispatched(routed=inputs.routed)
    from . import run_flow

    d = inputs.routed.decision
    r = run_flow(d.route, d.inputs, model=deps.base_model, progress=deps.progress, settings=deps.settings,
                 retriever=deps._retriever)  # fmt: skip
    deps.add_calls(r.model_calls)
    for name, seconds in r.timings.items():
        deps.record(name, seconds)
    return Dispatched(routed=inputs.routed, result=r)
