"""Every command has help, and docs/cli.md covers every command (sqlite-utils' test_docs)."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from cli_helpers import ok

from modeldeck.core.cli import _ROLES, _TASKS, cli

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def _commands(group: click.Group, prefix: tuple[str, ...] = ()
              ) -> list[tuple[tuple[str, ...], click.Command]]:
    out = []
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        out.append((path, command))
        if isinstance(command, click.Group):
            out.extend(_commands(command, path))
    return out


COMMANDS = _commands(cli)


def test_there_are_commands():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"init", "demo", "register", "models", "versions", "show", "alias set",
            "alias rm", "alias history", "compare", "audit log", "audit verify", "users",
            "users add", "users set-role", "users rm", "whoami", "card set"} <= names


@pytest.mark.parametrize("path, command", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_commands_have_help(invoke, path, command):
    assert command.help, f"{' '.join(path)} is missing its help"
    result = ok(invoke(*path, "--help"))
    assert result.stdout.startswith(f"Usage: modeldeck {' '.join(path)}")
    for param in command.params:
        if isinstance(param, click.Option) and param.name != "help":
            assert param.help, f"{' '.join(path)} {param.opts[0]} is missing its help"


def test_root_help_and_short_flag(invoke):
    assert ok(invoke("-h")).stdout == ok(invoke("--help")).stdout
    assert "--workspace" in ok(invoke("--help")).stdout


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=[" ".join(p) for p, _ in COMMANDS])
def test_commands_are_documented(path):
    assert f"modeldeck {' '.join(path)}" in DOCS.read_text(encoding="utf-8")


def test_json_on_every_listing_and_show_command():
    listing = {"models", "versions", "show", "compare", "alias history", "audit log",
               "audit verify", "users", "whoami", "card show", "verify", "register"}
    for path, command in COMMANDS:
        if " ".join(path) in listing:
            assert any(p.name == "as_json" for p in command.params), path


def test_choices_match_core():
    from modeldeck.core.modelio import TASKS
    from modeldeck.core.workspace import ROLES

    assert tuple(_ROLES) == tuple(ROLES)
    assert tuple(_TASKS) == tuple(TASKS)
