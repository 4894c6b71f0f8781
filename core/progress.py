"""Progress reporting and cooperative cancellation for long core operations.

Core never renders progress. A long operation is a generator that yields
:class:`ProgressEvent` objects and returns its result (``StopIteration.value``); it
checks a :class:`CancelToken` between steps and inside blocking loops. The CLI iterates
the generator and prints; the GUI runs it in a worker thread (superqt ``thread_worker``)
and turns the yields into progress signals. :func:`run` drives a generator to completion
for callers that do not care about progress (tests, scripts).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

from modeldeck.core.errors import Cancelled

T = TypeVar("T")


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a long operation.

    Attributes
    ----------
    step
        A short name of the current step (``"reading data"``, ``"scoring holdout"``).
    fraction
        Overall completion in ``[0, 1]``, or ``None`` when unknown.
    message
        A line for a log or a status bar.
    """

    step: str
    fraction: float | None = None
    message: str = ""


Operation = Generator[ProgressEvent, None, T]


class CancelToken:
    """A thread-safe cancellation flag shared by a caller and a long operation."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the operation to stop at its next check."""
        self._event.set()

    @property
    def is_cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._event.is_set()

    def check(self) -> None:
        """Raise :class:`~modeldeck.core.errors.Cancelled` when cancellation was asked."""
        if self._event.is_set():
            raise Cancelled()


def run(
    operation: Generator[ProgressEvent, None, T],
    on_progress: Callable[[ProgressEvent], Any] | None = None,
) -> T:
    """Drive ``operation`` to its end and return its result.

    Parameters
    ----------
    operation
        A generator yielding :class:`ProgressEvent` and returning a result.
    on_progress
        Called with each event, if given.
    """
    while True:
        try:
            event = next(operation)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        if on_progress is not None:
            on_progress(event)


def scaled(operation: Generator[ProgressEvent, None, T], start: float,
           end: float) -> Generator[ProgressEvent, None, T]:
    """Run a nested operation as the ``[start, end]`` part of a larger one.

    Its events' fractions are mapped into that span, so an outer progress bar moves
    forward only; use as ``result = yield from scaled(inner(...), 0.2, 0.4)``.
    """
    while True:
        try:
            event = next(operation)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        fraction = None if event.fraction is None else start + event.fraction * (end - start)
        yield ProgressEvent(event.step, fraction, event.message)
