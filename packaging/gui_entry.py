"""The frozen ``ModelDeck`` executable: :func:`modeldeck.gui.app.main` (``modeldeck-gui``).

With ``MODELDECK_SELF_TEST=REPORT`` set it also runs :mod:`app_selftest`, which reports what
the window shows and quits (``packaging/check_app.py`` uses it).
"""

import multiprocessing
import os
import sys

from modeldeck.gui.app import main

if __name__ == "__main__":
    # A frozen app re-executes itself for multiprocessing's spawn start method (joblib).
    multiprocessing.freeze_support()
    if os.environ.get("MODELDECK_SELF_TEST"):
        import app_selftest

        app_selftest.install(os.environ["MODELDECK_SELF_TEST"])
    sys.exit(main())
