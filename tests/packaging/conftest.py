"""Qt for the tests of packaging/ scripts: the offscreen platform, as in tests/gui."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def pytest_configure(config) -> None:
    # test_offline_bundle.py: builds and installs the offline bundle (PyPI, minutes).
    config.addinivalue_line(
        "markers", "packaging: builds and installs the offline bundle (needs PyPI; ~2 min)")
