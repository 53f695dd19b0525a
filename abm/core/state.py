"""Per-account engagement state: explicit, event-time, serializable.

Everything the MQA rule and its explanation need is kept here and nothing else. Aggregates are
order-independent (decay accumulators, maxima, capped ledgers), so the same touchpoints give the
same state whatever order they arrive in. Old detail is pruned relative to the account's clock
(its latest event time), never the wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from abm.core.decay import Accumulator
from abm.core.records import AccountRecord

STATE_VERSION = 1
"""The stored form's version; `from_bytes` reads this one and every older one it can convert."""
READABLE_VERSIONS: frozenset[int] = frozenset({1})


class StateVersionError(ValueError):
    """A stored account state of a version this code cannot read (newer, or unknown). The state
    is rebuilt from the resolved topic with `abm state rebuild`."""

    def __init__(self, version: object) -> None:
        super().__init__(
            f"account state version {version!r} is not supported (this engine reads "
            f"{sorted(READABLE_VERSIONS)}): stop the workers and run `abm state rebuild`"
        )
        self.version = version


def stored_version(raw: bytes) -> object:
    """The version of a stored state, without decoding all of it (None when unreadable)."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return data.get("v") if isinstance(data, dict) else None


@dataclass(slots=True)
class ContactState:
    role: str
    seniority: str
    title: str | None
    known: bool
    """False for anonymous visitors (they score, they are never stakeholders)."""
    last_touch_ms: int
    last_scored_ms: int | None = None
    """Latest touch that earned points: an active stakeholder has one in the active window."""
    accumulators: dict[str, Accumulator] = field(default_factory=dict)
    """Decayed points per signal class."""
    touches: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "seniority": self.seniority,
            "title": self.title,
            "known": self.known,
            "last": self.last_touch_ms,
            "scored": self.last_scored_ms,
            "acc": {cls: [v, t] for cls, (v, t) in self.accumulators.items()},
            "n": self.touches,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ContactState:
        return cls(
            role=data["role"],
            seniority=data["seniority"],
            title=data.get("title"),
            known=data["known"],
            last_touch_ms=data["last"],
            last_scored_ms=data.get("scored"),
            accumulators={c: (float(v), int(t)) for c, (v, t) in data["acc"].items()},
            touches=data.get("n", 0),
        )


@dataclass(slots=True)
class TouchRecord:
    """One scored touchpoint, kept for explanations and the account timeline."""

    at_ms: int
    message_id: str
    activity: str
    signal_class: str
    contact: str
    role: str
    points: float
    """Granted points: after the seniority multiplier and the caps, before decay."""
    url: str | None

    def sort_key(self) -> tuple[int, str]:
        return (self.at_ms, self.message_id)

    def to_list(self) -> list[Any]:
        return [
            self.at_ms,
            self.message_id,
            self.activity,
            self.signal_class,
            self.contact,
            self.role,
            self.points,
            self.url,
        ]

    @classmethod
    def from_list(cls, row: list[Any]) -> TouchRecord:
        return cls(*row)


@dataclass(slots=True)
class MqaRecord:
    mqa_id: str
    episode: int
    rule: str
    qualified_at_ms: int
    trigger_message_id: str
    event: dict[str, Any]
    """The MQA event as emitted (explanation included)."""
    trigger_source: str | None = None
    """The input record that triggered it; when that record is redelivered (after a crash),
    the event is sent again."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.mqa_id,
            "episode": self.episode,
            "rule": self.rule,
            "at": self.qualified_at_ms,
            "trigger": self.trigger_message_id,
            "source": self.trigger_source,
            "event": self.event,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MqaRecord:
        return cls(
            mqa_id=data["id"],
            episode=data["episode"],
            rule=data["rule"],
            qualified_at_ms=data["at"],
            trigger_message_id=data["trigger"],
            trigger_source=data.get("source"),
            event=data["event"],
        )


@dataclass(slots=True)
class AccountState:
    account: AccountRecord
    clock_ms: int
    """The account's clock: the latest event time seen for it."""
    first_engaged_ms: int | None = None
    last_engaged_ms: int | None = None
    contacts: dict[str, ContactState] = field(default_factory=dict)
    daily: dict[int, list[float]] = field(default_factory=dict)
    """UTC day -> [granted points, scored touches], for surge; undecayed."""
    caps: dict[str, float] = field(default_factory=dict)
    """"day|contact|bucket" -> points granted so far, for the daily caps."""
    intent_ms: int | None = None
    """Latest touch of an intent class (high_intent, form)."""
    timeline: list[TouchRecord] = field(default_factory=list)
    """Most recent scored touchpoints, oldest first."""
    seen: dict[str, int] = field(default_factory=dict)
    """Message-id digest -> event time, for dedupe within the lateness horizon."""
    qualified: bool = False
    episode: int = 0
    last_mqa_ms: int | None = None
    mqa_history: list[MqaRecord] = field(default_factory=list)
    touches: int = 0
    unknown_events: int = 0

    def to_bytes(self) -> bytes:
        """The stored form. A table keeps one per account, so it is copied into a bytes object of
        its own size: orjson's output keeps its whole over-allocated buffer (several times the
        JSON's length), which made the worker hold about 8 KB more per account than the state."""
        return bytes(memoryview(orjson.dumps(self.to_dict())))

    @classmethod
    def from_bytes(cls, raw: bytes) -> AccountState:
        data: dict[str, Any] = orjson.loads(raw)
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for stores that serialize themselves)."""
        return {
            "v": STATE_VERSION,
            "account": self.account.to_dict(),
            "clock": self.clock_ms,
            "first": self.first_engaged_ms,
            "last": self.last_engaged_ms,
            "contacts": {k: c.to_dict() for k, c in self.contacts.items()},
            "daily": {str(d): v for d, v in self.daily.items()},
            "caps": self.caps,
            "intent": self.intent_ms,
            "timeline": [t.to_list() for t in self.timeline],
            "seen": self.seen,
            "qualified": self.qualified,
            "episode": self.episode,
            "last_mqa": self.last_mqa_ms,
            "mqas": [m.to_dict() for m in self.mqa_history],
            "touches": self.touches,
            "unknown": self.unknown_events,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AccountState:
        if data.get("v") not in READABLE_VERSIONS:
            raise StateVersionError(data.get("v"))
        return cls(
            account=AccountRecord.from_dict(data["account"]),
            clock_ms=data["clock"],
            first_engaged_ms=data.get("first"),
            last_engaged_ms=data.get("last"),
            contacts={k: ContactState.from_dict(c) for k, c in data["contacts"].items()},
            daily={int(d): v for d, v in data["daily"].items()},
            caps=data["caps"],
            intent_ms=data.get("intent"),
            timeline=[TouchRecord.from_list(row) for row in data["timeline"]],
            seen=data["seen"],
            qualified=data["qualified"],
            episode=data["episode"],
            last_mqa_ms=data.get("last_mqa"),
            mqa_history=[MqaRecord.from_dict(m) for m in data["mqas"]],
            touches=data.get("touches", 0),
            unknown_events=data.get("unknown", 0),
        )
