"""The inputs of every flow: one model per flow, named by its YAML's ``state: {type: pydantic, ref: ...}``.

The same model checks ``mmcrew run``, ``run_flow()`` from Python, the scheduler's entries and
``crewai run --inputs`` (where CrewAI validates the flow's state with it).
"""

from __future__ import annotations

from typing import Any

from crewai.flow.flow import FlowState
from pydantic import ConfigDict, Field, model_validator

from ..crews.research import steps as research
from ..crews.workorder import steps as workorder
from ..steps import answer, documents, heartbeat, planning, report_data, vision
from ..steps.registry import validate_model

__all__ = [
    "AskInputs", "ChatInputs", "FlowInputs", "IngestInputs", "RouteInputs", "PingInputs", "PlanInputs", "PlanRunInputs", "ReportInputs", "ResearchInputs",
    "SeeInputs", "WorkOrderInputs", "validate_inputs",
]  # fmt: skip


class FlowInputs(FlowState):
    """Base of every flow's inputs (and CrewAI state): unknown names are errors, not ignored."""

    model_config = ConfigDict(extra="forbid")


def validate_inputs(model: type[FlowInputs], flow_name: str, inputs: dict[str, Any]) -> FlowInputs:
    """``model`` validated from ``inputs``, or ``InputError`` with one line naming the input."""
    return validate_model(model, f"flow {flow_name!r}", inputs)


# Each flow takes the inputs of the capability it runs: the step's input model is the one definition
# of the fields, and the flow's model adds what CrewAI's state needs (an id).


class AskInputs(FlowInputs, answer.AskInputs):
    pass


class SeeInputs(FlowInputs, vision.SeeInputs):
    pass


class ReportInputs(FlowInputs, report_data.ReportQueryInputs):
    @model_validator(mode="after")
    def _dates(self) -> ReportInputs:
        from ..datasource import parse_query
        from ..errors import InputError

        try:
            parse_query(self.start_date, self.end_date, self.city)
        except InputError as e:  # a ValueError, so CrewAI's `crewai run --inputs` reports it as invalid input too
            raise ValueError(str(e)) from None
        return self


class WorkOrderInputs(FlowInputs, workorder.WorkOrderInputs):
    pass


class ResearchInputs(FlowInputs, research.ResearchInputs):
    pass


class PingInputs(FlowInputs, heartbeat.PingStepInputs):
    pass


class PlanInputs(FlowInputs, planning.PlanInputs):
    pass


class PlanRunInputs(FlowInputs):
    """A compiled plan (``<run>/plan.yaml``) takes no inputs: the plan is in the definition."""


class ChatInputs(FlowInputs):
    message: str = Field(..., min_length=1, max_length=4000, description="what to answer")


class RouteInputs(FlowInputs):
    request: str = Field(..., min_length=1, max_length=4000, description="what the user wants, in words")
    images: list[str] = Field(default_factory=list, description="image files that come with the request")
    route: str = Field("", description="skip the router's choice: run this route (its inputs are still filled in)")
    dry_run: bool = Field(False, description="decide only: show the route, scores and inputs, run nothing")


class IngestInputs(FlowInputs, documents.IngestInputs):
    pass
