"""Build ModelDeck's offline installer: one archive to carry to an air-gapped desktop.

    python packaging/offline_bundle.py --out DIR [--platform TAG] [--python X.Y]
                                       [--extras gui] [--find-links DIR ...] [--no-index]

Defaults: this machine's platform tag (``manylinux_2_<glibc>_<arch>`` on Linux) and Python
version, and the ``gui`` extra. Writes ``DIR/modeldeck-offline-<version>-<platform>-py<XY>
.tar.gz`` with a single top folder of the same name holding:

- ``wheels/``: ModelDeck's own wheel (``pip wheel --no-deps`` of this checkout) and a binary
  wheel of every dependency for the target (``pip download --only-binary=:all: --platform
  ... --python-version ... --implementation cp``), resolved from ModelDeck's own metadata,
  i.e. ``pyproject.toml``'s dependencies plus the extras;
- ``SHA256SUMS`` for every wheel, in ``sha256sum -c`` format;
- ``install.sh`` (POSIX sh): checks the sums, checks the Python, creates a venv and installs
  with ``pip install --no-index --find-links wheels 'modeldeck[gui]==<version>'``;
- ``README.txt``.

pip evaluates environment markers (``tomli; python_version < "3.11"``) for the Python that
runs it, not for ``--python-version``/``--platform`` (pypa/pip#11010), so the wheelhouse is
re-checked here with the target's markers: a dependency pip skipped is downloaded in a second
round, a wheel only this machine would need is left out.

Downloads go through pip, so pip's configuration (index, find-links, proxies) applies. A
machine that already has the wheels passes ``--find-links DIR`` (with ``--no-index`` to use
nothing else; ModelDeck's own wheel then needs a setuptools>=77 wheel in DIR to build).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from pathlib import Path

try:
    from packaging.markers import default_environment
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name, parse_wheel_filename
    from packaging.version import Version
except ImportError:  # a Python without `packaging` still has pip's copy
    from pip._vendor.packaging.markers import (  # type: ignore[no-redef]
        default_environment)
    from pip._vendor.packaging.requirements import Requirement  # type: ignore[no-redef]
    from pip._vendor.packaging.utils import (  # type: ignore[no-redef]
        canonicalize_name, parse_wheel_filename)
    from pip._vendor.packaging.version import Version  # type: ignore[no-redef]

PROJECT = Path(__file__).resolve().parent.parent
TEMPLATES = Path(__file__).resolve().parent / "offline"
NAME = "modeldeck"
#: Top-level entries of the checkout that never go into the wheel's build copy.
_NOT_SOURCES = ("build", "dist", "*.egg-info", "__pycache__", "*.pyc")
#: pip's legacy manylinux names and the glibc they stand for.
_MANYLINUX_ALIASES = {"manylinux1": 5, "manylinux2010": 12, "manylinux2014": 17}
_DOWNLOAD_ROUNDS = 4


class BundleError(Exception):
    """The bundle cannot be built; ``fix`` says what to do about it."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


@dataclass(frozen=True)
class Target:
    """The interpreter and platform the bundle installs on.

    ``system`` is ``"linux"`` or ``"macos"``; ``libc`` is ``"glibc"``, ``"musl"`` or ``""``
    (macOS); ``floor`` the oldest glibc/musl/macOS version the platform tag allows.
    """

    platform: str
    python: str
    system: str
    arch: str
    libc: str
    floor: tuple[int, int]

    @property
    def nodot(self) -> str:
        return self.python.replace(".", "")

    def pip_platforms(self) -> list[str]:
        """``--platform`` values for pip, most specific first.

        pip matches the given tags literally (it adds only manylinux2010/manylinux1 to a
        manylinux2014 tag), so a ``manylinux_2_36`` target lists every older glibc too.
        """
        if self.system == "macos":
            return [self.platform]  # pip adds the older macOS versions itself
        major, newest = self.floor
        if self.libc == "musl":
            return [f"musllinux_{major}_{m}_{self.arch}" for m in range(newest, -1, -1)]
        tags = []
        for minor in range(newest, 4, -1):
            tags.append(f"manylinux_2_{minor}_{self.arch}")
            tags += [f"{alias}_{self.arch}" for alias, glibc in _MANYLINUX_ALIASES.items()
                     if glibc == minor]
        return tags

    def marker_environment(self) -> dict[str, str]:
        """PEP 508 marker values on the target (this interpreter's own if it is one)."""
        try:
            here = host_platform()
        except BundleError:
            here = None
        if self.python == _running_python() and self.platform == here:
            return dict(default_environment())
        linux = self.system == "linux"
        machine = "arm64" if self.arch == "universal2" else self.arch
        return {
            "implementation_name": "cpython",
            "implementation_version": f"{self.python}.0",
            "os_name": "posix",
            "platform_machine": machine,
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_system": "Linux" if linux else "Darwin",
            "platform_version": "",
            # The patch level is unknown: markers on python_full_version see x.y.0.
            "python_full_version": f"{self.python}.0",
            "python_version": self.python,
            "sys_platform": "linux" if linux else "darwin",
        }


@dataclass(frozen=True)
class Bundle:
    """A built archive."""

    path: Path
    size: int
    sha256: str
    version: str
    wheels: tuple[str, ...]
    #: The oldest glibc/musl/macOS the wheels need, e.g. ``"glibc 2.34"``.
    needs: str


def _running_python() -> str:
    return "%d.%d" % sys.version_info[:2]


def host_platform() -> str:
    """This machine's platform tag as PyPI wheels use it: ``manylinux_2_36_x86_64``."""
    if sys.platform.startswith("linux"):
        libc, version = platform.libc_ver()
        match = re.match(r"2\.(\d+)", version)
        if libc != "glibc" or not match:
            raise BundleError("cannot tell this Linux's platform tag (it has no glibc)",
                              "pass --platform, e.g. --platform musllinux_1_2_x86_64")
        return f"manylinux_2_{match.group(1)}_{platform.machine()}"
    if sys.platform == "darwin":
        return sysconfig.get_platform().replace("-", "_").replace(".", "_")
    raise BundleError(f"install.sh cannot run on {sys.platform}",
                      "build on Linux or macOS, or pass --platform for one of them")


def parse_target(platform_tag: str, python: str) -> Target:
    """Check ``--platform``/``--python`` and describe the target."""
    if not re.fullmatch(r"3\.\d+", python):
        raise BundleError(f"--python {python!r} is not a Python version",
                          "give major.minor, e.g. --python 3.11")
    tag = platform_tag.strip().lower()
    if match := re.fullmatch(r"(manylinux1|manylinux2010|manylinux2014)_(\w+)", tag):
        return Target(tag, python, "linux", match.group(2), "glibc",
                      (2, _MANYLINUX_ALIASES[match.group(1)]))
    if match := re.fullmatch(r"manylinux_2_(\d+)_(\w+)", tag):
        return Target(tag, python, "linux", match.group(2), "glibc", (2, int(match.group(1))))
    if match := re.fullmatch(r"musllinux_(\d+)_(\d+)_(\w+)", tag):
        return Target(tag, python, "linux", match.group(3), "musl",
                      (int(match.group(1)), int(match.group(2))))
    if match := re.fullmatch(r"macosx_(\d+)_(\d+)_(\w+)", tag):
        return Target(tag, python, "macos", match.group(3), "",
                      (int(match.group(1)), int(match.group(2))))
    if tag.startswith("linux_"):
        raise BundleError(f"--platform {tag}: PyPI has no linux_* wheels (they are built for "
                          "one machine)", "use a manylinux tag with the oldest glibc of the "
                          f"desktops, e.g. --platform manylinux_2_28_{tag[6:]}")
    if tag.startswith("win"):
        raise BundleError(f"--platform {tag}: the installer is a POSIX shell script",
                          "build for Linux (manylinux_2_X_ARCH) or macOS (macosx_X_Y_ARCH)")
    raise BundleError(f"--platform {platform_tag!r} is not a platform tag this script knows",
                      "use manylinux_2_X_ARCH, manylinux2014_ARCH, musllinux_1_X_ARCH or "
                      "macosx_X_Y_ARCH, e.g. manylinux_2_28_x86_64")


_STARTED = time.monotonic()


def _say(message: str) -> None:
    print(f"[{time.monotonic() - _STARTED:4.0f} s] {message}", file=sys.stderr, flush=True)


def _pip(args: Sequence[str], explain: Callable[[str], BundleError]) -> None:
    command = [sys.executable, "-m", "pip", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise explain(done.stdout + done.stderr)


def _tail(output: str) -> str:
    """pip's ERROR lines (else its last lines), indented."""
    lines = output.strip().splitlines()
    shown = [line for line in lines if line.startswith("ERROR")] or lines[-8:]
    return "\n".join("    " + line for line in shown)


def _build_error(output: str) -> BundleError:
    what, tail = "building ModelDeck's wheel", _tail(output)
    if "build dependencies" in output or "setuptools" in output:
        return BundleError(f"{what}: pip could not get setuptools>=77 to build it\n{tail}",
                           "allow the package index, or add a setuptools wheel to a "
                           "--find-links folder: pip download 'setuptools>=77' -d DIR")
    return BundleError(f"{what}: pip wheel failed\n{tail}",
                       "`pip wheel --no-deps .` in the checkout shows the whole log")


def _download_error(output: str) -> BundleError:
    """Turn pip download's failure into a message that names the fix."""
    what, tail = "downloading the dependencies", _tail(output)
    if match := re.search(r"No matching distribution found for (\S+)", output):
        requirement = match.group(1)
        name = re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0]
        return BundleError(
            f"{what}: no wheel of {requirement} for the target (pip needs binary wheels; "
            f"see which platforms {name} publishes at https://pypi.org/project/{name}/#files)"
            f"\n{tail}",
            "pick a --platform it has wheels for (a newer manylinux_2_X or macosx_X_Y: the "
            "desktops then need that glibc or macOS), another --python, or leave out the "
            "extra that needs it (--extras '')")
    if "requires a different Python" in output:
        return BundleError(f"{what}: a package does not support this Python\n{tail}",
                           "pick another --python")
    if re.search(r"NewConnectionError|Max retries exceeded|Could not fetch URL|"
                 r"Temporary failure in name resolution", output):
        return BundleError(f"{what}: pip could not reach the package index\n{tail}",
                           "connect this machine to PyPI (or its mirror), or give a folder "
                           "of wheels: --find-links DIR --no-index")
    return BundleError(f"{what}: pip failed\n{tail}", "see pip's message above")


def _copy_sources(project: Path, dest: Path) -> None:
    """Copy the checkout without its build leftovers, venvs and dot-folders.

    Building from a copy keeps the checkout clean, and a stale ``build/lib`` (files of
    modules since deleted) cannot end up in the wheel.
    """
    ignore_top = shutil.ignore_patterns(".*", *_NOT_SOURCES)
    ignore_below = shutil.ignore_patterns("__pycache__", "*.pyc")

    def ignore(folder: str, names: list[str]) -> Iterable[str]:
        pick = ignore_top if Path(folder) == project else ignore_below
        return pick(folder, names)

    shutil.copytree(project, dest, ignore=ignore)


def build_own_wheel(project: Path, dest: Path, index_args: Sequence[str]) -> Path:
    """``pip wheel --no-deps`` of the checkout at ``project`` into ``dest``."""
    with tempfile.TemporaryDirectory(prefix="source-", dir=dest.parent) as tmp:
        source = Path(tmp) / "modeldeck"
        _copy_sources(project, source)
        _pip(["wheel", "--no-deps", "--quiet", "--wheel-dir", str(dest), *index_args,
              str(source)], _build_error)
    wheels = sorted(dest.glob(f"{NAME}-*.whl"))
    if len(wheels) != 1:
        raise BundleError(f"pip wheel left {len(wheels)} ModelDeck wheels in {dest}",
                          "report this: expected exactly one")
    return wheels[0]


def download(requirements: Sequence[str], dest: Path, target: Target,
             index_args: Sequence[str], constraints: Path | None = None) -> None:
    """``pip download`` binary wheels of ``requirements`` (and their dependencies)."""
    args = ["download", "--quiet", "--only-binary=:all:", "--implementation", "cp",
            "--python-version", target.python, "--dest", str(dest),
            "--find-links", str(dest), *index_args]
    for tag in target.pip_platforms():
        args += ["--platform", tag]
    if constraints is not None:
        args += ["--constraint", str(constraints)]
    _pip([*args, *requirements], _download_error)


@dataclass
class _Wheel:
    path: Path
    name: str
    version: Version
    requires: list[Requirement]


def _metadata(wheel: Path) -> Message:
    """The ``METADATA`` headers of ``wheel``."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist()
                    if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
        return HeaderParser().parsestr(archive.read(name).decode("utf-8"))


def _read_wheel(path: Path) -> _Wheel:
    name, version, _build, _tags = parse_wheel_filename(path.name)
    requires = _metadata(path).get_all("Requires-Dist") or []
    return _Wheel(path, str(name), version, [Requirement(line) for line in requires])


@dataclass(frozen=True)
class Closure:
    """What the target installs of a wheelhouse, by the target's markers."""

    needed: frozenset[Path]
    #: Requirements no wheel satisfies yet: ``name[extras]specifier`` strings.
    missing: tuple[str, ...]
    #: Requirements a wheel of the name exists for, but in another version.
    conflicts: tuple[str, ...]


def check_closure(wheel_dir: Path, root: str, extras: Iterable[str],
                  environment: dict[str, str]) -> Closure:
    """Walk ``root[extras]``'s requirements through the wheels in ``wheel_dir``."""
    wheels = [_read_wheel(p) for p in sorted(wheel_dir.glob("*.whl"))]
    by_name = {canonicalize_name(w.name): w for w in wheels}
    seen: dict[str, set[str]] = {}
    queue = [(canonicalize_name(root), set(extras))]
    missing, conflicts = set(), set()
    while queue:
        name, wanted = queue.pop()
        if name in seen and wanted <= seen[name]:
            continue
        known = seen.setdefault(name, set())
        known |= wanted
        wheel = by_name[name]
        for requirement in wheel.requires:
            marker = requirement.marker
            if marker is not None and not any(
                    marker.evaluate({**environment, "extra": extra})
                    for extra in ["", *sorted(known)]):
                continue
            other = canonicalize_name(requirement.name)
            spec = requirement.specifier
            with_extras = (f"{requirement.name}[{','.join(sorted(requirement.extras))}]"
                           if requirement.extras else requirement.name)
            if other not in by_name:
                missing.add(f"{with_extras}{spec}")
            elif not spec.contains(by_name[other].version, prereleases=True):
                conflicts.add(f"{wheel.name} needs {with_extras}{spec}, the bundle has "
                              f"{by_name[other].version}")
            else:
                queue.append((other, set(requirement.extras)))
    needed = frozenset(by_name[n].path for n in seen)
    return Closure(needed, tuple(sorted(missing)), tuple(sorted(conflicts)))


def _floor_of(tag_platform: str) -> tuple[int, int] | None:
    """The glibc/musl/macOS version a wheel platform tag needs; ``None`` for ``any``."""
    if match := re.fullmatch(r"manylinux_(\d+)_(\d+)_\w+", tag_platform):
        return int(match.group(1)), int(match.group(2))
    if match := re.fullmatch(r"(manylinux1|manylinux2010|manylinux2014)_\w+", tag_platform):
        return 2, _MANYLINUX_ALIASES[match.group(1)]
    if match := re.fullmatch(r"(?:musllinux|macosx)_(\d+)_(\d+)_\w+", tag_platform):
        return int(match.group(1)), int(match.group(2))
    return None


def platform_floor(wheels: Iterable[Path], target: Target) -> tuple[int, int]:
    """The oldest glibc/musl/macOS all ``wheels`` run on (each wheel: its most lenient tag)."""
    floor = (0, 0)
    for wheel in wheels:
        tags = parse_wheel_filename(wheel.name)[3]
        floors = [f for f in (_floor_of(tag.platform) for tag in tags) if f is not None]
        if floors and len(floors) == len(tags):
            floor = max(floor, min(floors))
    return floor


def _needs_text(target: Target, floor: tuple[int, int]) -> str:
    what = {"glibc": "glibc", "musl": "musl", "": "macOS"}[target.libc]
    return f"{what} {floor[0]}.{floor[1]}" if floor != (0, 0) else f"any {what}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _render(template: str, values: dict[str, str]) -> str:
    text = (TEMPLATES / template).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise BundleError(f"{template} has unknown placeholders {left}",
                          "fix the template next to offline_bundle.py")
    return text


def requirement_for(version: str, extras: Sequence[str]) -> str:
    """What install.sh asks pip for: ``modeldeck[gui]==0.1.0``."""
    return f"{NAME}[{','.join(extras)}]=={version}" if extras else f"{NAME}=={version}"


def write_bundle_files(folder: Path, target: Target, version: str, extras: Sequence[str],
                       floor: tuple[int, int]) -> None:
    """Write ``SHA256SUMS``, ``install.sh`` and ``README.txt`` next to ``folder/wheels``."""
    wheels = sorted((folder / "wheels").glob("*.whl"))
    sums = "".join(f"{_sha256(w)}  wheels/{w.name}\n" for w in wheels)
    (folder / "SHA256SUMS").write_text(sums, encoding="utf-8")
    values = {
        "VERSION": version,
        "PYTHON": target.python,
        "PLATFORM": target.platform,
        "SYSTEM": target.system,
        "ARCH": target.arch,
        "LIBC": target.libc,
        "LIBC_MIN": f"{floor[0]}.{floor[1]}",
        "REQUIREMENT": requirement_for(version, extras),
        "WHEEL_COUNT": str(len(wheels)),
        "PLATFORM_TEXT": f"{target.platform} ({target.arch}, {_needs_text(target, floor)} "
                         "or newer)",
    }
    for key, value in values.items():
        # install.sh puts them in single quotes
        assert "'" not in value and "\n" not in value, (key, value)
    script = folder / "install.sh"
    script.write_text(_render("install.sh.in", values), encoding="utf-8")
    script.chmod(0o755)
    (folder / "README.txt").write_text(_render("README.txt.in", values), encoding="utf-8")


def pack(folder: Path, archive: Path) -> None:
    """``folder`` as ``archive`` (.tar.gz, one top folder), written atomically."""

    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        if info.isfile():
            info.mode = 0o755 if info.name.endswith("/install.sh") else 0o644
        return info

    part = archive.with_name(archive.name + ".part")
    # Level 0 (stored): the wheels are deflated already. Level 1 made the archive 1.5%
    # smaller (223 MB instead of 226) and took 14 s instead of 1.3 s.
    try:
        with tarfile.open(part, "w:gz", compresslevel=0) as tar:
            tar.add(folder, arcname=folder.name, filter=clean)
        os.replace(part, archive)
    finally:
        part.unlink(missing_ok=True)


def _names_versions(folder: Path) -> list[tuple[str, str]]:
    found = []
    for wheel in sorted(folder.glob("*.whl")):
        name, version, _build, _tags = parse_wheel_filename(wheel.name)
        found.append((str(name), str(version)))
    return found


def _provided_extras(wheel: Path) -> set[str]:
    return set(_metadata(wheel).get_all("Provides-Extra") or [])


def build_bundle(out: Path, target: Target, extras: Sequence[str],
                 index_args: Sequence[str] = (), project: Path = PROJECT) -> Bundle:
    """Build the offline archive for ``target`` in ``out``; see the module docstring.

    ``index_args`` go to every pip call (``--find-links DIR``, ``--no-index``).
    """
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".offline-bundle-", dir=out) as tmp:
        work = Path(tmp)
        _say("building ModelDeck's wheel (pip wheel --no-deps)")
        own = build_own_wheel(project, work / "own", index_args)
        version = str(parse_wheel_filename(own.name)[1])
        unknown = sorted(set(extras) - _provided_extras(own))
        if unknown:
            raise BundleError(f"ModelDeck has no extra {', '.join(unknown)}",
                              "pick from: " + ", ".join(sorted(_provided_extras(own))))
        top = f"{NAME}-offline-{version}-{target.platform}-py{target.nodot}"
        wheels = work / top / "wheels"
        wheels.mkdir(parents=True)
        root = f"{own}[{','.join(extras)}]" if extras else str(own)
        _say(f"downloading wheels for CPython {target.python} on {target.platform} "
             "(pip download)")
        download([root], wheels, target, index_args)

        environment = target.marker_environment()
        for attempt in range(_DOWNLOAD_ROUNDS + 1):
            closure = check_closure(wheels, NAME, extras, environment)
            if closure.conflicts:
                raise BundleError("the downloaded wheels do not fit together on the target: "
                                  + "; ".join(closure.conflicts),
                                  "report it; pinning the named package may help")
            if not closure.missing:
                break
            if attempt == _DOWNLOAD_ROUNDS:
                raise BundleError("still missing after several downloads: "
                                  + ", ".join(closure.missing), "report it")
            # pip skipped them: their markers are false here but true on the target. The
            # pins keep pip from fetching a second version of a wheel already there.
            _say("downloading what the target needs beyond this machine: "
                 + ", ".join(closure.missing))
            pins = work / "pins.txt"
            pins.write_text("".join(f"{name}=={version}\n"
                                    for name, version in _names_versions(wheels)))
            download(closure.missing, wheels, target, index_args, constraints=pins)
        for wheel in sorted(set(wheels.glob("*.whl")) - closure.needed):
            _say(f"leaving out {wheel.name} (the target does not need it)")
            wheel.unlink()

        kept = sorted(wheels.glob("*.whl"))
        floor = platform_floor(kept, target)
        write_bundle_files(work / top, target, version, extras, floor)
        archive = out / f"{top}.tar.gz"
        _say(f"packing {len(kept)} wheels")
        pack(work / top, archive)
    return Bundle(archive, archive.stat().st_size, _sha256(archive), version,
                  tuple(w.name for w in kept), _needs_text(target, floor))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="offline_bundle.py",
        description="Build one archive that installs ModelDeck with no network: a wheelhouse "
                    "for one platform and Python, SHA256SUMS and install.sh.")
    parser.add_argument("--out", required=True, type=Path, help="where the archive goes")
    parser.add_argument("--platform", help="a wheel platform tag, e.g. manylinux_2_28_x86_64 "
                        "or manylinux2014_x86_64 (default: this machine's)")
    parser.add_argument("--python", default=_running_python(),
                        help="major.minor of the desktops' CPython (default: %(default)s)")
    parser.add_argument("--extras", default="gui",
                        help="comma-separated ModelDeck extras, '' for none "
                             "(default: %(default)s)")
    parser.add_argument("--find-links", action="append", default=[], metavar="DIR",
                        help="also take wheels from DIR (repeatable)")
    parser.add_argument("--no-index", action="store_true",
                        help="use no package index, only --find-links folders")
    args = parser.parse_args(argv)

    extras = [e.strip() for e in args.extras.split(",") if e.strip()]
    index_args = [f"--find-links={Path(folder).resolve()}" for folder in args.find_links]
    if args.no_index:
        index_args.append("--no-index")
    try:
        target = parse_target(args.platform or host_platform(), args.python)
        bundle = build_bundle(args.out.resolve(), target, extras, index_args)
    except BundleError as error:
        print(f"offline_bundle.py: error: {error}\n  fix: {error.fix}", file=sys.stderr)
        return 1
    print(f"archive: {bundle.path}")
    print(f"size:    {bundle.size / 1e6:.1f} MB")
    print(f"wheels:  {len(bundle.wheels)} (ModelDeck {bundle.version} and its dependencies) "
          f"for CPython {target.python} on {target.platform}, needs {bundle.needs} or newer")
    print(f"sha256:  {bundle.sha256}")
    print(f"install: tar xzf {bundle.path.name} && sh {bundle.path.name[:-7]}/install.sh "
          "[VENV_DIR]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
