"""Per-account engagement state: explicit, event-time, serializable, and bounded.

Everything the MQA rule and its explanation need is kept here and nothing else. Aggregates are
decay accumulators, maxima and capped ledgers, so the same touchpoints give the same state
whatever order they arrive in, within the bounds below. Old detail is pruned relative to the
account's clock (its latest event time), never the wall clock.

Every structure that grows with an account's traffic has a bound (`Bounds`, enforced by
`abm.core.engagement.apply`), so a stored state stays under `MAX_STATE_BYTES` whatever the
account's traffic: a tier-1 account with 100,000 touchpoints a month from 10,000 anonymous
visitors costs the same per touchpoint as a quiet one. Where a bound changes a result compared
with keeping everything, docs/events.md ("Bounded account state") says how.

The stored form (version 3) is compact JSON compressed with zlib: a typical account is well
under 1 KB. Persons are named by keyed pseudonyms (`abm.core.privacy`), never by e-mail or
tracker id. Older states are read: version 1 (uncompressed JSON, unbounded) and version 2
(compressed like 3) named persons in the clear; `legacy_keys` says so, and
`abm.core.pseudonymize.pseudonymize_state` converts them before the engine writes them again.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final

import orjson

from abm.core.decay import Accumulator
from abm.core.records import AccountRecord

STATE_VERSION: Final = 3
"""The stored form's version; `from_bytes` reads this one and every older one it can convert."""
READABLE_VERSIONS: frozenset[int] = frozenset({1, 2, 3})
CLEAR_KEY_VERSIONS: Final = frozenset({1, 2})
"""Versions that named persons by e-mail or tracker id (`AccountState.legacy_keys`)."""

_DAY_MS: Final = 86_400_000

MAX_STATE_BYTES: Final = 64 * 1024
"""What any account's stored state stays under with the shipped model and the bounds below
(tested with a 100,000-touchpoint account and with maximal-length fields)."""


@dataclass(frozen=True)
class Bounds:
    """The size of each per-account structure. Each is a count or a length, so the stored state
    has a ceiling whatever the account's traffic."""

    known_contacts: int = 40
    """Known people kept one by one. Past it, the least recently scored inactive one (else the
    least recently scored) is folded into the account's remainder: its decayed, capped points
    stay in the score, its name leaves the explanation."""
    anonymous_visitors: int = 8
    """Anonymous visitors kept one by one (the most recent); older ones fold into the remainder.
    Anonymous visitors are never stakeholders, so only their points matter."""
    seen_digests: int = 128
    """Message-id digests remembered for dedupe of sender retries: the latest applied ones.
    Redeliveries of already-applied records are recognised exactly by the
    offset watermark instead, and the collector drops SDK retries by messageId for a day."""
    cap_days: int = 2
    """UTC days of the daily-cap ledger kept: the account clock's day and the one before. A
    repeat on an older day (a touchpoint more than a day late) is capped as if it were that
    day's first."""
    cap_entries: int = 256
    """Daily-cap ledger entries (one per contact, activity and UTC day, plus one per contact and
    day for web reading). Past it the oldest days go first, then the earliest entries of a day;
    a repeat whose entry was forgotten is capped as if it were the day's first."""
    mqa_event_bytes: int = 12 * 1024
    """Bytes of full MQA explanations kept in the MQA history. The latest MQA keeps its full
    event always (it is re-sent if its trigger record is redelivered); older ones keep a short
    form (summary, score, coverage, follow-up) once the budget is used."""
    mqa_history: int = 20
    """MQA episodes remembered (id, rule, time); the account page lists them."""
    text_chars: int = 160
    """Longest URL, title or contact key stored; longer ones are cut (contact keys are replaced
    by a digest, so two long keys stay distinct)."""


BOUNDS: Final = Bounds()

_MQA_SHORT_FIELDS: Final = (
    "mqa_id",
    "rule",
    "summary",
    "score",
    "threshold",
    "coverage",
    "follow_up",
)
"""What a past MQA keeps of its event once the history's byte budget is used (what the account
page's MQA history shows, without the contact and touchpoint lists)."""


class StateVersionError(ValueError):
    """A stored account state of a version this code cannot read (newer, or unknown). The state
    is rebuilt from the resolved topic with `abm state rebuild`."""

    def __init__(self, version: object) -> None:
        super().__init__(
            f"account state version {version!r} is not supported (this engine reads "
            f"{sorted(READABLE_VERSIONS)}): stop the workers and run `abm state rebuild`"
        )
        self.version = version


def short_digest(text: str, size: int = 8) -> str:
    """A stable hex digest of `size` bytes (collisions: about 2^-(4 * size) per pair)."""
    return hashlib.blake2b(text.encode(), digest_size=size).hexdigest()


def short_text(text: str | None, limit: int = BOUNDS.text_chars) -> str | None:
    """`text` cut to `limit` characters (URLs and titles: the start is what a reader needs)."""
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def short_key(key: str, limit: int = BOUNDS.text_chars) -> str:
    """A contact key bounded in length: a longer one becomes `#<digest>`, still unique."""
    return key if len(key) <= limit else f"#{short_digest(key, 12)}"


def short_event(event: dict[str, Any]) -> dict[str, Any]:
    """The short form of a past MQA's event (see `Bounds.mqa_event_bytes`)."""
    return {k: event[k] for k in _MQA_SHORT_FIELDS if k in event}


_ZDICT_V2: Final = (
    b'"known":"rest":"folded":"wm":"pruned":"mqas":[{"id":"mqa_"episode":"rule":"threshold"'
    b'"act_now""trigger":"source":"event":{"schema":1,"mqa_id":"mqa_"qualified_at":"'
    b'"executive_sponsor""legal_procurement""blocker""budget_holder""student""c_level"'
    b'"customer""open_opportunity""partner""competitor""social""sales""ads""webinar""content"'
    b'"Email Link Clicked""Email Replied""Content Downloaded""Webinar Attended""Ad Clicked"'
    b'"LinkedIn Ad Clicked""Form Submitted""Demo Requested""LinkedIn Lead Gen Form Submitted"'
    b'"page:integrations""page:case_study""page:security""page:demo""page:no_value"'
    b'"qualified":true,"last_mqa":"intent":"unknown":"first":"last":"daily":{"20'
    b'"caps":{"20"seen":["'
    b'"director""vp""manager""individual""email""form""high_intent"'
    b'"decision_maker""champion""technical_evaluator""influencer""end_user"'
    b'"page:pricing""page:product""page:other","web","anon:anon-"page:blog","web",'
    b'"timeline":[[17'
    b',"https://www.'
    b',{"web":[1.0,17'
    b'["other","unknown",null,0,17'
    b'"contacts":{"anon:anon-'
    b'"clock":17'
    b'"tier":1,"icp_fit":'
    b'"lifecycle":"prospect","owner_email":"'
    b'","owner_slack_id":"'
    b'"value_score":null'
    b'{"v":2,"account":{"id":"'
    b'","name":"'
    b'","domains":["'
    b'"touches":'
)
"""The preset dictionary of version 2's compression: strings that most stored states repeat,
the most common last. Part of the format: changing it needs a new state version."""

_ZDICT: Final = _ZDICT_V2.replace(b'"anon:anon-', b'"p')
"""Version 3's preset dictionary: version 2's, with the pseudonyms' prefix where version 2 had
an anonymous visitor's key. A compressed state names its dictionary (zlib's DICTID, bytes 2-6),
so reading a state needs no other marker of its version."""

_ZDICTS: Final = {zlib.adler32(d).to_bytes(4, "big"): d for d in (_ZDICT, _ZDICT_V2)}
_CURRENT_DICTID: Final = zlib.adler32(_ZDICT).to_bytes(4, "big")
_FDICT: Final = 0x20
"""zlib's header flag: a preset dictionary's DICTID follows the two header bytes."""


def _decode(raw: bytes) -> Any:
    """Versions 2 and 3 are zlib-compressed JSON (first byte 0x78) with the preset dictionary
    the stream names; version 1 is plain JSON."""
    if raw[:1] == b"x":
        if len(raw) > 1 and raw[1] & _FDICT:
            zdict = _ZDICTS.get(raw[2:6])
            if zdict is None:
                raise zlib.error("compressed with an unknown preset dictionary")
            unpacker = zlib.decompressobj(zdict=zdict)
        else:
            unpacker = zlib.decompressobj()
        raw = unpacker.decompress(raw) + unpacker.flush()
    return orjson.loads(raw)


def has_clear_keys(raw: bytes) -> bool:
    """Whether a stored state is of a version that named persons in the clear (1 or 2), read
    from its first bytes only: the cheap check before `from_bytes` on the agent's load path."""
    return raw[:1] != b"x" or raw[2:6] != _CURRENT_DICTID


def stored_version(raw: bytes) -> object:
    """The version of a stored state, without building it (None when unreadable)."""
    try:
        data = _decode(raw)
    except (orjson.JSONDecodeError, zlib.error):
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

    def to_list(self) -> list[Any]:
        return [
            self.role,
            self.seniority,
            self.title,
            1 if self.known else 0,
            self.last_touch_ms,
            self.last_scored_ms,
            {cls: [v, t] for cls, (v, t) in self.accumulators.items()},
            self.touches,
        ]

    @classmethod
    def from_list(cls, row: list[Any]) -> ContactState:
        role, seniority, title, known, last, scored, acc, touches = row
        return cls(
            role=role,
            seniority=seniority,
            title=title,
            known=bool(known),
            last_touch_ms=last,
            last_scored_ms=scored,
            accumulators={c: (float(v), int(t)) for c, (v, t) in acc.items()},
            touches=touches,
        )

    @classmethod
    def from_v1(cls, data: dict[str, Any]) -> ContactState:
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
    message_digest: str
    """`message_digest` of the touchpoint's message id: orders touchpoints of the same
    millisecond, the same way in every run."""
    activity: str
    signal_class: str
    contact: str
    role: str
    points: float
    """Granted points: after the seniority multiplier and the caps, before decay."""
    url: str | None

    def sort_key(self) -> tuple[int, str]:
        return (self.at_ms, self.message_digest)

    def to_list(self) -> list[Any]:
        return [
            self.at_ms,
            self.message_digest,
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
    """The MQA event as emitted (explanation included); its short form (`short_event`) for
    older MQAs once the history's byte budget is used."""
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
    """At most `Bounds.known_contacts` known and `Bounds.anonymous_visitors` anonymous ones."""
    remainder: dict[str, Accumulator] = field(default_factory=dict)
    """Decayed points per signal class of the contacts folded away by the bounds (their capped
    share when folded): they count in the score, nobody in particular is credited."""
    folded_ms: int | None = None
    """The account clock when a contact was last folded into the remainder."""
    daily: dict[int, list[float]] = field(default_factory=dict)
    """UTC day -> [granted points, scored touches], for surge; undecayed. Bounded by the
    lateness horizon and the surge window (at most about 36 days)."""
    caps: dict[str, float] = field(default_factory=dict)
    """"day|digest(contact|bucket)" -> points granted so far, for the daily caps: the latest
    `Bounds.cap_days` days, at most `Bounds.cap_entries` entries, oldest day first out."""
    intent_ms: int | None = None
    """Latest touch of an intent class (high_intent, form) worth points before the caps
    (docs/scoring.md, "The threshold rule")."""
    timeline: list[TouchRecord] = field(default_factory=list)
    """Most recent scored touchpoints, oldest first (the model's `state.timeline_size`)."""
    seen: dict[str, None] = field(default_factory=dict)
    """Message-id digests (`message_digest`) of the latest `Bounds.seen_digests` touchpoints
    applied, oldest first (a dict for its order and its fast membership test)."""
    watermark: tuple[int, int] | None = None
    """(partition, offset) of the latest input record applied: a record at or below it in the
    same partition is a redelivery, recognised exactly whatever its age."""
    qualified: bool = False
    episode: int = 0
    last_mqa_ms: int | None = None
    mqa_history: list[MqaRecord] = field(default_factory=list)
    touches: int = 0
    unknown_events: int = 0
    pruned_day: int | None = None
    """The UTC day (of the clock) when old detail was last pruned: pruning runs once a day."""
    score_floor: tuple[float, int, int] | None = field(default=None, compare=False, repr=False)
    """(score, at ms, tier) of the latest exact score computation, not stored: the score can
    fall no faster than the shortest half-life, so the hysteresis check skips the exact sum
    while this lower bound stays above the exit score. Only a shortcut: decisions are the ones
    the exact sum gives."""
    legacy_keys: bool = field(default=False, compare=False, repr=False)
    """Read from a version that named persons in the clear (1 or 2), not stored: its contact
    keys are e-mails and tracker ids until `abm.core.pseudonymize.pseudonymize_state`."""

    def to_bytes(self) -> bytes:
        """The stored form: compact JSON, compressed with a preset dictionary of the strings
        every state repeats (a typical account is under 1 KB). The bytes object is of its own
        size, unlike orjson's over-allocated output buffer."""
        packer = zlib.compressobj(1, zdict=_ZDICT)
        return packer.compress(orjson.dumps(self.to_dict())) + packer.flush()

    @classmethod
    def from_bytes(cls, raw: bytes) -> AccountState:
        data = _decode(raw)
        if not isinstance(data, dict):
            raise StateVersionError(None)
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for stores that serialize themselves). Empty and default parts are
        left out."""
        data: dict[str, Any] = {
            "v": STATE_VERSION,
            "account": self.account.to_dict(),
            "clock": self.clock_ms,
            "contacts": {k: c.to_list() for k, c in self.contacts.items()},
            "touches": self.touches,
        }
        optional: dict[str, Any] = {
            "first": self.first_engaged_ms,
            "last": self.last_engaged_ms,
            "rest": {cls: [v, t] for cls, (v, t) in self.remainder.items()},
            "folded": self.folded_ms,
            "daily": {str(d): v for d, v in self.daily.items()},
            "caps": self.caps,
            "intent": self.intent_ms,
            "timeline": [t.to_list() for t in self.timeline],
            "seen": list(self.seen),
            "wm": list(self.watermark) if self.watermark is not None else None,
            "qualified": self.qualified,
            "episode": self.episode,
            "last_mqa": self.last_mqa_ms,
            "mqas": [m.to_dict() for m in self.mqa_history],
            "unknown": self.unknown_events,
            "pruned": self.pruned_day,
        }
        data.update((k, v) for k, v in optional.items() if v != _OMITTED.get(k))
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AccountState:
        version = data.get("v")
        if version not in READABLE_VERSIONS:
            raise StateVersionError(version)
        if version == 1:
            state = _from_v1(data)
            state.legacy_keys = True
            return state
        watermark = data.get("wm")
        return cls(
            account=AccountRecord.from_dict(data["account"]),
            clock_ms=data["clock"],
            first_engaged_ms=data.get("first"),
            last_engaged_ms=data.get("last"),
            contacts={k: ContactState.from_list(c) for k, c in data["contacts"].items()},
            remainder={c: (float(v), int(t)) for c, (v, t) in data.get("rest", {}).items()},
            folded_ms=data.get("folded"),
            daily={int(d): v for d, v in data.get("daily", {}).items()},
            caps=data.get("caps", {}),
            intent_ms=data.get("intent"),
            timeline=[TouchRecord.from_list(row) for row in data.get("timeline", [])],
            seen=dict.fromkeys(data.get("seen", [])),
            watermark=(int(watermark[0]), int(watermark[1])) if watermark else None,
            qualified=data.get("qualified", False),
            episode=data.get("episode", 0),
            last_mqa_ms=data.get("last_mqa"),
            mqa_history=[MqaRecord.from_dict(m) for m in data.get("mqas", [])],
            touches=data.get("touches", 0),
            unknown_events=data.get("unknown", 0),
            pruned_day=data.get("pruned"),
            legacy_keys=version in CLEAR_KEY_VERSIONS,
        )


_OMITTED: Final[dict[str, Any]] = {
    "rest": {},
    "daily": {},
    "caps": {},
    "timeline": [],
    "seen": [],
    "qualified": False,
    "episode": 0,
    "mqas": [],
    "unknown": 0,
}
"""Values left out of the stored form (read back as these); None is left out everywhere."""


def message_digest(message_id: str) -> str:
    """Short stable digest of a message id, for the dedupe window and the timeline's order
    (48 bits: a false duplicate within a window of 128 is about 1 in 2 * 10^12). The leading
    12 hex digits of version 1's digest, so converted states keep recognising retries."""
    return short_digest(message_id, 8)[:12]


def cap_key(day: int, contact: str, bucket: str) -> str:
    """The cap ledger's key: the day first (pruning reads it), then a digest of the contact and
    the bucket, so the key's length does not depend on the contact's."""
    return f"{day}|{_cap_digest(contact, bucket)}"


@lru_cache(maxsize=4096)
def _cap_digest(contact: str, bucket: str) -> str:
    """Cached: the same contacts and activities come back all day (4,096 pairs, about 1 MB)."""
    return short_digest(f"{contact}|{bucket}", 6)


def _from_v1(data: dict[str, Any]) -> AccountState:
    """A version-1 state in the version-2 layout. The bounds apply from its next touchpoint on
    (`apply` enforces them), so converting changes no number by itself."""
    caps: dict[str, float] = {}
    first_cap_day = data["clock"] // _DAY_MS - BOUNDS.cap_days + 1
    for key, points in data["caps"].items():
        day, _, rest = key.partition("|")
        if int(day) >= first_cap_day:
            caps[f"{day}|{short_digest(rest, 6)}"] = points
    # v1 kept 16-hex digests with event times; v2 keeps the leading 12 hex digits (the same
    # digest, shorter), oldest first.
    seen = dict.fromkeys(d[:12] for d, _ in sorted(data["seen"].items(), key=lambda i: i[1]))
    return AccountState(
        account=AccountRecord.from_dict(data["account"]),
        clock_ms=data["clock"],
        first_engaged_ms=data.get("first"),
        last_engaged_ms=data.get("last"),
        contacts={k: ContactState.from_v1(c) for k, c in data["contacts"].items()},
        daily={int(d): v for d, v in data["daily"].items()},
        caps=caps,
        intent_ms=data.get("intent"),
        timeline=sorted(
            (_touch_from_v1(row) for row in data["timeline"]), key=TouchRecord.sort_key
        ),
        seen=seen,
        qualified=data["qualified"],
        episode=data["episode"],
        last_mqa_ms=data.get("last_mqa"),
        mqa_history=[MqaRecord.from_dict(m) for m in data["mqas"]],
        touches=data.get("touches", 0),
        unknown_events=data.get("unknown", 0),
    )


def _touch_from_v1(row: list[Any]) -> TouchRecord:
    """v1 kept the message id itself in the timeline; v2 keeps its digest."""
    record = TouchRecord.from_list(row)
    record.message_digest = message_digest(record.message_digest)
    return record
