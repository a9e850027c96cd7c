"""Waiting in tests: poll for the condition itself, never sleep a fixed time and hope."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T],
    timeout: float,
    message: str | Callable[[], str],
    interval: float = 0.1,
) -> T:
    """Call `condition` until it returns something truthy, and return that.

    After `timeout` seconds of falsy answers, fail with `message` (a callable is asked only
    then, so it can describe the state at the end). The timeout is a bound on a hang, not a
    performance threshold: make it generous. An exception from `condition` propagates
    at once, so a condition can also stop the wait early ("the process died").
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"{text} (waited {timeout:g} s)")
        time.sleep(interval)
