"""Waiting for a state change with a deadline, instead of sleeping a guessed time."""

from __future__ import annotations

import time


def wait_until(predicate, what: str, timeout: float = 120):
    """Poll `predicate` every 0.1 s until it returns something true, and return that; fail saying `what` was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"Timed out after {timeout} s waiting for {what}")
