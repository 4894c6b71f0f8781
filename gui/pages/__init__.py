"""Pages of the main window, one per sidebar entry."""
