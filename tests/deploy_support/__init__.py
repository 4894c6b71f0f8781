"""Support code of the deploy tests: a fleet of real OpenSSH servers on 127.0.0.X
(:mod:`.sshfleet`) and an offline wheelhouse for the hosts' system Python (:mod:`.wheelhouse`).

The fixtures that use them live in ``tests/deploy/conftest.py``. Nothing here imports
modeldeck: :func:`.wheelhouse.build_wheelhouse` is kept stdlib-only so that the product can
adopt it for its own air-gapped wheelhouses.
"""

from __future__ import annotations

from .sshfleet import FleetUnavailable, SshFleet, SshHost, fleet_unavailable_reason
from .wheelhouse import (
    Wheelhouse,
    WheelhouseError,
    build_wheelhouse,
    cached_wheelhouse,
    interpreter_target,
    manylinux_platforms,
)

__all__ = [
    "FleetUnavailable",
    "SshFleet",
    "SshHost",
    "Wheelhouse",
    "WheelhouseError",
    "build_wheelhouse",
    "cached_wheelhouse",
    "fleet_unavailable_reason",
    "interpreter_target",
    "manylinux_platforms",
]
