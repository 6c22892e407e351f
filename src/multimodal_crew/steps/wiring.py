"""Steps that are flow wiring, not capabilities (not offered to agents or the planner)."""

from __future__ import annotations

from pydantic import Field

from ..errors import ModelBehaviorError
from .registry import Deps, StepInputs, step
from .results import RunResult, StepOutput


class FinishInputs(StepInputs):
    flow: str = Field(..., description="the flow's name")
    result_of: str = Field("", description="the step whose typed output is the flow's result")
    text: str = Field("", description="or: the result as text, e.g. ${outputs.<agent method>.raw}")


@step("finish", "Turn a step's typed output into the flow's RunResult", FinishInputs, "report", tool=False)
def finish(inputs: FinishInputs, deps: Deps) -> RunResult:
    if not inputs.result_of:
        if not inputs.text.strip():
            raise ValueError(f"finish of flow {inputs.flow!r}: give result_of (a step) or a non-empty text")
        return RunResult(flow=inputs.flow, text=inputs.text, timings=dict(deps.timings), model_calls=deps.model_calls)
    out = deps.outputs.get(inputs.result_of)
    if out is None:
        raise ValueError(f"finish: the step {inputs.result_of!r} has not run in this flow")
    fields = out.result_fields() if isinstance(out, StepOutput) else {"text": str(out)}
    data = out.model_dump(mode="json") if hasattr(out, "model_dump") else {}
    result = RunResult(flow=inputs.flow, timings=dict(deps.timings), model_calls=deps.model_calls, data=data, **fields)
    if result.status == "incomplete" and deps.fail_incomplete:
        # under `crewai run`, whose runner exits non-zero only on an exception (mmcrew exits 5)
        where = f" (output kept in {result.output_dir})" if result.output_dir else ""
        raise ModelBehaviorError(f"the {inputs.flow} flow did not complete: {result.reason}{where}")
    return result
