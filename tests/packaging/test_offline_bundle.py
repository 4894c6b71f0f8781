"""packaging/offline_bundle.py: the offline installer archive, built and installed for real.

The ``packaging``-marked tests build the bundle for this machine's platform and Python (pip
downloads from PyPI, about 230 MB), unpack it and run its install.sh into a new venv with the
network off for pip, then run the installed ``modeldeck``. The others check install.sh's
refusals and the build's pieces on small stand-ins, in about a second.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "packaging" / "offline_bundle.py"
VERSION = importlib.metadata.version("modeldeck")
#: Bootstrap packages `python -m venv` brings, whatever the bundle holds.
BOOTSTRAP = {"pip", "setuptools", "wheel"}


def load_script():
    spec = importlib.util.spec_from_file_location("offline_bundle", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


offline_bundle = load_script()


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "--net", "true"], capture_output=True).returncode == 0


#: Where possible, offline commands run in a new network namespace: no network at all.
NO_NETWORK = ["unshare", "--net"] if _unshare_works() else []


def offline_env(tmp: Path) -> dict[str, str]:
    """The environment for "network off for pip": any attempt at an index fails."""
    env = dict(os.environ)
    env.update(PIP_NO_INDEX="1", PIP_INDEX_URL="http://127.0.0.1:9/simple",
               PIP_EXTRA_INDEX_URL="", TMPDIR=str(tmp), QT_QPA_PLATFORM="offscreen")
    return env


def run_offline(command: list[str], tmp: Path, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(NO_NETWORK + command, env=offline_env(tmp), capture_output=True,
                          text=True, check=False, **kwargs)


def host_python() -> str:
    """This venv's base CPython (the host's python3 of the bundle's version)."""
    return str(Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}")


def wheel_names(folder: Path) -> dict[str, str]:
    """``{canonical name: version}`` of the wheels in ``folder``."""
    found = {}
    for wheel in folder.glob("*.whl"):
        name, version, _build, _tags = offline_bundle.parse_wheel_filename(wheel.name)
        found[str(name)] = str(version)
    return found


# --- the real bundle -------------------------------------------------------------------


# The archive and the unpacked bundle (430 MB) are deleted when done, as pytest would keep
# them for the last three runs. The venv (860 MB) is left to pytest: its 20,000 files took
# 20-35 s to delete here.


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """The archive for this machine, and what the script printed."""
    out = tmp_path_factory.mktemp("bundle")
    scratch = tmp_path_factory.mktemp("bundle-tmp")
    done = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out)],
                          env={**os.environ, "TMPDIR": str(scratch)}, capture_output=True,
                          text=True, check=False, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    archive = Path(re.search(r"^archive: (.+)$", done.stdout, re.MULTILINE).group(1))
    assert archive.parent == out
    yield archive, done.stdout
    shutil.rmtree(out)
    shutil.rmtree(scratch)


@pytest.fixture(scope="module")
def unpacked(built: tuple[Path, str],
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    archive, _ = built
    dest = tmp_path_factory.mktemp("unpacked")
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    (top,) = dest.iterdir()
    yield top
    shutil.rmtree(dest)


@pytest.fixture(scope="module")
def installed(unpacked: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv install.sh made from the unpacked bundle, with no network."""
    home = tmp_path_factory.mktemp("install")
    venv = home / "venv"
    done = run_offline(["env", f"PYTHON={host_python()}", "sh", str(unpacked / "install.sh"),
                        str(venv)], home, cwd=home, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{venv}/bin/modeldeck-gui" in done.stdout
    return venv


@pytest.mark.packaging
@pytest.mark.timeout(900)  # the install alone took 75-105 s on a busy 2-core machine
def test_archive_has_one_top_folder_with_summed_wheels(built: tuple[Path, str],
                                                       unpacked: Path) -> None:
    archive, printed = built
    python = f"py{sys.version_info[0]}{sys.version_info[1]}"
    platform_tag = offline_bundle.host_platform()
    assert archive.name == f"modeldeck-offline-{VERSION}-{platform_tag}-{python}.tar.gz"
    assert unpacked.name == archive.name.removesuffix(".tar.gz")
    with tarfile.open(archive) as tar:
        assert {m.name.split("/")[0] for m in tar.getmembers()} == {unpacked.name}

    wheels = sorted(p.name for p in (unpacked / "wheels").iterdir())
    listed = sorted(line.split("  wheels/")[1]
                    for line in (unpacked / "SHA256SUMS").read_text().splitlines())
    assert listed == wheels
    assert f"wheels:  {len(wheels)} " in printed
    names = wheel_names(unpacked / "wheels")
    assert names["modeldeck"] == VERSION
    assert {"numpy", "scikit-learn", "paramiko", "pyside6-essentials", "pyqtgraph"} <= set(names)
    assert os.access(unpacked / "install.sh", os.X_OK)
    assert (unpacked / "README.txt").is_file()


@pytest.mark.packaging
@pytest.mark.timeout(900)
def test_install_sh_installs_only_the_bundled_wheels(installed: Path, unpacked: Path) -> None:
    listing = subprocess.run(
        [str(installed / "bin" / "python"), "-c",
         "import json, importlib.metadata as m; print(json.dumps("
         "{d.metadata['Name']: d.version for d in m.distributions()}))"],
        capture_output=True, text=True, check=True)
    have = {offline_bundle.canonicalize_name(n): v
            for n, v in json.loads(listing.stdout).items()}
    bundled = wheel_names(unpacked / "wheels")
    assert ({n: v for n, v in have.items() if n not in BOOTSTRAP}
            == {n: v for n, v in bundled.items() if n not in BOOTSTRAP})


@pytest.mark.packaging
@pytest.mark.timeout(900)
def test_installed_modeldeck_runs_the_demo_with_no_network(installed: Path,
                                                           tmp_path: Path) -> None:
    version = run_offline([str(installed / "bin" / "modeldeck"), "--version"], tmp_path)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"modeldeck {VERSION}"

    demo = run_offline([str(installed / "bin" / "modeldeck"), "--workspace",
                        str(tmp_path / "ws"), "demo"], tmp_path, timeout=600)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "Demo ready in" in demo.stdout and "breast-cancer" in demo.stdout


@pytest.mark.packaging
@pytest.mark.timeout(900)
def test_installed_desktop_app_loads_qt_and_its_resources(installed: Path,
                                                          tmp_path: Path) -> None:
    gui_help = run_offline([str(installed / "bin" / "modeldeck-gui"), "--help"], tmp_path)
    assert gui_help.returncode == 0, gui_help.stderr
    assert "usage: modeldeck-gui" in gui_help.stdout
    styled = run_offline([str(installed / "bin" / "python"), "-c",
                          "from PySide6.QtWidgets import QApplication;"
                          "from modeldeck.gui.app import configure_application;"
                          "app = QApplication([]); configure_application(app);"
                          "assert app.styleSheet() and not app.windowIcon().isNull()"],
                         tmp_path)
    assert styled.returncode == 0, styled.stderr


@pytest.mark.packaging
@pytest.mark.timeout(900)
def test_refuses_a_corrupted_wheel_of_the_real_bundle(unpacked: Path, tmp_path: Path) -> None:
    copy = tmp_path / unpacked.name
    (copy / "wheels").mkdir(parents=True)
    for name in ("install.sh", "SHA256SUMS"):
        shutil.copy2(unpacked / name, copy / name)
    victim = next(p for p in sorted((unpacked / "wheels").iterdir())
                  if p.name.startswith("numpy-"))
    for wheel in (unpacked / "wheels").iterdir():
        if wheel != victim:
            (copy / "wheels" / wheel.name).symlink_to(wheel)
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, as a bad copy would have
    (copy / "wheels" / victim.name).write_bytes(bytes(data))

    done = run_offline(["sh", str(copy / "install.sh"), str(tmp_path / "venv")], tmp_path,
                       cwd=tmp_path)
    assert done.returncode == 1
    assert f"wheels/{victim.name} (checksum mismatch)" in done.stderr
    assert "refusing to install" in done.stderr
    assert not (tmp_path / "venv").exists()


# --- install.sh's refusals and the build's pieces, on stand-ins -------------------------


def make_stand_in(folder: Path, python: str | None = None) -> Path:
    """A bundle folder with the real install.sh and SHA256SUMS over three fake wheels."""
    target = offline_bundle.parse_target(offline_bundle.host_platform(),
                                         python or offline_bundle._running_python())
    (folder / "wheels").mkdir(parents=True)
    for name in ("modeldeck-0.1.0-py3-none-any.whl", "numpy-2.0.0-py3-none-any.whl",
                 "zzz-1.0-py3-none-any.whl"):
        (folder / "wheels" / name).write_bytes(name.encode() * 100)
    offline_bundle.write_bundle_files(folder, target, "0.1.0", ["gui"], (2, 17))
    return folder


def run_install(bundle: Path, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(bundle / "install.sh"), str(tmp_path / "venv")],
                          env={**offline_env(tmp_path), **env}, cwd=tmp_path,
                          capture_output=True, text=True, check=False)


@pytest.mark.parametrize(("damage", "reported"), [
    ("change", "wheels/numpy-2.0.0-py3-none-any.whl (checksum mismatch)"),
    ("delete", "wheels/numpy-2.0.0-py3-none-any.whl (missing)"),
    ("add", "not listed in SHA256SUMS:\n  wheels/extra-1.0-py3-none-any.whl"),
])
def test_install_sh_refuses_damaged_wheels(tmp_path: Path, damage: str, reported: str) -> None:
    bundle = make_stand_in(tmp_path / "bundle")
    wheel = bundle / "wheels" / "numpy-2.0.0-py3-none-any.whl"
    if damage == "change":
        wheel.write_bytes(wheel.read_bytes()[:-1] + b"!")
    elif damage == "delete":
        wheel.unlink()
    else:
        (bundle / "wheels" / "extra-1.0-py3-none-any.whl").write_bytes(b"x")

    done = run_install(bundle, tmp_path)

    assert done.returncode == 1
    assert "refusing to install" in done.stderr
    assert reported in done.stderr
    assert not (tmp_path / "venv").exists()


def test_install_sh_refuses_another_python(tmp_path: Path) -> None:
    bundle = make_stand_in(tmp_path / "bundle", python="3.99")

    done = run_install(bundle, tmp_path, PYTHON=host_python())

    assert done.returncode == 1
    have = "%d.%d" % sys.version_info[:2]
    assert f"it is Python {have}, not 3.99" in done.stderr
    assert "PYTHON=/path/to/python3.99 sh install.sh" in done.stderr
    assert not (tmp_path / "venv").exists()


def test_platform_tags_cover_older_glibc_and_refuse_non_posix() -> None:
    target = offline_bundle.parse_target("manylinux_2_28_x86_64", "3.11")
    tags = target.pip_platforms()
    assert tags[0] == "manylinux_2_28_x86_64"
    assert {"manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64"} <= set(tags)
    assert offline_bundle.parse_target("manylinux2014_x86_64", "3.11").pip_platforms()[:2] == [
        "manylinux_2_17_x86_64", "manylinux2014_x86_64"]
    for bad, fix in [("linux_x86_64", "manylinux_2_28_x86_64"), ("win_amd64", "macosx")]:
        with pytest.raises(offline_bundle.BundleError) as caught:
            offline_bundle.parse_target(bad, "3.11")
        assert fix in caught.value.fix


def _fake_wheel(folder: Path, name: str, version: str, requires: list[str]) -> None:
    with zipfile.ZipFile(folder / f"{name}-{version}-py3-none-any.whl", "w") as wheel:
        lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
        lines += [f"Requires-Dist: {r}" for r in requires]
        wheel.writestr(f"{name}-{version}.dist-info/METADATA", "\n".join(lines) + "\n")


def test_closure_uses_the_targets_markers_not_this_pythons(tmp_path: Path) -> None:
    # pip evaluates markers for the Python running it (pypa/pip#11010): the build checks
    # the wheelhouse again with the target's.
    _fake_wheel(tmp_path, "modeldeck", "0.1.0", [
        "numpy>=1.24", 'tomli>=2; python_version < "3.11"', 'superqt>=0.6; extra == "gui"'])
    _fake_wheel(tmp_path, "numpy", "2.0.0", [])
    _fake_wheel(tmp_path, "superqt", "0.9.0", ["numpy<2"])
    _fake_wheel(tmp_path, "colorama", "0.4.6", [])

    def closure(python: str, extras: list[str]):
        target = offline_bundle.parse_target("manylinux_2_17_aarch64", python)
        return offline_bundle.check_closure(tmp_path, "modeldeck", extras,
                                            target.marker_environment())

    on_310 = closure("3.10", [])
    assert on_310.missing == ("tomli>=2",)
    assert {p.name.split("-")[0] for p in on_310.needed} == {"modeldeck", "numpy"}
    assert closure("3.12", []).missing == ()
    assert closure("3.12", ["gui"]).conflicts == (
        "superqt needs numpy<2, the bundle has 2.0.0",)
