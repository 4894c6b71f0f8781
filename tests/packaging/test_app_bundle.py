"""The built desktop app (``make package``) opens the demo workspace: ``check_app.py``
starts ``dist/ModelDeck/ModelDeck`` offscreen and checks what it shows (``make
check-package`` builds and checks; this test checks what ``dist/`` holds)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.packaging
@pytest.mark.skipif(not (ROOT / "dist" / "ModelDeck" / "ModelDeck").is_file(),
                    reason="no dist/ModelDeck: run make package")
@pytest.mark.timeout(600)
def test_the_built_app_opens_the_demo_workspace() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "packaging" / "check_app.py")],
                          capture_output=True, text=True, timeout=560)
    assert done.returncode == 0, done.stdout + done.stderr
