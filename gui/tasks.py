"""Running core operations off the GUI thread: the pattern every page reuses.

A core *operation* is a generator function taking a ``cancel`` keyword
(:class:`~modeldeck.core.progress.CancelToken`); it yields
:class:`~modeldeck.core.progress.ProgressEvent` objects and returns its result. The
:class:`TaskRunner` runs it in a superqt worker on ``QThreadPool.globalInstance()``
(superqt ``create_worker``, as napari's ``qthreading``), turns the yields into signals on
the GUI thread, sends errors to the window's one notification surface and calls
``on_done(result)`` back on the GUI thread. Widgets are never touched from the worker:
everything crosses threads as queued signals to QObjects living in the GUI thread.

Cancelling sets the operation's token (so it stops inside blocking loops) and then calls
``worker.quit()`` (so the worker stops resuming the generator); the generator is then
closed inside the worker thread, which runs the operation's ``finally`` blocks and
rolls back its transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QStatusBar, QWidget
from superqt.utils import WorkerBase, create_worker
from superqt.utils._qthreading import WorkerBaseSignals

from modeldeck.core.errors import Cancelled
from modeldeck.core.progress import CancelToken, ProgressEvent
from modeldeck.gui.notifications import NotificationBanner

log = logging.getLogger(__name__)

OperationFunc = Callable[..., Generator[ProgressEvent, None, Any]]


class _OperationSignals(WorkerBaseSignals):
    yielded = Signal(object)  # a ProgressEvent
    aborted = Signal()  # the worker stopped resuming the generator after quit()
    completed = Signal(object)  # the generator returned (even when quit came too late)


class _OperationWorker(WorkerBase):
    """A superqt worker driving one core operation.

    Unlike superqt's ``GeneratorWorker`` it creates the generator inside the worker
    thread (so a function that validates before its first yield never blocks the GUI),
    always closes the generator (so its cleanup runs in this thread) and reports a
    result that arrived just after a cancel request instead of dropping it.
    """

    def __init__(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        super().__init__(SignalsClass=_OperationSignals)
        self._func = func
        self._args = args
        self._kwargs = kwargs

    def work(self) -> Any:
        if self.abort_requested:
            # superqt defers start() by one event-loop turn, so a worker can be quit
            # before it ever ran: then it must not touch core at all.
            self.aborted.emit()
            return None
        result = self._func(*self._args, **self._kwargs)
        if not isinstance(result, Generator):
            # A plain function (a quick query): its return value is the result.
            self.completed.emit(result)
            return result
        try:
            while True:
                if self.abort_requested:
                    self.aborted.emit()
                    return None
                try:
                    event = next(result)
                except StopIteration as stop:
                    self.completed.emit(stop.value)
                    return stop.value
                self.yielded.emit(event)
        finally:
            result.close()


class Task(QObject):
    """One operation run by a :class:`TaskRunner`.

    Exactly one of ``finished``, ``errored`` and ``cancelled`` ends a task.

    Signals
    -------
    progressed(ProgressEvent)
        The operation reported progress.
    finished(object)
        The operation returned this result.
    errored(Exception)
        The operation raised (anything but :class:`~modeldeck.core.errors.Cancelled`).
    cancelled()
        The operation stopped because the user cancelled it.
    """

    progressed = Signal(object)
    finished = Signal(object)
    errored = Signal(object)
    cancelled = Signal()

    def __init__(self, title: str, token: CancelToken, *, quiet: bool = False,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.token = token
        self.quiet = quiet
        self.last_event: ProgressEvent | None = None
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = False
        self.was_cancelled = False
        self._worker: _OperationWorker | None = None
        self._outcome: tuple[str, Any] | None = None

    def cancel(self) -> None:
        """Ask the operation to stop: set its token, then quit its worker."""
        if self.done:
            return
        self.token.cancel()
        if self._worker is not None:
            self._worker.quit()

    # -- worker signal handlers (queued onto the GUI thread) -----------------

    def _attach(self, worker: _OperationWorker) -> None:
        self._worker = worker
        worker.yielded.connect(self._on_worker_yielded)
        worker.completed.connect(self._on_worker_completed)
        worker.errored.connect(self._on_worker_errored)
        worker.aborted.connect(self._on_worker_aborted)
        worker.finished.connect(self._on_worker_finished)

    def _on_worker_yielded(self, event: object) -> None:
        if self.done or not isinstance(event, ProgressEvent):
            return
        self.last_event = event
        self.progressed.emit(event)

    def _on_worker_completed(self, result: object) -> None:
        self._outcome = ("finished", result)

    def _on_worker_errored(self, exc: object) -> None:
        if isinstance(exc, Cancelled):
            self._outcome = ("cancelled", None)
        else:
            self._outcome = ("errored", exc)

    def _on_worker_aborted(self) -> None:
        self._outcome = ("cancelled", None)

    def _on_worker_finished(self) -> None:
        if self.done:
            return
        self.done = True
        kind, value = self._outcome or ("cancelled", None)
        self._worker = None
        if kind == "finished":
            self.result = value
            self.finished.emit(value)
        elif kind == "errored":
            self.error = value
            self.errored.emit(value)
        else:
            self.was_cancelled = True
            self.cancelled.emit()


class TaskRunner(QObject):
    """Runs core operations in worker threads and reports on the GUI thread.

    Parameters
    ----------
    notifier
        The window's notification surface; errors of every task go there.
    parent
        The owning QObject (the main window).

    Signals
    -------
    started(Task)
        A task was queued on the thread pool.
    progressed(Task, ProgressEvent)
        A task reported progress.
    finished(Task, object)
        A task returned its result.
    errored(Task, Exception)
        A task failed; the error was already sent to the notification surface.
    cancelled(Task)
        A task stopped because the user cancelled it.
    """

    started = Signal(object)
    progressed = Signal(object, object)
    finished = Signal(object, object)
    errored = Signal(object, object)
    cancelled = Signal(object)

    def __init__(self, notifier: NotificationBanner | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._notifier = notifier
        self._tasks: list[Task] = []
        self._closed = False

    @property
    def notifier(self) -> NotificationBanner | None:
        """The notification surface errors go to."""
        return self._notifier

    def run(self, operation: OperationFunc, *args: Any, title: str,
            on_done: Callable[[Any], object] | None = None,
            on_error: Callable[[BaseException], object] | None = None,
            on_cancelled: Callable[[], object] | None = None,
            quiet: bool = False, notify_errors: bool = True, **kwargs: Any) -> Task:
        """Run ``operation(*args, cancel=token, **kwargs)`` in a worker thread.

        Parameters
        ----------
        operation
            A core operation (generator function with a ``cancel`` keyword).
        title
            What the status bar calls the task ("Registering breast-cancer").
        on_done
            Called on the GUI thread with the operation's result.
        on_error
            Called on the GUI thread with the exception, after it was notified.
        on_cancelled
            Called on the GUI thread when the task was cancelled.
        quiet
            When true the status bar does not show the task (quick queries).
        notify_errors
            When false the caller shows errors itself (``on_error`` must be given).
        """
        token = CancelToken()
        return self._start(operation, args, dict(kwargs, cancel=token), token, title,
                           on_done, on_error, on_cancelled, quiet, notify_errors)

    def call(self, func: Callable[..., Any], *args: Any, title: str,
             on_done: Callable[[Any], object] | None = None,
             on_error: Callable[[BaseException], object] | None = None,
             quiet: bool = True, **kwargs: Any) -> Task:
        """Run a plain function (no progress, no cancel token) in a worker thread."""
        return self._start(func, args, kwargs, CancelToken(), title, on_done, on_error,
                           None, quiet, True)

    @property
    def is_closed(self) -> bool:
        """Whether :meth:`shutdown` was called (no new task starts then)."""
        return self._closed

    def shutdown(self, msecs: int = 10_000) -> bool:
        """Cancel every task, refuse new ones and wait up to ``msecs`` for the workers.

        Called when the window closes, before whoever opened the workspace closes it;
        whether all workers ended in time.
        """
        self._closed = True
        self.cancel_all()
        return self.wait(msecs)

    def tasks(self) -> list[Task]:
        """The tasks still running, oldest first."""
        return list(self._tasks)

    def cancel_all(self) -> None:
        """Cancel every running task."""
        for task in self.tasks():
            task.cancel()

    @staticmethod
    def wait(msecs: int = 10_000) -> bool:
        """Quit all workers and wait up to ``msecs`` for them; whether they all ended."""
        try:
            WorkerBase.await_workers(msecs)
        except RuntimeError:
            log.warning("background tasks did not stop within %d ms", msecs)
            return False
        return True

    # -- internals ----------------------------------------------------------

    def _start(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
               token: CancelToken, title: str, on_done: Callable[[Any], object] | None,
               on_error: Callable[[BaseException], object] | None,
               on_cancelled: Callable[[], object] | None, quiet: bool,
               notify_errors: bool) -> Task:
        task = Task(title, token, quiet=quiet, parent=self)
        if self._closed:
            log.debug("not starting %r: the runner is shut down", title)
            task.done = task.was_cancelled = True
            return task
        worker = create_worker(func, *args, _worker_class=_OperationWorker,
                               _start_thread=False, _ignore_errors=True, **kwargs)
        worker.warned.connect(self._on_worker_warned)
        task._attach(worker)
        task.progressed.connect(lambda event, task=task: self.progressed.emit(task, event))

        def _on_task_finished(result: Any) -> None:
            self._forget(task)
            self.finished.emit(task, result)
            if on_done is not None and not self._closed:
                on_done(result)

        def _on_task_errored(exc: BaseException) -> None:
            self._forget(task)
            if notify_errors and self._notifier is not None:
                self._notifier.show_error(exc)
            elif notify_errors:
                log.error("%s failed: %s", title, exc)
            self.errored.emit(task, exc)
            if on_error is not None and not self._closed:
                on_error(exc)

        def _on_task_cancelled() -> None:
            self._forget(task)
            self.cancelled.emit(task)
            if on_cancelled is not None:
                on_cancelled()

        task.finished.connect(_on_task_finished)
        task.errored.connect(_on_task_errored)
        task.cancelled.connect(_on_task_cancelled)
        self._tasks.append(task)
        self.started.emit(task)
        worker.start()
        return task

    def _forget(self, task: Task) -> None:
        if task in self._tasks:
            self._tasks.remove(task)
        task.deleteLater()

    def _on_worker_warned(self, showwarning_args: tuple[Any, ...]) -> None:
        message, category = showwarning_args[0], showwarning_args[1]
        log.warning("%s: %s", getattr(category, "__name__", category), message)


class TaskStatusWidget(QWidget):
    """The status-bar part of the task pattern: step text, progress bar and Cancel.

    Shows the newest running task that is not quiet (and how many more run); hidden
    when there is none. A cancelled task leaves a quiet status message, not an error.

    Parameters
    ----------
    runner
        The runner whose tasks to show.
    status_bar
        The status bar for transient messages ("Registration cancelled").
    """

    MESSAGE_MSECS = 6000

    def __init__(self, runner: TaskRunner, status_bar: QStatusBar,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("taskStatus")
        self._runner = runner
        self._status_bar = status_bar
        self._label = QLabel(self)
        self._label.setObjectName("taskStep")
        self._label.setTextFormat(Qt.TextFormat.PlainText)
        self._label.setMinimumWidth(160)
        self._label.setMaximumWidth(520)
        self._bar = QProgressBar(self)
        self._bar.setObjectName("taskProgress")
        self._bar.setTextVisible(False)
        self._bar.setFixedWidth(180)
        self._cancel = QPushButton("Cancel", self)
        self._cancel.setObjectName("taskCancel")
        self._cancel.setToolTip("Stop this task; nothing it started is kept")
        self._cancel.clicked.connect(self._on_cancel_clicked)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 8, 0)
        layout.setSpacing(10)
        layout.addWidget(self._label)
        layout.addWidget(self._bar)
        layout.addWidget(self._cancel)

        # A task that ends within this delay never flashes in the status bar.
        self._show_timer = QTimer(self)
        self._show_timer.setObjectName("task-status-show-delay")
        self._show_timer.setSingleShot(True)
        self._show_timer.setInterval(150)
        self._show_timer.timeout.connect(self._refresh)

        runner.started.connect(self._on_runner_started)
        runner.progressed.connect(self._on_runner_progressed)
        runner.finished.connect(self._on_runner_finished)
        runner.errored.connect(self._on_runner_errored)
        runner.cancelled.connect(self._on_runner_cancelled)
        self.hide()

    def current_task(self) -> Task | None:
        """The task on display: the newest running task that is not quiet."""
        visible = [task for task in self._runner.tasks() if not task.quiet]
        return visible[-1] if visible else None

    def step_text(self) -> str:
        """The text shown next to the progress bar."""
        return self._label.text()

    def _refresh(self) -> None:
        task = self.current_task()
        if task is None:
            self.hide()
            return
        event = task.last_event
        text = task.title
        if event is not None:
            text = f"{task.title}: {event.message or event.step}"
        others = len([t for t in self._runner.tasks() if not t.quiet]) - 1
        if others > 0:
            text += f"  (+{others} more)"
        self._label.setText(text)
        self._label.setToolTip(text)
        if event is None or event.fraction is None:
            self._bar.setRange(0, 0)  # busy indicator
        else:
            self._bar.setRange(0, 1000)
            self._bar.setValue(round(max(0.0, min(1.0, event.fraction)) * 1000))
        self._cancel.setEnabled(not task.token.is_cancelled)
        self.show()

    def _on_runner_started(self, task: Task) -> None:
        if not task.quiet and not self.isVisible():
            self._show_timer.start()

    def _on_runner_progressed(self, task: Task, _event: ProgressEvent) -> None:
        if task is self.current_task() and self.isVisible():
            self._refresh()

    def _on_runner_finished(self, task: Task, _result: object) -> None:
        if not task.quiet:
            self._status_bar.showMessage(f"{task.title}: done", self.MESSAGE_MSECS)
        self._refresh_if_shown()

    def _on_runner_errored(self, task: Task, _exc: object) -> None:
        if not task.quiet:
            self._status_bar.showMessage(f"{task.title}: failed", self.MESSAGE_MSECS)
        self._refresh_if_shown()

    def _on_runner_cancelled(self, task: Task) -> None:
        self._status_bar.showMessage(f"{task.title}: cancelled", self.MESSAGE_MSECS)
        self._refresh_if_shown()

    def _refresh_if_shown(self) -> None:
        if self.isVisible():
            self._refresh()

    def _on_cancel_clicked(self) -> None:
        task = self.current_task()
        if task is not None:
            task.cancel()
            self._label.setText(f"{task.title}: cancelling…")
            self._cancel.setEnabled(False)
