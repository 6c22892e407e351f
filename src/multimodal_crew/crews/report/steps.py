"""The ``report_crew`` step: the report by a one-agent YAML crew (config/report/) whose agent must
call ``report_query`` itself; its answer is checked against the data (``crew.run_crew``)."""

from __future__ import annotations

from ...steps.registry import Deps, step
from ...steps.report_data import ReportQueryInputs
from ...steps.results import StepOutput
from .crew import run_crew


@step(
    "report_crew",
    "The report by a one-agent YAML crew (config/report/) that must call report_query itself; "
    "its answer is checked against the data",
    ReportQueryInputs,
    "report",
    tool=False,
)
def report_crew(inputs: ReportQueryInputs, deps: Deps) -> StepOutput:
    return run_crew(inputs, deps)
