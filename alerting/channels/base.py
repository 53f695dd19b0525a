"""What every alert channel is: the `Channel` base class, and the types it shares with the
deliverer (`Outgoing`, `Found`).

A channel is one module under `alerting/channels/` and one line in
`alerting.channels.registry`. Its class says, from the settings alone, whether it is configured
(`configured`, `check`), where an MQA alert and an escalation go (`mqa_route`,
`escalation_route`; pure, so routing is decided before anything is sent), how it is built
(`from_settings`), and then, per delivery: how the alert looks on it (`render`) and ONE attempt
to deliver it (`send`), answered with an `Attempt` that classifies the outcome for the retry
loop: `sent`, `retry` (transient: rate limits, server errors, timeouts, refused connections;
`retry_after_s` when the provider said how long) or `permanent` (dead-lettered at once).
`reason` is a metric label, so it comes from a small fixed vocabulary (`alerting.retry`).
Retries, claims and dead letters are the deliverer's business (`alerting.delivery`), never a
channel's.

Waiting for a turn (Slack's pacing and Retry-After holds) is a step of its own, `wait_turn`,
that the deliverer takes before it marks a delivery `sending`: a delivery is `sending` only
while its request is really on its way, so a crash during a wait leaves it `claimed` and the
next instance sends it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, ClassVar, Literal

from abm.settings import AlertSettings
from alerting.content import Escalation, MqaAlert, Owner
from alerting.recipients import Route
from alerting.retry import Attempt


@dataclass(frozen=True)
class Found:
    """What a channel could find out about a message whose request may have left:
    `found` (the provider has it; `ref` its reference), `absent` (it does not: send it), or
    `unknown` (nothing can be read back, or the provider did not answer; `detail` says why)."""

    state: Literal["found", "absent", "unknown"]
    detail: str = ""
    ref: str | None = None


NOTHING_TO_READ = Found("unknown", "this channel cannot be asked what it received")


@dataclass(frozen=True)
class Outgoing:
    """What to deliver: an MQA alert or an escalation, under its delivery id."""

    alert_id: str
    content: MqaAlert | Escalation


@dataclass(frozen=True)
class Needs:
    """What the service hands a channel it builds: the console's stream, the SLA clock (epoch
    ms) and the service's Redis client (None in tests without one)."""

    out: IO[str]
    clock_ms: Callable[[], int]
    redis: Any = None


class Channel(ABC):
    """One way an alert reaches people or systems. Subclasses set `name` (the `channel` label
    of the metrics, the ledger key's suffix, the word in `ABM_ALERT_CHANNELS`) and `auto`
    (whether `ABM_ALERT_CHANNELS=auto` turns the channel on when it is configured)."""

    name: ClassVar[str]
    auto: ClassVar[bool] = True

    # --- from the settings (pure) ----------------------------------------------------------

    @classmethod
    @abstractmethod
    def configured(cls, settings: AlertSettings) -> bool:
        """Whether the settings name this channel's destination (what `auto` looks at)."""

    @classmethod
    def check(cls, settings: AlertSettings) -> None:
        """Raise `RoutingError` naming the setting when the channel is on but cannot work."""
        return None

    @classmethod
    @abstractmethod
    def mqa_route(cls, settings: AlertSettings, owner: Owner) -> Route:
        """Where an MQA alert of an account owned by `owner` goes (target None: no route)."""

    @classmethod
    def escalation_route(cls, settings: AlertSettings) -> Route | None:
        """Where a follow-up SLA escalation goes; None: not on this channel."""
        return None

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: AlertSettings, needs: Needs) -> Channel:
        """The channel, ready to send (no I/O here: connections open on first use)."""

    # --- per delivery ----------------------------------------------------------------------

    @abstractmethod
    def render(self, item: Outgoing, target: str, mention: bool) -> Any:
        """What `send` sends for `item` (a message, a request body)."""

    @abstractmethod
    async def send(self, item: Outgoing, target: str, mention: bool) -> Attempt:
        """ONE attempt, its outcome classified (see the module docstring); never raises for a
        provider's failure. The caller waited its turn first (`wait_turn`)."""

    async def wait_turn(self, target: str) -> None:
        """Return when a message to `target` may leave (pacing, provider holds)."""
        return None

    async def find_sent(self, alert_id: str, target: str, since_ms: int) -> Found:
        """Whether the provider has the alert's message to `target`, sent after `since_ms`
        (epoch ms). Most providers cannot be asked: `unknown`."""
        return NOTHING_TO_READ

    async def close(self) -> None:
        return None
