"""Fault-injection points for crash-safety tests with real processes.

``MODELDECK_FAULT=<point>:sleep`` makes the process stop at ``<point>`` (sleeping) so a test
can ``kill -9`` it there; ``<point>:exit`` ends it at once with exit code 99. Without the
variable a checkpoint does nothing. Points are named where a crash would hurt most (inside
an open transaction, between writing artifacts and committing).
"""

from __future__ import annotations

import os
import sys
import time


def checkpoint(point: str) -> None:
    """Honour ``$MODELDECK_FAULT`` if it names ``point``."""
    spec = os.environ.get("MODELDECK_FAULT")
    if not spec:
        return
    name, _, action = spec.partition(":")
    if name != point:
        return
    sys.stderr.write(f"modeldeck-fault: reached {point}\n")
    sys.stderr.flush()
    if action == "exit":
        os._exit(99)
    time.sleep(3600)
