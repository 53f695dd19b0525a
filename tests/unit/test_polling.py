"""The tests' one poll helper: returns the first answer that ends the wait, fails naming what
did not happen and the last answer."""

from __future__ import annotations

import pytest

from tests.support.polling import until, until_blocking


async def test_until_returns_the_first_truthy_answer_of_a_plain_or_async_check() -> None:
    answers = iter([0, None, AssertionError("not yet"), "done"])
    assert await until(lambda: next(answers), "the answer", poll_s=0) == "done"

    calls = []

    async def check() -> list[int]:
        calls.append(1)
        return calls if len(calls) == 3 else []

    assert await until(check, "three calls", poll_s=0) == [1, 1, 1]


async def test_until_fails_naming_what_and_the_last_answer() -> None:
    with pytest.raises(AssertionError, match=r"waiting for the alerts: AssertionError\('2 of 3'\)"):
        await until(lambda: AssertionError("2 of 3"), "the alerts", timeout_s=0.05, poll_s=0.01)


def test_until_blocking_waits_without_a_loop() -> None:
    answers = iter([False, False, 7])
    assert until_blocking(lambda: next(answers), "seven", poll_s=0) == 7
    with pytest.raises(AssertionError, match="waiting for nothing: None"):
        until_blocking(lambda: None, "nothing", timeout_s=0.05, poll_s=0.01)
