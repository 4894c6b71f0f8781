"""Deploying releases to hosts over SSH (or into a local folder): hosts, trust, rollout."""
