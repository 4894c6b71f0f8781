"""Check the built desktop app ``dist/ModelDeck/`` (``make package`` builds it).

``python packaging/check_app.py [--app dist/ModelDeck]`` (run with the project's venv):

1. checks ``modeldeck.desktop`` beside the executables (its Exec and Icon;
   ``desktop-file-validate`` when installed);
2. builds the demo workspace in a temporary folder with the installed ``modeldeck demo``;
3. runs the app's own CLI (``modeldeck``) on it: ``--version``, ``models --json`` (must
   list the demo's models, as the installed CLI does), ``verify`` (loads every model:
   scikit-learn, skops and Parquet work frozen) and ``bundle`` (the same release id as the
   installed CLI's: the runtime sources it ships are in the app folder);
4. starts ``ModelDeck --workspace TMP`` on Qt's offscreen platform with
   ``MODELDECK_SELF_TEST`` set (``packaging/app_selftest.py``): the app reports what its
   window shows, saves a screenshot, opens every page and quits;
5. checks that the window showed that workspace, its models and versions, the demo
   user's role, the stylesheet and icon from inside the app folder, that the screenshot
   is a rendered window, and that no page raised an error notification.

Exits 0 when all holds, 1 with the reasons otherwise. Nothing outside the temporary
folder is written: the app's state, config and cache dirs point into it.
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from modeldeck.core.demo import DEMO_MODELS, DEMO_USERS

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_APP = ROOT / "dist" / "ModelDeck"
GUI_NAME = "ModelDeck"
CLI_NAME = "modeldeck" if sys.platform.startswith("linux") else "modeldeck-cli"
#: Who builds the demo (and so becomes its admin).
BUILDER = "modeldeck-check"
#: Who opens it: a user the demo registers, whose role the header must show.
DEMO_USER = sorted(DEMO_USERS)[0]
DEMO_ROLE = DEMO_USERS[DEMO_USER]


class CheckFailed(Exception):
    """A check that did not hold; the message says which and why."""


def run(command: list[str], *, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    """Run ``command``; a non-zero exit is a :class:`CheckFailed` with its output's tail."""
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"{' '.join(command)} took longer than {timeout:g} s") from None
    if done.returncode != 0:
        raise CheckFailed(f"{' '.join(command)} exited {done.returncode}:\n"
                          + tail(done.stdout + done.stderr))
    return done


def tail(text: str, lines: int = 15) -> str:
    """The last ``lines`` lines of ``text``, indented."""
    return "\n".join("    " + line for line in text.strip().splitlines()[-lines:])


def clean_env(tmp: Path) -> dict[str, str]:
    """The environment of every command: no real workspace, state or config touched.

    The acting user is :data:`BUILDER`, so the demo's own users keep their roles.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELDECK_")}
    for name in ("XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
        env[name] = str(tmp / "home" / name.lower())
    env["MODELDECK_USER"] = BUILDER
    return env


def check_desktop_entry(app: Path) -> None:
    """``modeldeck.desktop`` is valid and names the executable and icon beside it."""
    path = app / "modeldeck.desktop"
    if not path.is_file():
        raise CheckFailed(f"no {path}")
    entry = configparser.ConfigParser(interpolation=None)
    entry.read(path, encoding="utf-8")
    section = entry["Desktop Entry"]
    if section.get("Exec", "").split()[:1] != [GUI_NAME]:
        raise CheckFailed(f"{path.name}: Exec={section.get('Exec')!r} does not run {GUI_NAME}")
    if not (app / f"{section.get('Icon')}.svg").is_file():
        raise CheckFailed(f"{path.name}: no icon {section.get('Icon')}.svg beside it")
    validate = shutil.which("desktop-file-validate")  # desktop-file-utils, when installed
    if validate:
        done = subprocess.run([validate, str(path)], capture_output=True, text=True, check=False)
        if done.returncode != 0 or done.stdout.strip():
            raise CheckFailed(f"desktop-file-validate {path.name}:\n" + tail(done.stdout))


def installed_cli() -> str:
    """The ``modeldeck`` installed next to this Python (the project's venv)."""
    modeldeck = shutil.which("modeldeck", path=str(Path(sys.executable).parent))
    if modeldeck is None:
        raise CheckFailed(f"no modeldeck next to {sys.executable}: run this with the "
                          "project's venv (.venv/bin/python packaging/check_app.py)")
    return modeldeck


def build_demo(workspace: Path, env: dict[str, str]) -> None:
    """``modeldeck --workspace WORKSPACE demo`` with the venv's installed CLI."""
    run([installed_cli(), "--workspace", str(workspace), "demo"], env=env, timeout=600)


def model_names(cli: str, workspace: Path, env: dict[str, str]) -> list[str]:
    """The model names ``cli models --json`` lists."""
    done = run([cli, "--workspace", str(workspace), "models", "--json"], env=env, timeout=300)
    return sorted(model["name"] for model in json.loads(done.stdout))


def release_id(cli: str, workspace: Path, ref: str, dest: Path, env: dict[str, str]) -> str:
    """The id of the release ``cli bundle REF`` builds in ``dest``."""
    done = run([cli, "--workspace", str(workspace), "bundle", ref, "--out", str(dest),
                "--json"], env=env, timeout=300)
    return str(json.loads(done.stdout)["release_id"])


def check_cli(app: Path, workspace: Path, env: dict[str, str]) -> list[str]:
    """Run the app's CLI; the models it lists (the demo's, as the installed CLI lists)."""
    cli = str(app / CLI_NAME)
    version = run([cli, "--version"], env=env, timeout=120).stdout
    if metadata.version("modeldeck") not in version:
        raise CheckFailed(f"{CLI_NAME} --version says {version.strip()!r}, expected "
                          f"{metadata.version('modeldeck')}")
    expected = model_names(installed_cli(), workspace, env)
    frozen = model_names(cli, workspace, env)
    if frozen != expected or frozen != sorted(DEMO_MODELS):
        raise CheckFailed(f"{CLI_NAME} models lists {frozen}, the installed CLI {expected}, "
                          f"the demo has {sorted(DEMO_MODELS)}")
    run([cli, "--workspace", str(workspace), "verify"], env=env, timeout=600)
    # A release carries the runtime's source files, read from the app folder: the same
    # version gives the same release id only if they are the installed ones.
    ref = f"{expected[0]}@production"
    ids = {name: release_id(command, workspace, ref, workspace.parent / f"release-{name}", env)
           for name, command in (("app", cli), ("installed", installed_cli()))}
    if ids["app"] != ids["installed"]:
        raise CheckFailed(f"{CLI_NAME} bundle {ref} built {ids['app']}, the installed CLI "
                          f"{ids['installed']}")
    return expected


def start_app(app: Path, workspace: Path, report: Path, env: dict[str, str],
              timeout: float) -> dict:
    """Start the GUI offscreen in self-test mode; its report."""
    env = {**env, "MODELDECK_USER": DEMO_USER,
           "QT_QPA_PLATFORM": "offscreen", "MODELDECK_SELF_TEST": str(report),
           "MODELDECK_SELF_TEST_TIMEOUT": str(timeout)}
    command = [str(app / GUI_NAME), "--workspace", str(workspace)]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True,
                              timeout=timeout + 60, check=False)
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"{GUI_NAME} did not quit within {timeout + 60:g} s") from None
    output = tail(done.stdout + done.stderr)
    if not report.is_file():
        raise CheckFailed(f"{GUI_NAME} exited {done.returncode} without a self-test report"
                          + (f":\n{output}" if output else ""))
    result = json.loads(report.read_text(encoding="utf-8"))
    if done.returncode != 0 or not result.get("ok"):
        raise CheckFailed(f"{GUI_NAME} exited {done.returncode}: "
                          f"{result.get('error', 'see the report')} {result.get('error_boxes')}"
                          + (f"\n{output}" if output else ""))
    return result


def check_report(result: dict, app: Path, workspace: Path, models: list[str]) -> list[str]:
    """Everything wrong with the app's self-test report (empty when it is right)."""
    window = result["window"]
    inside = str(app.resolve())
    problems = []

    def expect(ok: bool, message: str) -> None:
        if not ok:
            problems.append(message)

    expect(result["frozen"] and str(result["bundle_dir"]).startswith(inside),
           f"not the frozen app in {inside}: bundle dir {result['bundle_dir']}")
    expect(result["platform"] == "offscreen", f"platform {result['platform']!r}")
    expect(Path(window["workspace"]).resolve() == workspace.resolve(),
           f"window opened {window['workspace']}, not {workspace}")
    expect(str(workspace) in (window["header_workspace"] or ""),
           f"header shows {window['header_workspace']!r}")
    expect(str(workspace) in window["title"], f"window title {window['title']!r}")
    expect(sorted(window["models"]) == models,
           f"window lists models {window['models']}, the workspace has {models}")
    expect(window["selected_model"] in models and window["versions"],
           f"no versions shown (model {window['selected_model']!r}: {window['versions']})")
    expect(DEMO_USER in (window["header_user"] or "") and DEMO_ROLE in window["header_user"],
           f"header user {window['header_user']!r}, expected {DEMO_USER} · {DEMO_ROLE}")
    expect(result["stylesheet_chars"] > 1000,
           f"stylesheet of {result['stylesheet_chars']} characters")
    expect(result["app_icon_renders"], "the app icon does not render (SVG icon engine?)")
    expect(result["pages_visited"] == window["sidebar"],
           f"visited pages {result['pages_visited']}, the sidebar has {window['sidebar']}")
    errors = [n["text"] for n in result["notifications"] if n["level"] == "error"]
    expect(not errors, f"the window reported errors: {errors}")
    for name, path in result["resources"].items():
        expect(path.startswith(inside) and Path(path).is_file(),
               f"{name} comes from {path}, not from the app folder")
    problems += check_screenshot(result.get("screenshot"), window["size"])
    return problems


def check_screenshot(path: str | None, size: list[int]) -> list[str]:
    """A window-sized PNG with more than a few colours (a rendered, styled window)."""
    if not path or not Path(path).is_file():
        return [f"no screenshot ({path})"]
    from PySide6.QtGui import QImage

    image = QImage(path)
    if image.isNull():
        return [f"screenshot {path} does not load"]
    if [image.width(), image.height()] != size:
        return [f"screenshot is {image.width()}x{image.height()}, the window {size}"]
    colours = {image.pixel(x, y) for x in range(0, image.width(), 8)
               for y in range(0, image.height(), 8)}
    return [] if len(colours) >= 16 else [f"screenshot has only {len(colours)} colours"]


def check(app: Path, tmp: Path, timeout: float) -> str:
    """Run every check in ``tmp``; a one-line summary, or :class:`CheckFailed`."""
    for name in (GUI_NAME, CLI_NAME):
        if not os.access(app / name, os.X_OK):
            raise CheckFailed(f"no executable {app / name}: build the app first (make package)")
    check_desktop_entry(app)
    env = clean_env(tmp)
    workspace = tmp / "workspace"
    started = time.monotonic()
    build_demo(workspace, env)
    demo_s = time.monotonic() - started

    started = time.monotonic()
    models = check_cli(app, workspace, env)
    cli_s = time.monotonic() - started

    started = time.monotonic()
    result = start_app(app, workspace, tmp / "self-test.json", env, timeout)
    gui_s = time.monotonic() - started
    problems = check_report(result, app, workspace, models)
    if problems:
        raise CheckFailed("the window is not the demo workspace's:\n"
                          + "\n".join(f"  - {p}" for p in problems))
    window = result["window"]
    return (f"{GUI_NAME} opened {workspace} showing {', '.join(window['models'])} "
            f"({window['selected_model']}: versions {', '.join(window['versions'])}); "
            f"demo {demo_s:.1f} s, CLI {cli_s:.1f} s, GUI {gui_s:.1f} s "
            f"(window loaded after {result['seconds']:.1f} s)")


def main(argv: list[str] | None = None) -> int:
    """Run the check; the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--app", type=Path, default=DEFAULT_APP,
                        help=f"the app folder (default: {DEFAULT_APP})")
    parser.add_argument("--timeout", type=float, default=90,
                        help="seconds the window may take to load its models (default 90)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary folder (report, screenshot, workspace)")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="modeldeck-check-app-"))
    keep = args.keep
    started = time.monotonic()
    try:
        summary = check(args.app, tmp, args.timeout)
    except CheckFailed as exc:
        keep = True
        print(f"check_app: FAIL: {exc}\n  (files kept in {tmp})", file=sys.stderr)
        return 1
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"check_app: OK in {time.monotonic() - started:.1f} s: {summary}"
          + (f" (files in {tmp})" if keep else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
