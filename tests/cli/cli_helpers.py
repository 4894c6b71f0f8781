"""Assertions and helpers shared by the CLI tests (imported as a plain module)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from click.testing import Result


def ok(result: Result) -> Result:
    """Assert exit status 0 and return the result."""
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def user_error(result: Result, *fragments: str) -> str:
    """Assert a user error: exit 1, one ``error: problem — fix`` line, no traceback.

    Progress lines may come before it on stderr; the error is the last line and the only
    one starting with ``error:``. Returns the line.
    """
    assert result.exit_code == 1, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error")]
    assert errors == [lines[-1]], result.stderr
    line = lines[-1]
    assert line.startswith("error: ") and " — " in line, line
    problem, _, fix = line.partition(" — ")
    assert len(problem) > len("error: ") + 5 and len(fix) > 5, line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


def as_json(result: Result) -> Any:
    """Parse a command's stdout as JSON."""
    ok(result)
    return json.loads(result.stdout)


def sql(ws: Path, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run SQL on a workspace's database behind ModelDeck's back."""
    conn = sqlite3.connect(ws / "modeldeck.db", isolation_level=None)
    try:
        return conn.execute(statement, params).fetchall()
    finally:
        conn.close()
