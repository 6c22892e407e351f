"""Extra flows for scheduler tests, loaded through MMCREW_EXTRA_FLOWS (also in run subprocesses)."""

from multimodal_crew.errors import ModelBehaviorError
from multimodal_crew.flows import FlowEntry, FlowInputs


class BoomInputs(FlowInputs):
    message: str = "boom"


def _boom(inputs, model=None, progress=None):
    raise ModelBehaviorError(f"the flow failed on purpose: {inputs['message']}")


FLOWS = [FlowEntry("boom", "flow", "always fails (tests)", BoomInputs, _boom)]
