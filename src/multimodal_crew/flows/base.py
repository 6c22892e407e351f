"""What every flow of ours shares: validated inputs, a model, and all-or-nothing outputs.

A flow writes into a staging folder (``<outputs>/<flow>/.staging-<id>``); its last
step moves that folder into place with one rename. If any step raises, the
staging folder is removed, so a failed run never leaves a half-written output.
An owner file next to it names the process writing it, so a staging folder left by a
killed run is removed by the next run of that flow (``schedule/procs.py``).
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from crewai.flow.flow import Flow, FlowState
from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationError

from ..errors import InputError
from ..schedule.procs import claim_staging, release_staging
from ..settings import Settings, get_settings

__all__ = ["FlowInputs", "OutputFlowState", "MMFlow", "validate_inputs"]


class FlowInputs(BaseModel):
    """Base of every flow's inputs model: unknown names are errors, not ignored."""

    model_config = ConfigDict(extra="forbid")


class OutputFlowState(FlowState):
    staging_dir: str = ""
    output_dir: str = ""


S = TypeVar("S", bound=OutputFlowState)


def validate_inputs(model: type[FlowInputs], flow_name: str, inputs: dict[str, Any]) -> FlowInputs:
    try:
        return model.model_validate(inputs)
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(x) for x in err.get("loc", ())) or "(inputs)"
        known = ", ".join(model.model_fields)
        if err.get("type") == "extra_forbidden":
            raise InputError(f"flow {flow_name!r} has no input {field!r}; its inputs are: {known}") from None
        if err.get("type") == "missing":
            raise InputError(f"flow {flow_name!r} needs the input {field!r}; its inputs are: {known}") from None
        raise InputError(f"input {field!r} of flow {flow_name!r}: {err.get('msg')}") from None


class MMFlow(Flow[S]):
    """A CrewAI Flow with validated inputs, an injectable model and staged outputs."""

    # CrewAI gives every Flow a lancedb-backed Memory at construction (about 3-5 s of imports on
    # 2 cores, default storage outside MMCREW_HOME, default embedder). Our flows do not use it.
    _skip_auto_memory: ClassVar[bool] = True

    flow_name: ClassVar[str] = "flow"
    inputs_model: ClassVar[type[FlowInputs]] = FlowInputs
    description: ClassVar[str] = ""

    _model: Any = PrivateAttr(default=None)
    _settings: Settings | None = PrivateAttr(default=None)
    _progress: Any = PrivateAttr(default=None)

    def __init__(self, model: Any = None, settings: Settings | None = None, progress: Any = None, **kwargs: Any):
        kwargs.setdefault("suppress_flow_events", True)
        kwargs.setdefault("tracing", False)
        super().__init__(**kwargs)
        self._model = model
        self._settings = settings
        self._progress = progress

    def step(self, message: str) -> None:
        """Report progress (the CLI shows it in a spinner; Python callers may pass ``progress=print``)."""
        if self._progress:
            self._progress(message)

    @property
    def settings(self) -> Settings:
        return self._settings or get_settings()

    @property
    def model(self) -> Any:
        """The model runtime (``complete_json`` + ``.llm``); loaded on first use."""
        if self._model is None:
            from ..models.runtime import get_runtime

            self._model = get_runtime(self.settings)
        return self._model

    def uses_text_model(self) -> bool:
        """Whether a run needs MODEL; if so it is resolved before any work is done."""
        return True

    # -- outputs ------------------------------------------------------------------------
    def stage(self) -> Path:
        base = self.settings.outputs_path / self.flow_name
        path = base / f".staging-{self.state.id}"
        claim_staging(path)  # ours; and removes the staging folders of runs that were killed
        path.mkdir(parents=True, exist_ok=True)
        self.state.staging_dir = str(path)
        return path

    def publish(self, label: str = "") -> Path:
        """Move the staging folder into place; return the final folder."""
        staging = Path(self.state.staging_dir)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        name = "-".join(x for x in (stamp, label, self.state.id[:8]) if x)
        final = staging.parent / name
        os.replace(staging, final)
        release_staging(staging)
        self.state.staging_dir = ""
        self.state.output_dir = str(final)
        return final

    def _discard_staging(self) -> None:
        if self.state.staging_dir:
            shutil.rmtree(self.state.staging_dir, ignore_errors=True)
            release_staging(Path(self.state.staging_dir))
            self.state.staging_dir = ""

    # -- entry --------------------------------------------------------------------------
    def kickoff(self, inputs: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        clean = validate_inputs(self.inputs_model, self.flow_name, dict(inputs or {}))
        if self.uses_text_model():
            _ = self.model  # resolve the model first: a missing model file fails before any work is done
        try:
            return super().kickoff(inputs=clean.model_dump(), **kwargs)
        except BaseException:
            self._discard_staging()
            raise
