"""WebhookPusher against a real HTTP receiver on 127.0.0.1 (port 0): retries, backoff,
order, dead letters, close and replay. Delays are recorded by an injected ``sleep``."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modeldeck.core.errors import InvalidInputError
from modeldeck.core.runtime.webhook import JITTER, WebhookPusher

DEAD_NAME = re.compile(r"^\d{8}T\d{6}-\d{6}\.json$")


class Receiver:
    """A scripted webhook receiver: each POST takes the next action of ``script`` (then
    ``default``): ``ok`` (200), ``500``, ``close`` (drop the connection without an answer),
    ``redirect`` (302), ``hang`` (answer nothing until the test ends)."""

    def __init__(self) -> None:
        self.script: deque[str] = deque()
        self.default = "ok"
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    action = receiver.script.popleft() if receiver.script else receiver.default
                    receiver.requests.append({"method": "POST", "path": self.path,
                                              "action": action, "headers": dict(self.headers),
                                              "json": json.loads(body)})
                if action == "ok":
                    self._answer(200, b'{"ok": true}')
                elif action == "500":
                    self._answer(500, b"receiver broke")
                elif action == "redirect":
                    self.send_response(302)
                    self.send_header("Location", "/elsewhere")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif action == "hang":
                    receiver.release.wait(30)
                    self.close_connection = True
                else:  # "close"
                    self.close_connection = True

            def do_GET(self) -> None:  # noqa: N802 - a followed redirect would land here
                with receiver.lock:
                    receiver.requests.append({"method": "GET", "path": self.path,
                                              "action": "get", "headers": {}, "json": None})
                self._answer(200, b"{}")

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def bodies(self, action: str | None = "ok") -> list[Any]:
        with self.lock:
            return [r["json"] for r in self.requests if action is None or r["action"] == action]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    thread = threading.Thread(target=rec.server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="test-receiver", daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        rec.release.set()
        rec.server.shutdown()
        rec.server.server_close()
        thread.join(10)


@pytest.fixture
def make_pusher(tmp_path: Path) -> Iterator[Callable[..., WebhookPusher]]:
    made: list[WebhookPusher] = []

    def make(url: str, **kwargs: Any) -> WebhookPusher:
        kwargs.setdefault("sleep", lambda _s: None)
        pusher = WebhookPusher(url, kwargs.pop("dead", tmp_path / "dead"), **kwargs)
        made.append(pusher)
        return pusher

    yield make
    for pusher in made:
        pusher.close(10)


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``predicate()`` holds (a generous bound, not a timed assertion)."""
    end = time.monotonic() + timeout
    while not predicate() and time.monotonic() < end:
        time.sleep(0.002)
    assert predicate()


def dead_letters(folder: Path) -> list[dict[str, Any]]:
    files = sorted(folder.iterdir())
    assert all(DEAD_NAME.match(f.name) for f in files), [f.name for f in files]
    return [json.loads(f.read_text(encoding="utf-8")) for f in files]


def test_delivers_json_in_order_with_headers(receiver: Receiver, make_pusher: Any,
                                             tmp_path: Path) -> None:
    pusher = make_pusher(receiver.url, headers={"Authorization": "Bearer s3cret"})
    pusher.start()
    for n in range(20):
        pusher.push({"n": n})
    wait_for(lambda: pusher.delivered == 20)
    pusher.close()
    assert receiver.bodies() == [{"n": n} for n in range(20)]
    first = receiver.requests[0]
    assert first["path"] == "/hook"
    assert first["headers"]["Content-Type"] == "application/json"
    assert first["headers"]["Authorization"] == "Bearer s3cret"
    assert (pusher.failed_attempts, pusher.dead_lettered, pusher.queue_size) == (0, 0, 0)
    assert list((tmp_path / "dead").iterdir()) == []


def test_retries_a_500_and_a_dropped_connection_then_delivers(receiver: Receiver,
                                                              make_pusher: Any) -> None:
    receiver.script.extend(["500", "close", "ok"])
    delays: list[float] = []
    pusher = make_pusher(receiver.url, backoff=0.5, sleep=delays.append)
    pusher.start()
    pusher.push({"batch": 1})
    wait_for(lambda: pusher.delivered == 1)
    assert pusher.failed_attempts == 2
    assert pusher.dead_lettered == 0
    assert [r["action"] for r in receiver.requests] == ["500", "close", "ok"]
    assert receiver.bodies(None) == [{"batch": 1}] * 3
    assert len(delays) == 2
    assert 0.5 * (1 - JITTER) <= delays[0] <= 0.5 * (1 + JITTER)
    assert 1.0 * (1 - JITTER) <= delays[1] <= 1.0 * (1 + JITTER)
    assert pusher.last_error  # the dropped connection, in words


def test_backoff_is_capped_exponential_with_jitter(receiver: Receiver, make_pusher: Any,
                                                   tmp_path: Path) -> None:
    receiver.default = "500"
    delays: list[float] = []
    pusher = make_pusher(receiver.url, max_attempts=7, backoff=1.0, max_backoff=5.0,
                         sleep=delays.append)
    pusher.start()
    pusher.push({"x": 1})
    wait_for(lambda: pusher.dead_lettered == 1)
    expected = [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert len(delays) == len(expected)
    for got, base in zip(delays, expected):
        assert base * (1 - JITTER) <= got <= base * (1 + JITTER)
    assert pusher.failed_attempts == 7
    samples = [pusher.delay(3) for _ in range(200)]
    assert min(samples) >= 4.0 * (1 - JITTER) and max(samples) <= 4.0 * (1 + JITTER)
    assert len(set(samples)) > 1  # jittered, not a fixed delay
    assert pusher.delay(10_000) <= 5.0 * (1 + JITTER)  # no overflow for huge attempt numbers


def test_dead_letter_after_max_attempts_then_the_next_payload_goes(receiver: Receiver,
                                                                   make_pusher: Any,
                                                                   tmp_path: Path) -> None:
    receiver.script.extend(["500", "500", "500", "ok"])
    pusher = make_pusher(receiver.url + "?token=s3cret", max_attempts=3)
    pusher.start()
    pusher.push({"id": "a"})
    pusher.push({"id": "b"})
    wait_for(lambda: pusher.delivered == 1)
    assert pusher.dead_lettered == 1
    assert receiver.bodies() == [{"id": "b"}]
    [letter] = dead_letters(tmp_path / "dead")
    assert letter["payload"] == {"id": "a"}
    assert letter["attempts"] == 3
    assert letter["last_error"].startswith("HTTP 500")
    assert "receiver broke" in letter["last_error"]
    assert letter["url"] == receiver.url  # no query string, so no token on disk
    datetime.fromisoformat(letter["first_attempt"].replace("Z", "+00:00"))


def test_queue_full_dead_letters_at_once(receiver: Receiver, make_pusher: Any,
                                         tmp_path: Path) -> None:
    pusher = make_pusher(receiver.url, max_queue=2)
    for n in range(3):
        pusher.push({"n": n})
    assert (pusher.queue_size, pusher.dead_lettered) == (2, 1)
    [letter] = dead_letters(tmp_path / "dead")
    assert letter["payload"] == {"n": 2}
    assert "queue was full" in letter["last_error"]
    assert (letter["attempts"], letter["first_attempt"]) == (0, None)


def test_close_of_a_pusher_never_started_dead_letters_its_queue(receiver: Receiver,
                                                                make_pusher: Any,
                                                                tmp_path: Path) -> None:
    pusher = make_pusher(receiver.url)
    pusher.push({"n": 0})
    pusher.push({"n": 1})
    pusher.close()
    pusher.push({"n": 2})  # after close: dead-lettered too, never dropped
    assert [d["payload"] for d in dead_letters(tmp_path / "dead")] == [{"n": i} for i in range(3)]
    assert pusher.dead_lettered == 3
    assert receiver.requests == []


def test_close_stops_retrying_and_dead_letters_pending_in_order(receiver: Receiver,
                                                                make_pusher: Any,
                                                                tmp_path: Path) -> None:
    receiver.default = "500"
    entered, resume = threading.Event(), threading.Event()

    def sleep(_seconds: float) -> None:
        entered.set()
        resume.wait(10)

    pusher = make_pusher(receiver.url, max_attempts=100_000, sleep=sleep)
    pusher.start()
    pusher.push({"n": 0})
    assert entered.wait(10)
    pusher.push({"n": 1})
    pusher.push({"n": 2})
    resume.set()
    pusher.close()
    assert [d["payload"] for d in dead_letters(tmp_path / "dead")] == [{"n": i} for i in range(3)]
    assert (pusher.delivered, pusher.dead_lettered, pusher.queue_size) == (0, 3, 0)
    # The receiver was failing, so the queued ones were not even tried at close.
    assert {json.dumps(b) for b in receiver.bodies(None)} == {'{"n": 0}'}
    assert not any(t.name == "modeldeck-webhook" for t in threading.enumerate())


def test_close_sends_what_is_still_queued_when_the_receiver_answers(receiver: Receiver,
                                                                    make_pusher: Any,
                                                                    tmp_path: Path) -> None:
    pusher = make_pusher(receiver.url)
    for n in range(5):
        pusher.push({"n": n})
    pusher.start()
    pusher.close()
    assert pusher.delivered == 5
    assert receiver.bodies() == [{"n": n} for n in range(5)]
    assert list((tmp_path / "dead").iterdir()) == []


def test_replay_delivers_dead_letters_in_order_and_removes_them(receiver: Receiver,
                                                                make_pusher: Any,
                                                                tmp_path: Path) -> None:
    first = make_pusher(receiver.url)
    for n in range(3):
        first.push({"n": n})
    first.close()
    corrupt = tmp_path / "dead" / "29990101T000000-000000.json"
    corrupt.write_text("{not json", encoding="utf-8")

    second = make_pusher(receiver.url)
    second.start()
    assert second.replay_dead_letters() == 3
    wait_for(lambda: second.delivered == 3)
    second.close()
    assert receiver.bodies() == [{"n": n} for n in range(3)]
    assert [p.name for p in (tmp_path / "dead").iterdir()] == [corrupt.name]  # left for a person
    assert second.replay_dead_letters() == 0


def test_replay_that_fails_again_is_dead_lettered_again(receiver: Receiver, make_pusher: Any,
                                                        tmp_path: Path) -> None:
    first = make_pusher(receiver.url)
    first.push({"n": 7})
    first.close()
    [old] = list((tmp_path / "dead").iterdir())

    receiver.default = "500"
    second = make_pusher(receiver.url, max_attempts=2)
    second.start()
    assert second.replay_dead_letters() == 1
    assert second.replay_dead_letters() == 0  # already queued: not twice
    wait_for(lambda: second.dead_lettered == 1)
    [new] = list((tmp_path / "dead").iterdir())
    assert new != old
    letter = json.loads(new.read_text(encoding="utf-8"))
    assert (letter["payload"], letter["attempts"]) == ({"n": 7}, 2)


def test_a_redirect_is_a_failure_and_is_not_followed(receiver: Receiver, make_pusher: Any,
                                                     tmp_path: Path) -> None:
    receiver.default = "redirect"
    pusher = make_pusher(receiver.url, max_attempts=1)
    pusher.start()
    pusher.push({"n": 1})
    wait_for(lambda: pusher.dead_lettered == 1)
    [letter] = dead_letters(tmp_path / "dead")
    assert "HTTP 302" in letter["last_error"] and "/elsewhere" in letter["last_error"]
    assert [r["method"] for r in receiver.requests] == ["POST"]


def test_a_timeout_is_a_failed_attempt(receiver: Receiver, make_pusher: Any,
                                       tmp_path: Path) -> None:
    receiver.default = "hang"
    pusher = make_pusher(receiver.url, max_attempts=1, timeout=0.2)
    pusher.start()
    pusher.push({"n": 1})
    wait_for(lambda: pusher.dead_lettered == 1)
    [letter] = dead_letters(tmp_path / "dead")
    assert "timed out" in letter["last_error"]


def test_a_refused_connection_is_a_failed_attempt(make_pusher: Any, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never listening: refused, and nobody else's port
        pusher = make_pusher(f"http://127.0.0.1:{sock.getsockname()[1]}/hook", max_attempts=2)
        pusher.start()
        pusher.push({"n": 1})
        wait_for(lambda: pusher.dead_lettered == 1)
        pusher.close()
    assert pusher.failed_attempts == 2
    [letter] = dead_letters(tmp_path / "dead")
    assert letter["last_error"].startswith("connection failed")


def test_the_thread_survives_an_error_and_goes_on(receiver: Receiver, make_pusher: Any,
                                                  tmp_path: Path) -> None:
    receiver.script.extend(["500", "ok"])

    def sleep(_seconds: float) -> None:
        raise RuntimeError("boom")

    pusher = make_pusher(receiver.url, sleep=sleep)
    pusher.start()
    pusher.push({"n": 0})
    pusher.push({"n": 1})
    wait_for(lambda: pusher.delivered == 1)
    [thread] = [t for t in threading.enumerate() if t.name == "modeldeck-webhook"]
    assert thread.daemon and thread.is_alive()
    assert [d["payload"] for d in dead_letters(tmp_path / "dead")] == [{"n": 0}]
    assert receiver.bodies() == [{"n": 1}]


def test_payloads_become_plain_json(receiver: Receiver, make_pusher: Any) -> None:
    pusher = make_pusher(receiver.url)
    pusher.start()
    pusher.push({"f": np.float64(1.5), "i": np.int64(3), "nan": float("nan"),
                 "inf": np.float64("inf"), "a": np.array([1.0, np.nan]),
                 "t": datetime(2026, 1, 2, 3, 4, 5)})
    with pytest.raises(TypeError):
        pusher.push({"bad": object()})
    wait_for(lambda: pusher.delivered == 1)
    assert receiver.bodies() == [{"f": 1.5, "i": 3, "nan": None, "inf": None,
                                  "a": [1.0, None], "t": "2026-01-02T03:04:05"}]


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "file:///etc/passwd", "127.0.0.1:80",
                                 "http:///nohost"])
def test_only_http_urls(url: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError):
        WebhookPusher(url, tmp_path / "dead")
