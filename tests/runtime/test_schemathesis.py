"""schemathesis over the server's own /openapi.json: every route, generated valid and
invalid requests, every check (no 5xx, valid data accepted, invalid data refused,
responses as documented). About 15 s; seeded, so a failure reproduces."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.mark.skipif(shutil.which("schemathesis", path=str(Path(sys.executable).parent))
                    is None, reason="schemathesis is not installed (the test extra has it)")
def test_the_api_keeps_its_openapi_promises(releases, start_server, tmp_path):
    server = start_server(releases["breast-cancer"])
    cli = Path(sys.executable).parent / "schemathesis"
    result = subprocess.run(
        [str(cli), "--config-file", str(CONFIG), "run",
         f"http://127.0.0.1:{server.port}/openapi.json", "--checks", "all",
         "--max-examples", "30", "--seed", "20261127", "--no-color"],
        capture_output=True, text=True, timeout=240, cwd=tmp_path)  # its cache goes there
    assert result.returncode == 0, result.stdout[-6000:]
    assert "Tested: 9" in result.stdout or "9/9" in result.stdout, result.stdout[-3000:]
    assert server.get("/health").status == 200
