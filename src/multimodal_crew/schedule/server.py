"""What the fork server preloads (imported there only): CrewAI, our flows, and a tie to the
process that started it.

The server exits a few seconds after that process dies, even by ``kill -9``; every
run it forked and that is still alive then gets SIGKILL (``child.die_with_server``).
The runs normally stop themselves first: they notice their starter is gone at once
and remove their staging folders. (Not ``PR_SET_PDEATHSIG`` here: it fires when the
*thread* that started the server ends, and that may be any thread of the scheduler.)
"""

from __future__ import annotations

import os
import threading
import time

PID = os.getpid()
_STARTER = os.getppid()


def _watch_starter() -> None:
    while os.getppid() == _STARTER:
        time.sleep(0.5)
    time.sleep(2.0)  # the runs' own watch stops them cleanly first
    os._exit(0)


threading.Thread(target=_watch_starter, name="mmcrew-server-watch", daemon=True).start()

from . import child  # noqa: E402,F401  (CrewAI and every flow, in memory before the first fork)
