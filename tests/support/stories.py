"""Stories for the integration tests: accounts, their people and what they do, as Segment
messages with explicit event times; and the simulator's sample for the replay comparisons."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from abm.core.records import AccountRecord, ContactRecord
from abm.core.timefmt import iso_ms
from producers.simulator import SimConfig, Simulator
from tests.support.factories import DAY, account, contact_record, segment_message

SITE = "https://www.vendor.example"
# (role, seniority, title) of a buying group that covers every default requirement.
BUYING_GROUP = (
    ("decision_maker", "director", "Director of Operations"),
    ("champion", "manager", "Operations Manager"),
    ("technical_evaluator", "manager", "IT Manager"),
    ("end_user", "individual", "Planner"),
    ("influencer", "individual", "Business Analyst"),
)
STRONG_PAGES = ("/pricing", "/security", "/demo", "/pricing/enterprise")


@dataclass
class Story:
    accounts: list[AccountRecord] = field(default_factory=list)
    contacts: list[ContactRecord] = field(default_factory=list)
    messages: list[dict[str, Any] | bytes] = field(default_factory=list)

    def __add__(self, other: Story) -> Story:
        return Story(
            self.accounts + other.accounts,
            self.contacts + other.contacts,
            self.messages + other.messages,
        )

    def sorted(self) -> Story:
        """Messages in event-time order (bytes that are not messages keep their place)."""
        dicts = sorted(
            (m for m in self.messages if isinstance(m, dict)), key=lambda m: m["timestamp"]
        )
        return Story(
            self.accounts,
            self.contacts,
            [*dicts, *(m for m in self.messages if isinstance(m, bytes))],
        )


def page_view(email: str, user_id: str, path: str, at_ms: int, message_id: str) -> dict[str, Any]:
    return segment_message(
        "page",
        messageId=message_id,
        timestamp=iso_ms(at_ms),
        userId=user_id,
        anonymousId=None,
        context={"traits": {"email": email}},
        properties={"url": f"{SITE}{path}", "path": path},
    )


def buying_group(
    account_id: str,
    start_ms: int,
    *,
    spread_days: float = 7,
    tier: int = 2,
    lifecycle: str = "prospect",
    copies: int = 1,
) -> Story:
    """Five people in five roles each read pricing, security, the demo page and pricing again;
    the 20 page views are spread evenly over `spread_days`. `copies` > 1 sends every message
    that many times with the same messageId (a retrying tracker)."""
    domain = f"{account_id}.example"
    record = account(
        account_id, name=f"{account_id.title()} BV", domains=(domain,), tier=tier,
        lifecycle=lifecycle, icp_fit=80,
    )  # fmt: skip
    people = [
        contact_record(f"p{i}@{domain}", account_id=account_id, title=title, role=role,
                       seniority=seniority)
        for i, (role, seniority, title) in enumerate(BUYING_GROUP)
    ]  # fmt: skip
    views = [(person, path) for path in STRONG_PAGES for person in people]
    step_ms = spread_days * DAY / len(views)
    messages: list[dict[str, Any] | bytes] = []
    for n, (person, path) in enumerate(views):
        message = page_view(person.email, f"{account_id}-u{people.index(person)}", path,
                            start_ms + int(n * step_ms), f"{account_id}-m{n}")  # fmt: skip
        messages.extend([message] * copies)
    return Story([record], people, messages)


def lone_reader(account_id: str, start_ms: int, views: int = 200) -> Story:
    """One person reading the blog, `views` times over five days."""
    domain = f"{account_id}.example"
    record = account(account_id, name=f"{account_id.title()} BV", domains=(domain,), tier=3,
                     icp_fit=90)  # fmt: skip
    reader = contact_record(f"reader@{domain}", account_id=account_id, title="VP Marketing",
                            role="decision_maker", seniority="vp")  # fmt: skip
    step = 5 * DAY // views
    messages: list[dict[str, Any] | bytes] = [
        page_view(
            reader.email,
            f"{account_id}-u",
            f"/blog/post-{n % 40}",
            start_ms + n * step,
            f"{account_id}-m{n}",
        )
        for n in range(views)
    ]
    return Story([record], [reader], messages)


def malformed() -> list[dict[str, Any] | bytes]:
    """One message for every dead-letter reason, in a stable order."""
    good = segment_message("page", messageId="bad-base", timestamp=iso_ms(0 + 1_800_000_000_000))
    return [
        b'{"type": "page", "messageId": ',  # invalid_json
        b"\xff\xfe not utf-8",  # invalid_encoding
        b"[1, 2, 3]",  # not_an_object
        orjson.dumps({**good, "properties": {"blob": "x" * 40_000}}),  # oversized
        orjson.dumps({k: v for k, v in good.items() if k != "messageId"}),  # missing_field
        orjson.dumps({**good, "userId": 42, "anonymousId": None}),  # wrong_type
        orjson.dumps({**good, "timestamp": "last tuesday"}),  # bad_timestamp
        orjson.dumps({**good, "type": "pageview"}),  # unknown_type
    ]


MALFORMED_REASONS = [
    "invalid_json",
    "invalid_encoding",
    "not_an_object",
    "oversized",
    "missing_field",
    "wrong_type",
    "bad_timestamp",
    "unknown_type",
]


def simulated_sample() -> tuple[Simulator, list[bytes]]:
    """The simulator's 150 accounts (seed 11) and their messages as raw-topic bytes: the sample
    the recovery and rebuild tests replay and compare with the in-memory reference."""
    simulator = Simulator(SimConfig(accounts=150, seed=11))
    lines = [m.encode() if isinstance(m, str) else orjson.dumps(m) for m in simulator.messages()]
    return simulator, lines
