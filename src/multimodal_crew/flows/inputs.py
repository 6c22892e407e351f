"""The inputs of every flow: one model per flow, named by its YAML's ``state: {type: pydantic, ref: ...}``.

The same model checks ``mmcrew run``, ``run_flow()`` from Python, the scheduler's entries and
``crewai run --inputs`` (where CrewAI validates the flow's state with it).
"""

from __future__ import annotations

from typing import Any, Literal

from crewai.flow.flow import FlowState
from pydantic import ConfigDict, Field, model_validator

from ..steps.registry import validate_model
from ..steps.vision import Choices

__all__ = [
    "AskInputs", "FlowInputs", "PingInputs", "ReportInputs", "ResearchInputs", "SeeInputs", "WorkOrderInputs",
    "input_names", "validate_inputs",
]  # fmt: skip


class FlowInputs(FlowState):
    """Base of every flow's inputs (and CrewAI state): unknown names are errors, not ignored."""

    model_config = ConfigDict(extra="forbid")


def input_names(model: type[FlowInputs]) -> list[str]:
    return [f for f in model.model_fields if f != "id"]


def validate_inputs(model: type[FlowInputs], flow_name: str, inputs: dict[str, Any]) -> FlowInputs:
    """``model`` validated from ``inputs``, or ``InputError`` with one line naming the input."""
    return validate_model(model, f"flow {flow_name!r}", inputs)


class AskInputs(FlowInputs):
    question: str = Field(..., min_length=1, description="the question")
    file: str = Field("", description="only search this ingested file (its name as `mmcrew kb` lists it)")
    k: int = Field(0, ge=0, le=50, description="passages to retrieve (0: MMCREW_TOP_K)")


class SeeInputs(FlowInputs):
    image: str = Field(..., description="image path; several: separate with commas")
    question: str = Field(..., min_length=1)
    choices: Choices = Field(default_factory=list, description="answer options (multiple choice; a|b|c)")
    context: str = Field("", description="text that comes with the image")
    mode: Literal["two_stage", "single"] = "two_stage"


class ReportInputs(FlowInputs):
    start_date: str = Field(..., description="first day, YYYY-MM-DD")
    end_date: str = Field(..., description="last day, YYYY-MM-DD")
    city: str = Field("", description="one city, or empty for all")

    @model_validator(mode="after")
    def _dates(self) -> ReportInputs:
        from ..datasource import parse_query

        parse_query(self.start_date, self.end_date, self.city)  # raises InputError
        return self


class WorkOrderInputs(FlowInputs):
    section: str = Field(..., min_length=1, description="the section or topic of the documents to act on")
    signature: str = Field(..., min_length=1, description="who signs the email")
    recipient: str = Field("the contractor", description="who the email is for")


class ResearchInputs(FlowInputs):
    topic: str = Field(..., min_length=3, description="what the report is about")
    audience: str = Field("a general reader", description="who reads it")
    length: str = Field("short (about 200 words)", description="how long it should be")
    tools: str = Field("", description="extra researcher tools by step name, comma-separated: report_query, see")


class PingInputs(FlowInputs):
    message: str = Field("ping", description="text to write")
    seconds: float = Field(0.0, ge=0, le=86400, description="how long the run takes")
