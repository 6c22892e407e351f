"""The body of one scheduled run, executed in a process forked from a preloaded server.

The scheduler starts runs through a multiprocessing *forkserver* that has
already imported CrewAI and this package, so a run starts in milliseconds
instead of the seconds a fresh interpreter needs, while each run still gets a
process of its own: fresh Flow state, and a hard stop when it overruns.
"""

from __future__ import annotations

import os
import time
from typing import Any

# imported here so the forkserver preloads them: every run then starts with them in memory
import crewai  # noqa: F401

from .. import _offline  # noqa: F401
from .. import flows as _flows

_flows.all_flows()  # imports every registered flow and crew module


def run(payload: dict[str, Any], conn) -> None:
    """Run one flow; send ("ok", result_dict) or ("error", message, exit_code) through ``conn``."""
    os.environ.clear()
    os.environ.update(payload["env"])  # the scheduler's environment now, not the forkserver's at start-up
    from ..errors import MMCrewError
    from ..flows import run_flow
    from ..models.runtime import reset_runtime
    from ..settings import get_settings

    get_settings(refresh=True)
    reset_runtime()
    started = time.time()
    try:
        result = run_flow(payload["flow"], payload["inputs"])
    except MMCrewError as e:
        conn.send(("error", f"{type(e).__name__}: {e}", e.exit_code))
        return
    except BaseException as e:  # noqa: BLE001 - recorded in the history; the scheduler goes on
        conn.send(("error", f"{type(e).__name__}: {e}", 1))
        return
    data = result.model_dump(mode="json") if hasattr(result, "model_dump") else {"result": str(result)}
    data["_flow_started"] = started
    conn.send(("ok", data))
