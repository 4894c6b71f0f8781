"""``python -m modeldeck.gui`` starts the desktop application."""

import sys

from modeldeck.gui.app import main

sys.exit(main())
