"""Qt for the tests of packaging/ scripts: the offscreen platform, as in tests/gui."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

