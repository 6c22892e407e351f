"""The ``ping`` step: no model, writes one small file. A heartbeat for schedules and a quick check
that flows, outputs and run history work; ``seconds`` makes it take that long (timeout tests).

(Not in ``steps/ping.py``: a submodule named like a step would shadow the step in
``ref: multimodal_crew.steps:ping``.)
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any

from pydantic import Field

from .outputs import staged
from .registry import Deps, StepInputs, step
from .results import StepOutput

__all__ = ["PingResult"]


class PingStepInputs(StepInputs):
    message: str = Field("ping", description="text to write")
    seconds: float = Field(0.0, ge=0, le=86400, description="how long the run takes")


class PingResult(StepOutput):
    output_dir: str
    message: str
    started: str

    def result_fields(self) -> dict[str, Any]:
        return {"text": self.message, "output_dir": self.output_dir, "files": [f"{self.output_dir}/ping.json"]}


def _wait(seconds: float, deps: Deps) -> None:
    """Take ``seconds``, or stop with ``RunCancelled`` as soon as the run is cancelled (a long ping must not
    hold the run queue after its cancel)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        deps.cancelled.wait(min(0.5, left))
        deps.check_cancelled()
    deps.check_cancelled()


@step("ping", "Write ping.json into a new output folder (no model); `seconds` makes it take that long",
      PingStepInputs, "file", tool=False)  # fmt: skip
def ping(inputs: PingStepInputs, deps: Deps) -> PingResult:
    started = datetime.now(timezone.utc).isoformat()
    with staged(deps.settings, "ping") as out:
        _wait(inputs.seconds, deps)
        (out.path / "ping.json").write_text(json.dumps({"message": inputs.message, "started": started}))
        final = out.publish()
    return PingResult(output_dir=str(final), message=inputs.message, started=started)
