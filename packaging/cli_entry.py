"""The frozen ``modeldeck`` executable: :func:`modeldeck.core.cli.main`, the command line."""

import multiprocessing

from modeldeck.core.cli import main

if __name__ == "__main__":
    # A frozen app re-executes itself for multiprocessing's spawn start method (joblib).
    multiprocessing.freeze_support()
    main()
