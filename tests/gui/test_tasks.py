"""TaskRunner: progress, results, cancellation and errors of core operations."""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtWidgets import QStatusBar

from modeldeck.core.errors import DataError
from modeldeck.core.progress import CancelToken, ProgressEvent
from modeldeck.gui.notifications import NotificationBanner
from modeldeck.gui.tasks import TaskRunner, TaskStatusWidget


def counting_op(n: int, *, cancel: CancelToken):
    for i in range(n):
        cancel.check()
        yield ProgressEvent("counting", (i + 1) / n, f"item {i + 1} of {n}")
    return n * 10


def endless_op(*, cancel: CancelToken, started: threading.Event):
    started.set()
    i = 0
    while True:
        cancel.check()
        time.sleep(0.005)
        i += 1
        if i % 20 == 0:
            yield ProgressEvent("waiting", None, f"{i} ticks")


def blocking_op(*, cancel: CancelToken, started: threading.Event, cleaned: threading.Event):
    """Never yields after its first step: only the token can stop it."""
    yield ProgressEvent("starting", 0.0)
    try:
        started.set()
        while True:
            cancel.check()
            time.sleep(0.005)
    finally:
        cleaned.set()


def failing_op(*, cancel: CancelToken):
    yield ProgressEvent("reading data", 0.1)
    raise DataError("reference.csv has no rows", "export the data again with a header and rows")


def buggy_op(*, cancel: CancelToken):
    yield ProgressEvent("thinking", 0.1)
    raise ZeroDivisionError("division by zero")


@pytest.fixture
def banner(qtbot):
    widget = NotificationBanner()
    qtbot.addWidget(widget)
    return widget


@pytest.fixture
def runner(qtbot, banner):
    runner = TaskRunner(banner)
    yield runner
    runner.cancel_all()
    runner.wait(5000)


def test_progress_arrives_in_order_then_result(qtbot, runner):
    events: list[ProgressEvent] = []
    results: list[object] = []
    runner.progressed.connect(lambda _task, event: events.append(event))
    with qtbot.wait_signals([runner.started, runner.finished], order="strict", timeout=5000):
        task = runner.run(counting_op, 5, title="Counting", on_done=results.append)
    assert [event.message for event in events] == [f"item {i} of 5" for i in range(1, 6)]
    assert [event.fraction for event in events] == [0.2, 0.4, 0.6, 0.8, 1.0]
    assert results == [50]
    assert task.result == 50
    assert runner.tasks() == []


def test_task_signals_are_strictly_ordered(qtbot, runner):
    task = runner.run(counting_op, 2, title="Counting")
    with qtbot.wait_signals([task.progressed, task.progressed, task.finished],
                            order="strict", timeout=5000):
        pass


def test_cancel_stops_a_long_operation(qtbot, runner, banner):
    started = threading.Event()
    cancelled: list[bool] = []
    done: list[object] = []
    task = runner.run(endless_op, started=started, title="Waiting forever",
                      on_done=done.append, on_cancelled=lambda: cancelled.append(True))
    qtbot.waitUntil(started.is_set, timeout=5000)
    with qtbot.wait_signal(runner.cancelled, timeout=5000):
        task.cancel()
    assert task.token.is_cancelled
    assert task.was_cancelled
    assert cancelled == [True]
    assert done == []
    assert not banner.isVisibleTo(banner.parentWidget() or banner)  # not an error
    assert banner.current() is None


def test_cancel_reaches_an_operation_blocked_between_yields(qtbot, runner, banner):
    started, cleaned = threading.Event(), threading.Event()
    task = runner.run(blocking_op, started=started, cleaned=cleaned, title="Blocking")
    qtbot.waitUntil(started.is_set, timeout=5000)
    with qtbot.wait_signal(task.cancelled, timeout=5000):
        task.cancel()
    assert cleaned.is_set()  # the operation's finally block ran
    assert banner.current() is None


def test_error_reaches_the_notification_surface(qtbot, runner, banner):
    errors: list[BaseException] = []
    with qtbot.wait_signal(runner.errored, timeout=5000):
        runner.run(failing_op, title="Registering", on_error=errors.append)
    assert isinstance(errors[0], DataError)
    notification = banner.current()
    assert notification is not None
    assert notification.level == "error"
    assert notification.message == "reference.csv has no rows"
    assert notification.fix == "export the data again with a header and rows"
    assert notification.text() == str(errors[0])


def test_unexpected_error_is_reported_as_a_bug(qtbot, runner, banner, caplog):
    with qtbot.wait_signal(runner.errored, timeout=5000):
        runner.run(buggy_op, title="Thinking")
    notification = banner.current()
    assert notification is not None
    assert "ZeroDivisionError" in notification.message
    assert "bug" in (notification.fix or "")
    assert any("unexpected error" in record.message for record in caplog.records)


def test_plain_function_call_returns_its_value(qtbot, runner):
    results: list[object] = []
    with qtbot.wait_signal(runner.finished, timeout=5000):
        runner.call(lambda a, b: a + b, 2, 3, title="Adding", on_done=results.append)
    assert results == [5]


def test_status_widget_shows_step_and_cancel(qtbot, runner):
    status_bar = QStatusBar()
    qtbot.addWidget(status_bar)
    widget = TaskStatusWidget(runner, status_bar)
    status_bar.addPermanentWidget(widget)
    status_bar.show()
    started = threading.Event()
    task = runner.run(endless_op, started=started, title="Profiling")
    qtbot.waitUntil(widget.isVisible, timeout=5000)
    qtbot.waitUntil(lambda: "ticks" in widget.step_text(), timeout=5000)
    assert widget.step_text().startswith("Profiling: ")
    with qtbot.wait_signal(task.cancelled, timeout=5000):
        widget._cancel.click()
    qtbot.waitUntil(lambda: not widget.isVisible(), timeout=5000)
    assert status_bar.currentMessage() == "Profiling: cancelled"


def test_quiet_tasks_stay_out_of_the_status_bar(qtbot, runner):
    status_bar = QStatusBar()
    qtbot.addWidget(status_bar)
    widget = TaskStatusWidget(runner, status_bar)
    status_bar.addPermanentWidget(widget)
    status_bar.show()
    started = threading.Event()
    task = runner.run(endless_op, started=started, title="Fetching", quiet=True)
    qtbot.waitUntil(started.is_set, timeout=5000)
    qtbot.wait(300)
    assert not widget.isVisible()
    with qtbot.wait_signal(task.cancelled, timeout=5000):
        task.cancel()


def test_shutdown_cancels_and_refuses_new_tasks(qtbot, runner):
    started = threading.Event()
    task = runner.run(endless_op, started=started, title="Waiting")
    qtbot.waitUntil(started.is_set, timeout=5000)
    assert runner.shutdown(5000)
    assert runner.is_closed
    calls: list[object] = []
    late = runner.call(calls.append, 1, title="Too late")
    assert late.done and late.was_cancelled
    qtbot.wait(50)
    assert calls == []
    qtbot.waitUntil(lambda: task.done, timeout=5000)
    assert task.was_cancelled


def test_a_worker_quit_before_it_started_never_runs(qtbot, runner):
    calls: list[object] = []
    task = runner.call(calls.append, 1, title="Deferred")  # superqt starts it next loop turn
    task.cancel()
    with qtbot.wait_signal(runner.cancelled, timeout=5000):
        pass
    assert calls == []
