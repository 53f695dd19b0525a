"""Test doubles of the deliverer's collaborators: the ledger's state machine in memory (the
rules of alerting/ledger.py's scripts, on a clock the test sets), a scripted channel, a
sleep that records what the ledger said while it waited, and a clock for the Slack channel's
pacing."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import cast

from abm.core.mqa_event import MqaEvent
from alerting.channels.base import NOTHING_TO_READ, Found, Outgoing
from alerting.content import Owner
from alerting.delivery import DeadLetter, Deliverer, Delivery, RetryPolicy
from alerting.ledger import Claim, Ledger
from alerting.retry import Attempt
from tests.support.alerting import mqa_event


class FakeTime:
    """A monotonic clock and a sleep that only moves it, for the Slack channel's pacing and
    holds: `slept` lists each wait."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


class Killed(BaseException):
    """Stands for `kill -9` at a point of the deliverer's work: nothing after it runs."""


class MemoryLedger:
    """The delivery ledger in memory, one dict per key; `now_ms` is Redis's clock for leases.
    `fail_before[name]` / `fail_after[name]`: how many calls of that method raise a Redis
    connection error before reaching the ledger, or after changing it (a lost reply)."""

    def __init__(self, lease_ms: int = 60_000) -> None:
        self.rows: dict[str, dict[str, str]] = {}
        self.now_ms = 1_000_000
        self.lease_ms = lease_ms
        self.fail_before: dict[str, int] = {}
        self.fail_after: dict[str, int] = {}
        self.calls: list[str] = []

    def key(self, alert_id: str, channel: str) -> str:
        return f"t:alert:dlv:{alert_id}:{channel}"

    def _enter(self, name: str) -> None:
        self.calls.append(name)
        if self.fail_before.get(name, 0) > 0:
            self.fail_before[name] -= 1
            raise ConnectionError(f"{name}: Redis unreachable (before)")

    def _leave(self, name: str) -> None:
        if self.fail_after.get(name, 0) > 0:
            self.fail_after[name] -= 1
            raise ConnectionError(f"{name}: Redis unreachable (reply lost)")

    async def claim(self, key: str, token: str, target: str) -> Claim:
        self._enter("claim")
        claim = self._claim(key, token, target)
        self._leave("claim")
        return claim

    def _claim(self, key: str, token: str, target: str) -> Claim:
        row = self.rows.get(key)
        if row is None:
            lease = str(self.now_ms + self.lease_ms)
            self.rows[key] = {"state": "claimed", "token": token, "lease": lease, "target": target}
            return Claim("claimed", target)
        stored = row.get("target") or None
        state = row["state"]
        if state in ("sent", "dead", "unconfirmed"):
            return Claim(state, stored)  # type: ignore[arg-type]
        if row["token"] != token and int(row["lease"]) > self.now_ms:
            return Claim("busy", stored)
        if state == "sending":
            why = "interrupted" if row["token"] == token else "holder_stopped"
            row.update(state="orphaned", reason=why)
        row["token"], row["lease"] = token, str(self.now_ms + self.lease_ms)
        if row["state"] == "orphaned":
            return Claim("orphaned", stored, row["reason"])
        return Claim("claimed", stored)

    def _move(self, key: str, token: str, before: str, after: str) -> bool:
        row = self.rows.get(key)
        if row is None or row["token"] != token:
            return False
        if row["state"] == after:
            return True  # a repeat of a move that was made (its reply was lost)
        if row["state"] != before:
            return False
        row["state"], row["lease"] = after, str(self.now_ms + self.lease_ms)
        return True

    async def sending(self, key: str, token: str) -> bool:
        self._enter("sending")
        moved = self._move(key, token, "claimed", "sending")
        self._leave("sending")
        return moved

    async def reopen(self, key: str, token: str) -> bool:
        self._enter("reopen")
        moved = self._move(key, token, "orphaned", "claimed")
        self._leave("reopen")
        return moved

    async def not_sent(self, key: str, token: str) -> bool:
        self._enter("not_sent")
        moved = self._move(key, token, "sending", "claimed")
        self._leave("not_sent")
        return moved

    async def renew(self, key: str, token: str) -> bool:
        row = self.rows.get(key)
        return row is not None and row["token"] == token

    async def finish(
        self, key: str, token: str, state: str, ref: str = "", reason: str = ""
    ) -> bool:
        self._enter("finish")
        row = self.rows.get(key)
        done = False
        if row is not None and row["token"] == token:
            if row["state"] == state:
                done = True
            elif row["state"] in ("claimed", "sending", "orphaned"):
                row.update(state=state, ref=ref, reason=reason)
                done = True
        self._leave("finish")
        return done

    async def state(self, key: str) -> dict[str, str]:
        return dict(self.rows.get(key, {}))


class ScriptedChannel:
    """A channel answering from a script (then `sent`), counting the requests that left;
    `found` is what it says when asked whether it has a message (default: cannot be asked)."""

    def __init__(self, name: str = "slack", *answers: Attempt) -> None:
        self.name = name
        self.answers = deque(answers)
        self.requests: list[str] = []
        self.turns: list[str] = []
        self.found = NOTHING_TO_READ
        self.asked: list[tuple[str, str, int]] = []

    async def find_sent(self, alert_id: str, target: str, since_ms: int) -> Found:
        self.asked.append((alert_id, target, since_ms))
        return self.found

    async def wait_turn(self, target: str) -> None:
        self.turns.append(target)

    async def send(self, item: Outgoing, target: str, mention: bool) -> Attempt:
        self.requests.append(item.alert_id)
        if self.answers:
            return self.answers.popleft()
        return Attempt("sent", "ok", ref=f"ref-{len(self.requests)}")

    async def close(self) -> None:
        return None


class DeadLetters:
    """The dead-letter writer: keeps what it wrote; `failures` writes raise first (Kafka
    down)."""

    def __init__(self, failures: int = 0) -> None:
        self.written: list[DeadLetter] = []
        self.failures = failures

    async def __call__(self, dead: DeadLetter) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("Kafka unreachable")
        self.written.append(dead)


async def no_sleep(seconds: float) -> None:
    return None


def delivery(channel: str = "slack", account_id: str = "acme") -> Delivery:
    from alerting.content import build_alert

    event = mqa_event(account_id)
    alert = build_alert(MqaEvent.from_dict(event), owner=Owner("ae@vendor.example", "U0AE"),
                        due_at_ms=event["follow_up"]["due_at_ms"],
                        account_link=f"https://abm.example/accounts/{account_id}",
                        ack_url=None)  # fmt: skip
    return Delivery(Outgoing(event["mqa_id"], alert), "mqa", channel, "U0AE", True, account_id,
                    event)  # fmt: skip


def deliverer(
    ledger: MemoryLedger | Ledger,
    channel: object,
    dead: DeadLetters,
    *,
    sleep: Callable[[float], object] = no_sleep,
    max_attempts: int = 3,
) -> Deliverer:
    name = cast(ScriptedChannel, channel).name
    return Deliverer(cast(Ledger, ledger), {name: channel},  # type: ignore[dict-item]
                     RetryPolicy(max_attempts, 0.01, 0.1), dead, lease_s=60.0,
                     sleep=sleep)  # type: ignore[arg-type]  # fmt: skip
