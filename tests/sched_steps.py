"""Steps for the scheduler tests' YAML flows (``tests/sched_flows/``), loaded as a plug-in through
``MMCREW_EXTRA_STEPS`` (by the test process, the fork server and every run process)."""

from __future__ import annotations

import os
import signal

from multimodal_crew.errors import ModelBehaviorError
from multimodal_crew.steps import Deps, StepInputs, step


class BoomStepInputs(StepInputs):
    message: str = "boom"


class FreezeStepInputs(StepInputs):
    pass


@step("boom", "Always fails (scheduler tests)", BoomStepInputs, "check", tool=False)
def boom(inputs: BoomStepInputs, deps: Deps):
    raise ModelBehaviorError(f"the flow failed on purpose: {inputs.message}")


@step("freeze", "Stops its own process with SIGSTOP (scheduler tests)", FreezeStepInputs, "check", tool=False)
def freeze(inputs: FreezeStepInputs, deps: Deps):
    os.kill(os.getpid(), signal.SIGSTOP)  # the whole run process stops: it can act on nothing, only be killed
    raise ModelBehaviorError("the frozen run was continued")  # only after SIGCONT
