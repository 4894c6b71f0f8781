"""ModelDeck's desktop face: PySide6 + pyqtgraph (+ superqt) over :mod:`modeldeck.core`.

Importing this package pins the Qt binding before anything imports Qt: pyqtgraph tries
PyQt6 before PySide6 unless a binding is already imported, and superqt reads ``QT_API``.
"""

import os

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
os.environ.setdefault("QT_API", "pyside6")
