"""The Qt binding itself: free of the refcount bug of PySide6 6.12.0."""

from __future__ import annotations

import sys

import pytest
from PySide6.QtWidgets import QApplication, QLabel


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None and bools are immortal on 3.12+")
def test_qt_calls_do_not_leak_references_to_singletons(qapp: QApplication) -> None:
    # PySide6 6.12.0 on Python 3.11 decrefs None for every void call (and True/False for
    # bool returns); after a few thousand calls the interpreter aborts ("none_dealloc").
    label = QLabel("x")
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(2000):
        label.setText("y")
        label.isVisible()
        qapp.processEvents()
    assert abs(sys.getrefcount(None) - none_before) < 50
    assert abs(sys.getrefcount(True) - true_before) < 50
    label.deleteLater()
