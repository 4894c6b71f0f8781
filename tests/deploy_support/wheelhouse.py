"""Wheelhouses: folders of wheels that let another interpreter install pinned packages with
``pip install --no-index --find-links DIR`` (an air-gapped host).

Standard library only, and no ModelDeck imports: the product may adopt
:func:`build_wheelhouse` for its own wheelhouses.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

COMPLETE_MARKER = ".complete"
# Legacy manylinux names and the glibc they stand for (PEP 600).
_LEGACY_MANYLINUX = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}
_PROBE = r"""
import json, platform, sys, sysconfig
libc, libc_version = platform.libc_ver()
print(json.dumps({
    "python_version": "%d.%d" % sys.version_info[:2],
    "implementation": sys.implementation.name,
    "machine": platform.machine(),
    "libc": libc,
    "libc_version": libc_version,
    "executable": sys.executable,
}))
"""


class WheelhouseError(RuntimeError):
    """pip could not download the wheels (offline, no wheel for that Python or platform)."""


@dataclass(frozen=True)
class Wheelhouse:
    """A complete wheelhouse: ``pip install --no-index --find-links path *requirements``
    works with ``python``."""

    path: Path
    requirements: list[str]
    python: str
    wheels: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class InterpreterTarget:
    """What pip needs to know to download wheels for an interpreter it does not run on."""

    python_version: str  # "3.11"
    implementation: str  # "cp"
    platforms: list[str]  # ["manylinux_2_36_x86_64", …, "linux_x86_64"]


def manylinux_platforms(glibc: tuple[int, int], machine: str) -> list[str]:
    """Every platform tag a glibc ``glibc`` Linux on ``machine`` installs, best first:
    ``manylinux_2_<N…5>_<machine>``, the legacy ``manylinux2014``/``2010``/``1`` aliases
    and ``linux_<machine>``."""
    major, minor = glibc
    if major != 2 or minor < 5:
        raise ValueError(f"unsupported glibc {major}.{minor}")
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine.lower(), machine.lower())
    tags = []
    for m in range(minor, 4, -1):
        tags.append(f"manylinux_2_{m}_{arch}")
        legacy = _LEGACY_MANYLINUX.get((2, m))
        if legacy:
            tags.append(f"{legacy}_{arch}")
    tags.append(f"linux_{arch}")
    return tags


def interpreter_target(python: str) -> InterpreterTarget:
    """Ask the interpreter at ``python`` (run on this machine) what it installs."""
    try:
        out = subprocess.run([python, "-I", "-c", _PROBE], capture_output=True, text=True,
                             check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise WheelhouseError(f"cannot run {python}: {exc}") from exc
    info = json.loads(out)
    if info["implementation"] != "cpython":
        raise WheelhouseError(f"{python} is {info['implementation']}, not CPython")
    if info["libc"] != "glibc":
        raise WheelhouseError(f"{python} runs on {info['libc'] or 'an unknown libc'}; "
                              "only glibc (manylinux) hosts are supported")
    glibc = tuple(int(x) for x in info["libc_version"].split(".")[:2])
    return InterpreterTarget(info["python_version"], "cp",
                             manylinux_platforms(glibc, info["machine"]))  # type: ignore[arg-type]


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pin(requirement: str) -> tuple[str, str]:
    match = re.fullmatch(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;,]+)\s*", requirement)
    if not match:
        raise ValueError(f"not a pinned requirement (name==version): {requirement!r}")
    return _normalize(match.group(1)), match.group(2)


def _wheel_name_version(path: Path) -> tuple[str, str]:
    name, version = path.name.split("-")[:2]
    return _normalize(name), version


def build_wheelhouse(requirements: list[str], python_version: str, dest: Path, *,
                     platforms: Sequence[str] | None = None, implementation: str = "cp",
                     pip: Sequence[str] | None = None, timeout: float = 1800) -> list[Path]:
    """Download wheels for ``requirements`` (each ``name==version``) and all their
    dependencies into ``dest``, for a CPython ``python_version`` ("3.11") on ``platforms``
    (default: this machine's, see :func:`manylinux_platforms`). Binary wheels only, so the
    host never compiles. Returns every wheel in ``dest``.

    ``pip`` is the pip command to run (default: this interpreter's); it reads its usual
    configuration (index, proxy, cache). Raises :class:`WheelhouseError` with pip's output
    when a wheel is missing.
    """
    pins = [_pin(r) for r in requirements]
    major, minor = (int(x) for x in python_version.split(".")[:2])
    if platforms is None:
        libc, libc_version = platform.libc_ver()
        if libc != "glibc":
            raise WheelhouseError("pass platforms=…: this machine's libc is not glibc")
        glibc = tuple(int(x) for x in libc_version.split(".")[:2])
        platforms = manylinux_platforms(glibc, platform.machine())  # type: ignore[arg-type]
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [*(pip or (sys.executable, "-m", "pip")), "download", "--only-binary=:all:",
           "--dest", str(dest), "--python-version", f"{major}.{minor}",
           "--implementation", implementation, "--abi", f"{implementation}{major}{minor}",
           "--progress-bar", "off", "--disable-pip-version-check"]
    for tag in platforms:
        cmd += ["--platform", tag]
    cmd += [r.strip() for r in requirements]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                check=False)
    except subprocess.TimeoutExpired as exc:
        raise WheelhouseError(f"pip download took longer than {timeout:.0f} s") from exc
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise WheelhouseError(f"pip download failed ({result.returncode}) for CPython "
                              f"{major}.{minor} on {platforms[0]}:\n{tail}")
    wheels = sorted(dest.glob("*.whl"))
    have = {_wheel_name_version(w) for w in wheels}
    missing = [f"{n}=={v}" for n, v in pins if (n, v) not in have]
    if missing:
        raise WheelhouseError(f"pip download left no wheel for {', '.join(missing)} in {dest}")
    return wheels


def cache_key(requirements: list[str], python_version: str, platforms: Sequence[str]) -> str:
    """A short hash naming the wheelhouse of these exact inputs."""
    text = json.dumps({"requirements": sorted(r.strip() for r in requirements),
                       "python": python_version, "platforms": list(platforms)})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached_wheelhouse(requirements: list[str], python: str, cache_root: Path, *,
                      pip: Sequence[str] | None = None) -> Wheelhouse:
    """The wheelhouse of ``requirements`` for the interpreter ``python``, built once into
    ``cache_root/wheelhouse-<key>/`` and reused while its ``.complete`` marker exists.

    It is built in a temp folder next to it and renamed into place when complete, so an
    interrupted build leaves no half cache and parallel runs never see one.
    """
    target = interpreter_target(python)
    key = cache_key(requirements, f"cp{target.python_version}", target.platforms)
    final = cache_root / f"wheelhouse-{key}"
    if not (final / COMPLETE_MARKER).exists():
        cache_root.mkdir(parents=True, exist_ok=True)
        _remove_stale_partials(cache_root)
        partial = cache_root / f".wheelhouse-{key}.partial-{os.getpid()}-{time.time_ns()}"
        try:
            build_wheelhouse(requirements, target.python_version, partial,
                             platforms=target.platforms, pip=pip)
            (partial / COMPLETE_MARKER).write_text(
                json.dumps({"requirements": requirements, "python": python,
                            "python_version": target.python_version,
                            "platforms": target.platforms}, indent=1) + "\n")
            if final.exists() and not (final / COMPLETE_MARKER).exists():
                shutil.rmtree(final, ignore_errors=True)
            try:
                os.rename(partial, final)
            except OSError:
                if not (final / COMPLETE_MARKER).exists():  # another run won the race
                    raise
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    return Wheelhouse(final, list(requirements), python, sorted(final.glob("*.whl")))


def _remove_stale_partials(cache_root: Path, max_age: float = 3 * 3600) -> None:
    now = time.time()
    for path in cache_root.glob(".wheelhouse-*.partial-*"):
        try:
            if now - path.stat().st_mtime > max_age:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass
