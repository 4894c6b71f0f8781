"""Push every prediction batch to a URL, in order, with retries and a dead-letter folder.

A :class:`WebhookPusher` owns one daemon thread (``modeldeck-webhook``) that POSTs queued
payloads as JSON, one at a time and in the order they were pushed. A payload counts as
delivered on a 2xx answer. Anything else (another status, a redirect, a refused or dropped
connection, a timeout) is a failed attempt, retried after
``min(max_backoff, backoff * 2**(attempt - 1))`` seconds ±20% jitter; after
``max_attempts`` failures the payload is written to the dead-letter folder and the next one
is sent. Nothing is dropped silently:

- :meth:`~WebhookPusher.push` never blocks; when the queue is full, or the pusher is closed,
  the payload goes to the dead-letter folder at once.
- :meth:`~WebhookPusher.close` stops retrying, sends what is still queued one attempt each
  while the receiver answers 2xx and time is left, and dead-letters the rest (a pusher never
  started sends nothing: its whole queue is dead-lettered).
- :meth:`~WebhookPusher.replay_dead_letters` queues the dead letters again, oldest first. A
  dead-letter file is removed only once its payload is delivered or written again as a new
  dead letter, so a crash after a replay loses nothing.

Delivery is at least once: a payload whose request is still in flight when ``close`` gives
up is dead-lettered too (and that dead letter removed again if the request then succeeds
before the process exits). Receivers should deduplicate by prediction id.

Dead letters are ``<dead_letter_dir>/<UTC yyyymmddTHHMMSS>-<seq>.json`` holding
``{"url", "attempts", "last_error", "first_attempt", "payload"}``, written to a dot-name and
renamed, so a file either is complete or does not exist. The URL in them and in the log has
its credentials and query string removed.

Requests go straight to the URL: environment proxies are not used (a webhook receiver is on
the same network as the server; an egress proxy meant for package downloads would break or
leak it) and redirects are not followed (urllib would turn the POST into a GET and the
payload would be lost while the redirect "succeeded").
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import random
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from modeldeck.core.errors import InvalidInputError
from modeldeck.core.runtime.files import write_atomic
from modeldeck.core.runtime.outputs import json_value

log = logging.getLogger("modeldeck.runtime.webhook")

#: Jitter: each delay is multiplied by a uniform factor in [1 - JITTER, 1 + JITTER].
JITTER = 0.2
#: Bytes of a response body read (and of an error body kept in ``last_error``).
_MAX_READ = 1 << 16
_ERROR_BODY = 200


@dataclass
class _Item:
    """One payload on its way; ``done`` (guarded by the pusher's finish lock) once it was
    delivered or dead-lettered."""

    body: bytes
    source: Path | None = None       # the dead-letter file it was replayed from
    attempts: int = 0
    first_attempt: str | None = None
    last_error: str = ""
    done: bool = False
    dead_file: Path | None = None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> None:
        return None  # urllib then raises HTTPError(3xx): a failed attempt


class WebhookPusher:
    """POSTs JSON payloads to ``url`` from a background thread (see the module docstring).

    Parameters
    ----------
    url
        An ``http://`` or ``https://`` URL.
    dead_letter_dir
        Where undeliverable payloads are written (created when missing).
    max_attempts
        Attempts per payload before it is dead-lettered.
    backoff, max_backoff
        The first retry delay in seconds, doubled per attempt up to ``max_backoff``.
    timeout
        Seconds per request (connect and read).
    headers
        Extra request headers (e.g. ``Authorization``).
    max_queue
        Payloads waiting at most; more are dead-lettered at once.
    sleep
        Waits between attempts (tests record the delays); by default a wait that
        :meth:`close` interrupts. An injected ``sleep`` is not interrupted, but no retry
        follows it once ``close`` was called.
    """

    def __init__(self, url: str, dead_letter_dir: str | Path, *, max_attempts: int = 5,
                 backoff: float = 0.5, max_backoff: float = 30.0, timeout: float = 5.0,
                 headers: Mapping[str, str] | None = None, max_queue: int = 10_000,
                 sleep: Callable[[float], None] | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInputError(f"webhook URL {_redact(url)!r} is not an http(s) URL",
                                    "use e.g. http://receiver.example:8080/predictions")
        if max_attempts < 1:
            raise InvalidInputError(f"max_attempts must be at least 1, not {max_attempts}")
        if max_queue < 1:
            raise InvalidInputError(f"max_queue must be at least 1, not {max_queue}")
        if backoff < 0 or max_backoff < 0 or timeout <= 0:
            raise InvalidInputError("backoff and max_backoff must be >= 0 and timeout > 0")
        self.url = url
        self.safe_url = _redact(url)
        self.dead_letter_dir = Path(dead_letter_dir)
        self.dead_letter_dir.mkdir(parents=True, exist_ok=True)
        self.max_attempts = int(max_attempts)
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.timeout = float(timeout)
        self.max_queue = int(max_queue)
        self._headers = {"Content-Type": "application/json", "Accept": "*/*",
                         "User-Agent": "ModelDeck-runtime"}
        self._headers.update(headers or {})
        self._sleep = sleep if sleep is not None else self._interruptible_sleep
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                                   _NoRedirect())
        self._random = random.Random()
        self._queue: deque[_Item] = deque()
        self._lock = threading.Lock()               # the queue, state and counters
        self._wake = threading.Condition(self._lock)
        self._finish_lock = threading.RLock()       # delivered / dead-lettered, once each
        self._stop = threading.Event()
        self._closed = False
        self._deadline = math.inf
        self._thread: threading.Thread | None = None
        self._current: _Item | None = None
        self._replaying: set[Path] = set()
        self._seq = itertools.count()
        self._delivered = 0
        self._failed_attempts = 0
        self._dead_lettered = 0
        self._write_errors = 0
        self.last_error: str | None = None

    # -- counters ------------------------------------------------------------------------

    @property
    def delivered(self) -> int:
        """Payloads delivered (2xx)."""
        return self._delivered

    @property
    def failed_attempts(self) -> int:
        """Attempts that failed (each retry counts)."""
        return self._failed_attempts

    @property
    def dead_lettered(self) -> int:
        """Payloads written to the dead-letter folder."""
        return self._dead_lettered

    @property
    def dead_letter_errors(self) -> int:
        """Dead letters that could not be written (logged as errors with the payload size)."""
        return self._write_errors

    @property
    def queue_size(self) -> int:
        """Payloads waiting (not counting the one being sent)."""
        return len(self._queue)

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the sending thread (a no-op when it runs)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the webhook pusher is closed")
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="modeldeck-webhook",
                                            daemon=True)
        self._thread.start()
        log.info("webhook: pushing to %s", self.safe_url)

    def push(self, payload: dict[str, Any]) -> None:
        """Queue ``payload`` (never blocks). When the queue is full or the pusher closed,
        it is dead-lettered at once.

        Raises
        ------
        TypeError
            ``payload`` holds something that has no JSON form (numpy values, NaN and
            datetimes are converted).
        """
        item = _Item(_encode(payload))
        with self._lock:
            if not self._closed and len(self._queue) < self.max_queue:
                self._queue.append(item)
                self._wake.notify()
                return
            reason = ("the pusher was closed" if self._closed else
                      f"the queue was full ({self.max_queue} payloads waiting)")
        self._dead_letter(item, reason)

    def close(self, timeout: float = 10.0) -> None:
        """Stop: no more retries; still-queued payloads get one attempt each while the
        receiver answers and ``timeout`` seconds last, the rest are dead-lettered."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._deadline = time.monotonic() + max(0.0, timeout)
            self._stop.set()
            self._wake.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("webhook: the sender is still busy after %.1f s; dead-lettering "
                            "what it did not send", timeout)
        with self._lock:
            left = list(self._queue)
            self._queue.clear()
            current = self._current if thread is not None and thread.is_alive() else None
        if current is not None:
            self._dead_letter(current, current.last_error or "still being sent at close")
        for item in left:
            self._dead_letter(item, "not sent before close")

    def replay_dead_letters(self) -> int:
        """Queue every dead letter again, oldest first; returns how many were queued.

        A file is removed once its payload is delivered, or replaced by a new dead letter
        when it fails again. Unreadable files are left where they are (and logged); when the
        queue is full, the rest wait for the next replay.
        """
        count = 0
        for path in sorted(self.dead_letter_dir.glob("*.json")):
            if path.name.startswith("."):
                continue
            with self._lock:
                if self._closed:
                    log.warning("webhook: not replaying dead letters, the pusher is closed")
                    break
                if path in self._replaying:
                    continue  # queued by an earlier replay, not finished yet
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
                body = _encode(record["payload"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("webhook: dead letter %s cannot be replayed (%s); left as it is",
                            path, exc)
                continue
            with self._lock:
                if self._closed or len(self._queue) >= self.max_queue:
                    log.warning("webhook: queue full, replay stopped at %s", path.name)
                    break
                self._queue.append(_Item(body, source=path))
                self._replaying.add(path)
                self._wake.notify()
            count += 1
        if count:
            log.info("webhook: %d dead letters queued again", count)
        return count

    # -- the sending thread --------------------------------------------------------------

    def _run(self) -> None:
        interrupted = False
        while True:
            with self._lock:
                while not self._queue and not self._stop.is_set():
                    self._wake.wait()
                if self._stop.is_set():
                    break
                item = self._queue.popleft()
                self._current = item
            try:
                interrupted = not self._deliver(item)
            except Exception as exc:  # noqa: BLE001 - never die on one payload
                log.exception("webhook: sending a payload failed unexpectedly")
                item.last_error = item.last_error or f"internal error: {exc!r}"
                self._dead_letter(item, item.last_error)
            finally:
                with self._lock:
                    self._current = None
        try:
            self._drain(healthy=not interrupted)
        except Exception:  # noqa: BLE001 - close() dead-letters whatever is left
            log.exception("webhook: sending the rest of the queue at close failed")

    def _deliver(self, item: _Item) -> bool:
        """Send ``item`` until delivered or out of attempts; ``False`` when close()
        interrupted its retries (the receiver was failing)."""
        while True:
            if self._attempt(item, self.timeout):
                return True
            if item.attempts >= self.max_attempts:
                self._dead_letter(item, item.last_error)
                return True
            if self._stop.is_set():
                self._dead_letter(item, item.last_error)
                return False
            self._sleep(self.delay(item.attempts))
            if self._stop.is_set():
                self._dead_letter(item, item.last_error)
                return False

    def _drain(self, healthy: bool) -> None:
        """At close: one attempt per queued payload while they succeed and time is left."""
        while True:
            with self._lock:
                if not self._queue:
                    return
                item = self._queue.popleft()
                self._current = item
            try:
                left = self._deadline - time.monotonic()
                if healthy and left > 0 and self._attempt(item, min(self.timeout, left)):
                    continue
                healthy = False
                self._dead_letter(item, item.last_error or "not sent before close")
            finally:
                with self._lock:
                    self._current = None

    def delay(self, attempt: int) -> float:
        """The wait after failed attempt number ``attempt`` (1-based), jitter included."""
        base = min(self.max_backoff, self.backoff * 2.0 ** min(attempt - 1, 60))
        return base * self._random.uniform(1.0 - JITTER, 1.0 + JITTER)

    def _interruptible_sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)

    # -- one request ---------------------------------------------------------------------

    def _attempt(self, item: _Item, timeout: float) -> bool:
        item.attempts += 1
        if item.first_attempt is None:
            item.first_attempt = _now_iso()
        error = self._post(item.body, timeout)
        if error is None:
            self._delivered_ok(item)
            return True
        item.last_error = error
        with self._lock:
            self._failed_attempts += 1
            self.last_error = error
        log.debug("webhook: attempt %d of %d failed: %s", item.attempts, self.max_attempts,
                  error)
        return False

    def _post(self, body: bytes, timeout: float) -> str | None:
        """POST ``body``; ``None`` on 2xx, else what went wrong."""
        request = urllib.request.Request(self.url, data=body, headers=self._headers,
                                         method="POST")
        try:
            with self._opener.open(request, timeout=timeout) as response:
                response.read(_MAX_READ)
                status = response.status
        except urllib.error.HTTPError as exc:
            try:
                detail = exc.read(_ERROR_BODY).decode("utf-8", "replace").strip()
            except Exception:  # noqa: BLE001 - the body is a courtesy
                detail = ""
            finally:
                exc.close()
            where = (exc.headers.get("Location") if exc.headers is not None
                     and 300 <= exc.code < 400 else None)
            text = f"HTTP {exc.code} {exc.reason}"
            if where:
                text += f" (redirect to {_redact(where)}; configure the final URL)"
            return text + (f": {detail}" if detail else "")
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, TimeoutError):
                return f"timed out after {timeout:g} s"
            return f"connection failed: {reason}"
        except TimeoutError:
            return f"timed out after {timeout:g} s"
        except Exception as exc:  # noqa: BLE001 - dropped connections, bad status lines...
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if 200 <= status < 300:
            return None
        return f"HTTP {status}"

    # -- outcomes ------------------------------------------------------------------------

    def _delivered_ok(self, item: _Item) -> None:
        with self._finish_lock:
            stale = item.dead_file if item.done else None
            item.done = True
            # Files first, counters last: whoever sees the counter sees the files settled.
            if stale is not None:
                # close() gave up on it while the request was in flight; it arrived after all.
                stale.unlink(missing_ok=True)
            self._forget_source(item)
            with self._lock:
                self._delivered += 1
                if stale is not None:
                    self._dead_lettered -= 1

    def _dead_letter(self, item: _Item, reason: str) -> None:
        with self._finish_lock:
            if item.done:
                return
            item.done = True
            item.last_error = item.last_error or reason
            try:
                path = self._write_dead_letter(item)
            except Exception as exc:  # noqa: BLE001 - log it loudly, never silently
                with self._lock:
                    self._write_errors += 1
                log.error("webhook: a payload of %d bytes could not be dead-lettered in %s "
                          "(%s); last error: %s%s", len(item.body), self.dead_letter_dir, exc,
                          item.last_error,
                          f"; it stays in {item.source}" if item.source else "")
                if item.source is not None:
                    with self._lock:
                        self._replaying.discard(item.source)
                return
            item.dead_file = path
            self._forget_source(item)
            with self._lock:
                self._dead_lettered += 1
            log.warning("webhook: payload dead-lettered to %s after %d attempts: %s", path,
                        item.attempts, item.last_error)

    def _forget_source(self, item: _Item) -> None:
        if item.source is None:
            return
        item.source.unlink(missing_ok=True)
        with self._lock:
            self._replaying.discard(item.source)

    def _write_dead_letter(self, item: _Item) -> Path:
        record = {"url": self.safe_url, "attempts": item.attempts,
                  "last_error": item.last_error, "first_attempt": item.first_attempt,
                  "payload": json.loads(item.body)}
        text = json.dumps(record, ensure_ascii=False, indent=1)
        folder = self.dead_letter_dir
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        while True:
            path = folder / f"{stamp}-{next(self._seq):06d}.json"
            if not os.path.lexists(path):
                break
        write_atomic(path, folder / f".{path.name}.{os.getpid()}.tmp", lambda fh: fh.write(text))
        return path


# -- helpers ---------------------------------------------------------------------------


def _encode(payload: Any) -> bytes:
    """Compact JSON of ``payload``: numpy values unwrapped, NaN/±inf as null."""
    try:
        text = json.dumps(payload, separators=(",", ":"), allow_nan=False, default=_default)
    except ValueError:
        text = json.dumps(_finite(payload), separators=(",", ":"), allow_nan=False,
                          default=_default)
    return text.encode("utf-8")


def _default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return _finite(value.tolist())
    converted = json_value(value)
    if converted is value:
        raise TypeError(f"{type(value).__name__} has no JSON form")
    return converted


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _redact(url: str) -> str:
    """``url`` without user, password, query and fragment (safe for logs and files)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = host + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:
        return "<malformed URL>"


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
