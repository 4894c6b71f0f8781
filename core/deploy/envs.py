"""What a host's Python needs to serve a release, and wheelhouses for air-gapped hosts.

The prediction server needs numpy, scipy, pandas, scikit-learn, skops and waitress (and
onnxruntime for ONNX artifacts). A host whose own Python has them at the versions the model
was registered with serves with that Python. Any other host gets a virtual environment
installed from a *wheelhouse* — a folder of wheels for the host's Python and platform —
with ``pip install --no-index``, so the host never needs the internet. Environments are
named by a hash of the host's Python, the requirements and the wheels' sha256, so the next
deploy with the same needs reuses the one already built.

A wheelhouse is either given by the admin (a folder of ``.whl`` files) or built here with
``pip download`` for the host's Python version and platform (this machine needs access to
a package index for that, the host never does).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from modeldeck.core.errors import DeployError

#: Distribution names the runtime imports, in install order.
RUNTIME_PACKAGES = ("numpy", "scipy", "pandas", "scikit-learn", "skops", "waitress")
#: Packages whose version must equal the model's recorded one (loading a model with another
#: scikit-learn is what skops and scikit-learn warn about).
PINNED_TO_MODEL = ("scikit-learn",)
_INDEX = "wheels.json"


@dataclass(frozen=True)
class Requirements:
    """The exact packages a release's server needs: ``{"numpy": "2.4.6", ...}``."""

    packages: dict[str, str]

    def lines(self) -> list[str]:
        """``name==version`` lines, sorted."""
        return [f"{name}=={version}" for name, version in sorted(self.packages.items())]

    def text(self) -> str:
        """A requirements file."""
        return "".join(line + "\n" for line in self.lines())


def requirements_for(environment: Mapping[str, str], artifact_format: str) -> Requirements:
    """The packages to serve a model registered under ``environment``.

    The model's recorded versions are used where it has them (so the host loads the model
    with the very scikit-learn it was fitted with); waitress and anything unrecorded take
    this machine's installed version, which is what the release was built and tested with.
    """
    names = list(RUNTIME_PACKAGES)
    if artifact_format == "onnx":
        names.append("onnxruntime")
    packages = {}
    for name in names:
        version = environment.get(name)
        if not version:
            try:
                version = metadata.version(name)
            except metadata.PackageNotFoundError:
                raise DeployError(f"cannot tell which {name} the host needs: the model "
                                  "recorded none and none is installed here",
                                  f"pip install {name} on this machine") from None
        packages[name] = str(version)
    return Requirements(packages)


def unmet(requirements: Requirements, installed: Mapping[str, str | None]) -> list[str]:
    """What a Python with ``installed`` versions lacks: ``["numpy (missing)", ...]``."""
    problems = []
    for name, version in sorted(requirements.packages.items()):
        have = installed.get(name)
        if not have:
            problems.append(f"{name} (missing)")
        elif name in PINNED_TO_MODEL and have != version:
            problems.append(f"{name} {have}, model needs {version}")
        elif _major_minor(have) != _major_minor(version):
            problems.append(f"{name} {have}, built with {version}")
    return problems


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])


@dataclass(frozen=True)
class Wheelhouse:
    """A folder of wheels: ``files`` maps each wheel's file name to its sha256."""

    path: Path
    files: dict[str, str] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return sum((self.path / name).stat().st_size for name in self.files)

    def digest(self) -> str:
        text = json.dumps(sorted(self.files.items()))
        return hashlib.sha256(text.encode()).hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def open_wheelhouse(path: str | os.PathLike[str]) -> Wheelhouse:
    """Read a folder of wheels (hashes cached in ``wheels.json`` by size and mtime)."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DeployError(f"the wheelhouse {folder} is not a folder",
                          "pass a folder of .whl files (e.g. made with `pip download`)")
    index_path = folder / _INDEX
    try:
        cached = json.loads(index_path.read_text()) if index_path.is_file() else {}
    except (OSError, ValueError):
        cached = {}
    files, index = {}, {}
    for wheel in sorted(folder.glob("*.whl")):
        stat = wheel.stat()
        key = f"{stat.st_size}:{stat.st_mtime_ns}"
        entry = cached.get(wheel.name)
        sha = entry["sha256"] if entry and entry.get("key") == key else _sha256(wheel)
        files[wheel.name] = sha
        index[wheel.name] = {"key": key, "sha256": sha}
    if not files:
        raise DeployError(f"the wheelhouse {folder} holds no .whl files",
                          "fill it with `pip download --only-binary=:all: -d DIR ...` or "
                          "let ModelDeck build it (--build-wheelhouse)")
    if index != cached:
        try:
            index_path.write_text(json.dumps(index, indent=1, sort_keys=True))
        except OSError:
            pass  # a read-only wheelhouse just gets hashed again next time
    return Wheelhouse(folder, files)


def missing_from(wheelhouse: Wheelhouse, requirements: Requirements) -> list[str]:
    """Requirements with no wheel of that name and version in the wheelhouse."""
    have = set()
    for name in wheelhouse.files:
        parts = name.split("-")
        if len(parts) >= 2:
            have.add((_canonical(parts[0]), parts[1]))
    return [f"{n}=={v}" for n, v in sorted(requirements.packages.items())
            if (_canonical(n), v) not in have]


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def platform_tags(machine: str, libc: str) -> list[str]:
    """pip ``--platform`` tags a Linux host of ``machine`` with ``libc`` (``"glibc 2.36"``)
    can install, newest first."""
    match = re.match(r"glibc\s+2\.(\d+)", libc or "")
    if not match:
        raise DeployError(f"cannot build wheels for a host with libc '{libc or 'unknown'}'",
                          "give a wheelhouse built for the host (--wheelhouse DIR)")
    minor = int(match.group(1))
    tags = [f"manylinux_2_{m}_{machine}" for m in range(minor, 16, -1)]
    return tags + [f"manylinux2014_{machine}", f"linux_{machine}"]


def wheelhouse_key(requirements: Requirements, python_version: str, tags: Sequence[str]) -> str:
    text = json.dumps([requirements.lines(), python_version, list(tags)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build_wheelhouse(requirements: Requirements, *, python_version: str, machine: str,
                     libc: str, cache: Path, timeout: float = 900.0) -> Wheelhouse:
    """Download wheels for a host (``python_version`` like ``"3.11.2"``) into ``cache``.

    Built once per requirements, Python and platform (``cache/<key>``; a half-built one is
    never used: it is written to a temporary folder and renamed when complete).
    """
    short = ".".join(python_version.split(".")[:2])
    tags = platform_tags(machine, libc)
    dest = cache / f"wheels-{wheelhouse_key(requirements, short, tags)}"
    if (dest / ".complete").is_file():
        return open_wheelhouse(dest)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".wheels-", dir=cache))
    command = [*_pip(), "download", "--quiet", "--only-binary=:all:",
               "--dest", str(tmp), "--python-version", short, "--implementation", "cp"]
    for tag in tags:
        command += ["--platform", tag]
    command += requirements.lines()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DeployError(f"downloading wheels took longer than {timeout:g} s",
                          "check this machine's access to the package index, or give a "
                          "wheelhouse folder (--wheelhouse DIR)") from None
    if done.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise DeployError("pip could not download wheels for Python "
                          f"{short} on {machine}: {' '.join(tail)}",
                          "check this machine's access to the package index, or give a "
                          "wheelhouse folder built elsewhere (--wheelhouse DIR)")
    (tmp / ".complete").write_text("\n".join(requirements.lines()) + "\n")
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(tmp, dest)
    return open_wheelhouse(dest)


def _pip() -> list[str]:
    """The command running pip: this Python's; in the frozen desktop app (which has no
    pip of its own), a python3 on the PATH."""
    if not getattr(sys, "frozen", False):
        return [sys.executable, "-m", "pip"]
    python = shutil.which("python3")
    if python is None:
        raise DeployError("building a wheelhouse needs a Python with pip on this machine",
                          "install python3, or give a wheelhouse folder built elsewhere "
                          "(--wheelhouse DIR)")
    return [python, "-m", "pip"]


def env_hash(python_version: str, requirements: Requirements,
             wheelhouse: Wheelhouse | None) -> str:
    """The name of the host venv for these needs (same needs, same venv); ``None``: the
    wheels are the host's own (a pinned agent's wheelhouse)."""
    text = json.dumps([python_version, requirements.lines(),
                       wheelhouse.digest() if wheelhouse is not None else "host"])
    return hashlib.sha256(text.encode()).hexdigest()[:16]
