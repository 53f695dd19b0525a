"""The one way the tests wait for something that happens in another process or task: poll a
check until it holds, and fail naming what did not happen and the last answer.

A check returns something truthy when the wait is over (that value is returned), or something
falsy (or an `AssertionError` instance, which names why not) while it is not; it may be a plain
function or a coroutine function. Nothing here measures time for a verdict on speed: a timeout
only ends a wait that would otherwise hang.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any


async def until(
    check: Callable[[], Any], what: str, timeout_s: float = 60.0, poll_s: float = 0.2
) -> Any:
    """Poll `check()` without blocking the event loop; its first truthy answer (not an
    `AssertionError`) is returned. Fails after `timeout_s` seconds naming `what`."""
    deadline = time.monotonic() + timeout_s
    while True:
        last = check()
        if inspect.isawaitable(last):
            last = await last
        if last and not isinstance(last, AssertionError):
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}: {last!r}")
        await asyncio.sleep(poll_s)


def until_blocking(
    check: Callable[[], Any], what: str, timeout_s: float = 60.0, poll_s: float = 0.5
) -> Any:
    """`until` for a test that runs no event loop: sleeps between the checks."""
    deadline = time.monotonic() + timeout_s
    while True:
        last = check()
        if last and not isinstance(last, AssertionError):
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}: {last!r}")
        time.sleep(poll_s)
