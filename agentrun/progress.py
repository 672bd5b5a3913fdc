"""Progress of long steps (generation, training, scoring), shown by whoever listens.

Library code reports through `task()`; the CLI installs a rich reporter, and everything else
(tests, Studio) gets log lines.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

log = logging.getLogger(__name__)


class Reporter(Protocol):
    """Receives progress of named tasks."""

    def start(self, name: str, total: int) -> None:
        """Begin a task of `total` units."""

    def advance(self, name: str, amount: int = 1, info: str = "") -> None:
        """Advance a task, with an optional status text (loss, tokens/s…)."""

    def set_total(self, name: str, total: int) -> None:
        """Set a task's total once it is known (training learns its steps as it starts)."""

    def stop(self, name: str) -> None:
        """End a task."""


class LogReporter:
    """Logs the start and end of each task."""

    def start(self, name: str, total: int) -> None:
        """Log the start."""
        log.info("%s: %d to do", name, total)

    def advance(self, name: str, amount: int = 1, info: str = "") -> None:
        """Log the status text at debug level."""
        if info:
            log.debug("%s: %s", name, info)

    def set_total(self, name: str, total: int) -> None:
        """Log the total."""
        log.info("%s: %d to do", name, total)

    def stop(self, name: str) -> None:
        """Log the end."""
        log.info("%s: done", name)


_reporter: Reporter = LogReporter()


def set_reporter(reporter: Reporter) -> None:
    """Install the reporter that receives all progress (the CLI's progress bars)."""
    global _reporter
    _reporter = reporter


class Task:
    """A running task: call it to advance (`task(amount=1, info="")`); `set_total` later."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self, amount: int = 1, info: str = "") -> None:
        """Advance by `amount`, with an optional status text."""
        _reporter.advance(self.name, amount, info)

    def set_total(self, total: int) -> None:
        """Set the total once it is known."""
        _reporter.set_total(self.name, total)


@contextmanager
def task(name: str, total: int) -> Iterator[Task]:
    """Report a task of `total` units (0: not known yet); yields it to advance."""
    _reporter.start(name, total)
    try:
        yield Task(name)
    finally:
        _reporter.stop(name)
