"""The on-host prediction server (see ``server.py``)."""
