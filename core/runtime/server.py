"""Run a release with waitress: ``python -m modeldeck.core.runtime serve RELEASE_DIR``.

The server answers ``/health`` at once and runs the self-check in the background; it
serves predictions once ``/ready`` says so. SIGTERM or Ctrl-C stops it cleanly: waitress
stops taking requests, the folder watcher stops, the webhook queue is delivered or
dead-lettered, and the prediction log is flushed.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from modeldeck.core.runtime import release as rel
from modeldeck.core.runtime.app import App
from modeldeck.core.runtime.config import ServerConfig
from modeldeck.core.runtime.service import Service

log = logging.getLogger("modeldeck.runtime.server")


def make_server(app: App, config: ServerConfig) -> Any:
    """A waitress server for ``app`` (not yet running), bound to the configured address."""
    from waitress import create_server

    return create_server(
        app, host=config.host, port=config.port, threads=config.threads,
        # our own limit answers 413 in JSON; waitress' is a backstop well above it
        max_request_body_size=config.max_body_bytes * 2 + (1 << 20),
        ident="modeldeck", expose_tracebacks=False, clear_untrusted_proxy_headers=True,
        channel_timeout=60, connection_limit=1000, backlog=1024,
        asyncore_use_poll=True)


def load_config(release_dir: Path, overrides: dict[str, Any]) -> ServerConfig:
    """The release's ``config.json`` with ``overrides`` (``None`` values ignored)."""
    return ServerConfig.from_dict(rel.read_config(release_dir)).with_overrides(**overrides)


def serve(release_dir: str | Path, config: ServerConfig, *, state_dir: str | Path | None = None,
          token: str | None = None, port_file: str | Path | None = None) -> int:
    """Serve until SIGTERM/SIGINT; returns the process exit code.

    Parameters
    ----------
    release_dir
        The release folder.
    config
        Settings (see :func:`load_config`).
    state_dir
        Log, folder-mode and dead-letter folders (default: see
        :func:`~modeldeck.core.runtime.service.default_state_dir`).
    token
        Bearer token; ``None``: the release's ``token`` file, if any.
    port_file
        Write the bound port there once listening (useful with ``port=0``).
    """
    service = Service(release_dir, config, state_dir=state_dir, token=token)
    app = App(service)
    server = make_server(app, config)
    host, port = server.effective_host, server.effective_port
    service.start()
    log.info("serving %s v%s (release %s) on http://%s:%s with %d threads; state in %s%s",
             service.manifest.name, service.manifest.version, service.manifest.release_id,
             host, port, config.threads, service.state_dir,
             "; bearer token required" if service.token else "")
    if port_file:
        tmp = Path(f"{port_file}.tmp")
        tmp.write_text(str(port), encoding="utf-8")
        os.replace(tmp, port_file)

    def _stop(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        server.run()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        log.info("stopping: flushing the prediction log")
        try:
            server.close()
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        service.close()
        log.info("stopped")
    return 0


def setup_logging(level: str = "INFO") -> None:
    """Log lines with a time stamp to stderr (the service manager's journal)."""
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
