"""Fixtures of the deploy tests: a fleet of real OpenSSH servers on 127.0.0.X and an
offline wheelhouse for the hosts' system Python (see tests/deploy_support/).

The fleet needs root and /usr/sbin/sshd: elsewhere its tests are skipped, except under
``CI=true``, where CI installs openssh-server and runs as root, so a missing fleet fails.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from deploy_support.sshfleet import SYSTEM_PYTHON, FleetUnavailable, SshFleet, SshHost
from deploy_support.wheelhouse import Wheelhouse, WheelhouseError, cached_wheelhouse

#: What a host needs to run a release (modeldeck.core.runtime's dependencies).
HOST_PACKAGES = ("numpy", "scipy", "pandas", "scikit-learn", "skops", "waitress")
WHEELHOUSE_CACHE = Path.home() / ".cache" / "modeldeck-tests"


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the deploy tests, but: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def ssh_fleet() -> Iterator[Callable[..., list[SshHost]]]:
    """Factory: ``ssh_fleet(n, fresh=False)`` returns ``n`` running test hosts.

    Hosts are shared by the whole session: asking for 5 after 3 returns the same 3 plus 2
    new ones, and hosts a test killed are started again. With ``fresh=True`` each host is
    also :meth:`~deploy_support.sshfleet.SshHost.reset` (user processes killed, home
    emptied, small disks unmounted). Host ``h<X>`` listens on 127.0.0.X; give each host's
    prediction server ``serve_bind=host.address`` so that their ports never clash.
    """
    fleet: SshFleet | None = None

    def hosts(n: int, fresh: bool = False) -> list[SshHost]:
        nonlocal fleet
        if fleet is None:
            try:
                fleet = SshFleet()
            except FleetUnavailable as exc:
                _unavailable(str(exc))
        assert fleet is not None
        chosen = fleet.hosts(n)
        if fresh:
            for host in chosen:
                host.reset()
        return chosen

    yield hosts
    if fleet is not None:
        fleet.close()


@pytest.fixture
def small_disk() -> Callable[..., Path]:
    """Factory: ``small_disk(host, mb, name="small")`` mounts a tmpfs of ``mb`` MiB at
    ``host.home / name`` (owned by the host's user) and returns it: a deploy root there
    runs out of space. Unmounted by ``host.reset()`` or when the fleet stops. Skipped
    (failed under CI) where mounting is not permitted."""

    def make(host: SshHost, mb: int, name: str = "small") -> Path:
        try:
            return host.with_small_disk(mb, name)
        except FleetUnavailable as exc:
            _unavailable(str(exc))

    return make


@pytest.fixture(scope="session")
def host_wheelhouse() -> Wheelhouse:
    """Wheels of numpy, scipy, pandas, scikit-learn, skops and waitress (and their
    dependencies) at the versions of the test venv, for the hosts' ``/usr/bin/python3``.

    Built once with ``pip download --only-binary=:all:`` and cached under
    ``~/.cache/modeldeck-tests/wheelhouse-<key>/``; ``.requirements`` are the pins
    (``name==version``) to pass to ``pip install --no-index --find-links .path``.
    """
    if not Path(SYSTEM_PYTHON).exists():
        _unavailable(f"{SYSTEM_PYTHON} is missing: the test hosts' Python")
    requirements = [f"{name}=={importlib.metadata.version(name)}" for name in HOST_PACKAGES]
    try:
        return cached_wheelhouse(requirements, SYSTEM_PYTHON, WHEELHOUSE_CACHE)
    except WheelhouseError as exc:
        _unavailable(f"cannot build the hosts' wheelhouse: {exc}")
