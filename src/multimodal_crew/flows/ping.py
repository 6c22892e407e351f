"""The ``ping`` flow: no model, writes one small file. A heartbeat for schedules and a
quick check that flows, outputs and history work; ``seconds`` makes it take that long."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path

from crewai.flow.flow import start
from pydantic import BaseModel, Field

from .base import FlowInputs, MMFlow, OutputFlowState


class PingInputs(FlowInputs):
    message: str = Field("ping", description="text to write")
    seconds: float = Field(0.0, ge=0, le=86400, description="how long the run takes")


class PingResult(BaseModel):
    output_dir: str
    message: str
    started: str


class PingState(OutputFlowState):
    message: str = "ping"
    seconds: float = 0.0


class PingFlow(MMFlow[PingState]):
    flow_name = "ping"
    inputs_model = PingInputs
    description = "No model: writes ping.json (a heartbeat for schedules); `seconds` makes it take that long"

    def uses_text_model(self) -> bool:
        return False

    @start()
    def write(self) -> PingResult:
        started = datetime.now(timezone.utc).isoformat()
        out = self.stage()
        deadline = time.monotonic() + self.state.seconds
        while time.monotonic() < deadline:
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        (Path(out) / "ping.json").write_text(json.dumps({"message": self.state.message, "started": started}))
        final = self.publish()
        return PingResult(output_dir=str(final), message=self.state.message, started=started)
