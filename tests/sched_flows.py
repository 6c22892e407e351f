"""Extra flows for scheduler tests, loaded through MMCREW_EXTRA_FLOWS (also in run subprocesses)."""

import os
import signal

from multimodal_crew.errors import ModelBehaviorError
from multimodal_crew.flows import FlowEntry, FlowInputs


class BoomInputs(FlowInputs):
    message: str = "boom"


def _boom(inputs, model=None, progress=None):
    raise ModelBehaviorError(f"the flow failed on purpose: {inputs['message']}")


def _freeze(inputs, model=None, progress=None):
    os.kill(os.getpid(), signal.SIGSTOP)  # the whole run process stops: it can act on nothing, only be killed


FLOWS = [
    FlowEntry("boom", "flow", "always fails (tests)", BoomInputs, _boom),
    FlowEntry("freeze", "flow", "stops its own process with SIGSTOP (tests)", FlowInputs, _freeze),
]
