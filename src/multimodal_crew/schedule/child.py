"""Run one flow for the scheduler: ``python -m multimodal_crew.schedule.child '<json>'``.

stdout's last line is the result as JSON; on failure stderr's last line is the reason.
"""

from __future__ import annotations

from .. import _offline  # noqa: F401

import json
import sys
import time


def main() -> int:
    payload = json.loads(sys.argv[1])
    from ..errors import MMCrewError
    from ..flows import run_flow

    started = time.time()  # the flow starts now: imports are done

    try:
        result = run_flow(payload["flow"], payload["inputs"])
    except MMCrewError as e:
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        return e.exit_code
    except Exception as e:  # noqa: BLE001 - recorded in the history, the scheduler goes on
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        return 1
    data = result.model_dump(mode="json") if hasattr(result, "model_dump") else {"result": str(result)}
    data["_flow_started"] = started
    print(json.dumps(data, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
