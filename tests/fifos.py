"""Making FIFOs in a vault for a test, and freeing whoever got stuck on them.

Old code blocked in ``open()`` on a FIFO; a test of that must fail, not hang, and must not
leave a thread or process stuck after it. ``release`` opens the writing end of each FIFO that
someone is reading (so their ``open`` returns), removes every FIFO (so their next ``open``
fails instead of blocking again), then closes the writing ends (they read end-of-file).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")
DEADLINE = 10.0  # seconds; every call here takes well under one


def make_fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def release(paths: Iterable[Path]) -> None:
    paths = list(paths)
    writers = []
    for path in paths:
        with contextlib.suppress(OSError):  # ENXIO: nobody is reading it
            writers.append(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    for path in paths:
        with contextlib.suppress(OSError):
            if path.is_fifo():
                path.unlink()
    for fd in writers:
        os.close(fd)


def within_deadline(call: Callable[[], T], deadline: float = DEADLINE) -> T:
    """``call()`` in a daemon thread; fail if it has not returned within ``deadline`` seconds
    (a call blocked on a FIFO then fails the test instead of hanging it)."""
    outcome: list[tuple[bool, object]] = []

    def run() -> None:
        try:
            outcome.append((True, call()))
        except BaseException as exc:  # handed back to the test's thread
            outcome.append((False, exc))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(deadline)
    if not outcome:
        pytest.fail(f"did not return within {deadline}s (blocked on a FIFO?)")
    ok, value = outcome[0]
    if not ok:
        assert isinstance(value, BaseException)
        raise value
    return value  # type: ignore[return-value]
