"""Server settings: the release's ``config.json``, overridden by command-line options."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from modeldeck.core.errors import InvalidInputError

FOLDER_POLICIES = ("score_valid", "reject_file")


@dataclass(frozen=True)
class ServerConfig:
    """Every setting of the prediction server, with its default.

    Attributes
    ----------
    host, port
        Where to listen. The default address is loopback only: serving other machines is
        a decision (``--host 0.0.0.0`` or the host's address).
    threads
        waitress worker threads.
    max_body_bytes
        Larger request bodies get 413.
    max_rows
        Rows per request; more get 413.
    log_enabled
        Log every served row (inputs, outputs, id, time) to ``state/predictions.db``.
    log_flush_interval
        Seconds between log writes: the most a ``kill -9`` can lose.
    log_max_bytes, log_max_age_days
        Retention of the log (the oldest batches go first).
    profile_days, profile_sample_rows
        Retention of the per-window drift profiles, and the rows of each one's random
        sample. Profiles take about ``sample rows × numeric features × 8`` bytes per window
        on top of ``log_max_bytes`` (2 000 × 30 features, hourly, 30 days: ≈ 350 MB).
    window_seconds
        Length of a profile window (3600: hourly).
    folder_enabled, folder_path, folder_policy, folder_poll_seconds, folder_settle_seconds
        Folder mode: files dropped into ``<folder_path>/inbox`` get predictions in
        ``outbox``. ``folder_path`` defaults to ``<state>/folder``. ``score_valid`` scores
        the good rows of a file with bad ones; ``reject_file`` scores none of them.
    webhook_url, webhook_max_attempts, webhook_backoff_seconds, webhook_timeout_seconds
        Push every prediction batch to this URL; after the attempts, into
        ``<state>/dead-letter``.
    webhook_include_inputs
        Send the input rows with the predictions.
    host_name
        The host name recorded in profiles (default: the machine's).
    """

    host: str = "127.0.0.1"
    port: int = 8080
    threads: int = 8
    max_body_bytes: int = 16 << 20
    max_rows: int = 100_000
    log_enabled: bool = True
    log_flush_interval: float = 0.2
    log_max_bytes: int = 1 << 30
    log_max_age_days: float = 30.0
    profile_days: float = 30.0
    profile_sample_rows: int = 2_000
    window_seconds: int = 3600
    folder_enabled: bool = False
    folder_path: str | None = None
    folder_policy: str = "score_valid"
    folder_poll_seconds: float = 1.0
    folder_settle_seconds: float = 1.0
    webhook_url: str | None = None
    webhook_max_attempts: int = 5
    webhook_backoff_seconds: float = 0.5
    webhook_timeout_seconds: float = 5.0
    webhook_include_inputs: bool = False
    host_name: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.threads <= 256:
            raise InvalidInputError(f"threads must be 1 to 256, not {self.threads}",
                                    "use about 2-4 per core")
        if not 0 <= self.port <= 65535:
            raise InvalidInputError(f"port {self.port} is not a TCP port", "use 1-65535")
        for name in ("max_body_bytes", "max_rows", "log_max_bytes", "window_seconds",
                     "webhook_max_attempts", "profile_sample_rows"):
            if getattr(self, name) < 1:
                raise InvalidInputError(f"{name} must be at least 1, not {getattr(self, name)}",
                                        "fix the setting")
        for name in ("log_flush_interval", "log_max_age_days", "profile_days",
                     "folder_poll_seconds", "webhook_timeout_seconds"):
            if getattr(self, name) <= 0:
                raise InvalidInputError(f"{name} must be positive, not {getattr(self, name)}",
                                        "fix the setting")
        if self.folder_policy not in FOLDER_POLICIES:
            raise InvalidInputError(f"unknown folder_policy {self.folder_policy!r}",
                                    f"use one of: {', '.join(FOLDER_POLICIES)}")
        if self.webhook_url is not None and not self.webhook_url.startswith(("http://",
                                                                             "https://")):
            raise InvalidInputError(f"webhook_url {self.webhook_url!r} is not an http(s) URL",
                                    "use e.g. http://erp.local:9000/predictions")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServerConfig:
        """Build from a mapping; an unknown key or a value of the wrong type is an error
        naming the key."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise InvalidInputError(f"unknown server setting(s): {', '.join(unknown)}",
                                    f"known settings: {', '.join(fields)}")
        values = {}
        for key, value in data.items():
            default = fields[key].default
            values[key] = _coerce(key, value, default)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (what ``config.json`` holds)."""
        return dataclasses.asdict(self)

    def with_overrides(self, **overrides: Any) -> ServerConfig:
        """A copy with the given (non-``None``) settings replaced."""
        values = {k: v for k, v in overrides.items() if v is not None}
        return ServerConfig.from_dict({**self.to_dict(), **values})


def _coerce(key: str, value: Any, default: Any) -> Any:
    if value is None:
        return None
    kind = type(default) if default is not None else str
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
    elif kind is int and not isinstance(value, bool):
        if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
            return int(value)
    elif kind is float and not isinstance(value, bool):
        try:
            return float(value)
        except (TypeError, ValueError):
            pass
    elif kind is str and isinstance(value, str):
        return value
    raise InvalidInputError(f"server setting {key} must be {kind.__name__}, not {value!r}",
                            "fix config.json or the command-line option")
