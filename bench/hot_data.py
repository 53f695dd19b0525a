"""Traffic for the `hot-account` figure: one tier-1 account that receives a flood of touchpoints,
interleaved with the simulator's ordinary traffic for other accounts. Pure and seeded: the same
arguments give the same bytes, so the reference and every run see the same input.

The hot account's traffic is what large enterprises produce: most of it anonymous page views
from many visitors that reverse-IP enrichment attributes to the account (`context.groupId`), the
rest from known people of the directory (an e-mail in `context.traits`), pages and track events.
"""

from __future__ import annotations

import contextlib
import random
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from abm.core.records import AccountRecord, ContactRecord
from abm.core.timefmt import iso_ms, parse_iso_ms
from producers.simulator import PAGES, SITE, SimConfig, Simulator

HOT_ID = "hot-00001"
HOT_DOMAIN = "hot-enterprise.example"

_PEOPLE_ROLES = (
    ("decision_maker", "VP Operations", "vp"),
    ("budget_holder", "Finance Director", "director"),
    ("champion", "Product Manager", "manager"),
    ("technical_evaluator", "Security Architect", "individual"),
    ("influencer", "Business Analyst", "individual"),
    ("end_user", "Data Analyst", "individual"),
    ("end_user", "Planner", "individual"),
    ("legal_procurement", "Procurement Officer", "individual"),
    ("executive_sponsor", "Chief Operating Officer", "c_level"),
)
"""(buying role, title, seniority) given to the known people in turn; end users twice."""

_ANON_PAGES = PAGES["product"] + PAGES["blog"] + PAGES["case_study"] + PAGES["other"]
_KNOWN_PAGES = _ANON_PAGES + PAGES["pricing"] + PAGES["security"] + PAGES["integrations"]
_EVENTS = (
    "Email Opened",
    "Email Link Clicked",
    "Webinar Registered",
    "Webinar Attended",
    "Content Downloaded",
    "LinkedIn Ad Clicked",
)


@dataclass(frozen=True)
class HotConfig:
    hot: int = 100_000
    """Touchpoints of the hot account."""
    others: int = 1000
    """Other accounts, with the simulator's traffic."""
    days: int = 30
    visitors: int = 10_000
    """Anonymous visitors of the hot account."""
    people: int = 500
    """Known people of the hot account, in the directory with roles."""
    anonymous_share: float = 0.8
    seed: int = 11


@dataclass
class HotData:
    config: HotConfig
    accounts: list[AccountRecord]
    contacts: list[ContactRecord]
    lines: list[bytes]
    """Every raw message, hot and others, in event-time order."""
    hot_lines: int


def hot_directory(people: int) -> tuple[AccountRecord, list[ContactRecord]]:
    """The hot account (tier 1, a fit prospect) and its known people."""
    account = AccountRecord(
        HOT_ID, "Hot Enterprise Group", (HOT_DOMAIN,), 1, 90.0, "prospect",
        "sanne.ae@vendor.example", "U01SANNE", 3,
    )  # fmt: skip
    contacts = [
        ContactRecord(f"person-{n:04d}@{HOT_DOMAIN}", HOT_ID, title, role, seniority)
        for n in range(people)
        for role, title, seniority in [_PEOPLE_ROLES[n % len(_PEOPLE_ROLES)]]
    ]
    return account, contacts


def hot_messages(config: HotConfig, start_ms: int, end_ms: int) -> list[tuple[int, bytes]]:
    """(event time, raw message) of the hot account, in time order."""
    rng = random.Random(config.seed)
    times = sorted(rng.randint(start_ms, end_ms) for _ in range(config.hot))
    out = []
    for at in times:
        message: dict[str, Any] = {
            "messageId": str(uuid.UUID(int=rng.getrandbits(128))),
            "timestamp": iso_ms(at),
            "context": {"library": {"name": "abm-bench-hot", "version": "1"}},
        }
        if rng.random() < config.anonymous_share:
            path = rng.choice(_ANON_PAGES)
            message["type"] = "page"
            message["anonymousId"] = f"hot-visitor-{rng.randrange(config.visitors):05d}"
            message["context"]["groupId"] = HOT_ID
            message["properties"] = {"url": f"{SITE}{path}", "path": path}
        else:
            person = rng.randrange(config.people)
            message["userId"] = f"hot-user-{person:04d}"
            message["context"]["traits"] = {"email": f"person-{person:04d}@{HOT_DOMAIN}"}
            if rng.random() < 0.5:
                path = rng.choice(_KNOWN_PAGES)
                message["type"] = "page"
                message["properties"] = {"url": f"{SITE}{path}", "path": path}
            else:
                message["type"] = "track"
                message["event"] = rng.choice(_EVENTS)
        out.append((at, orjson.dumps(message)))
    return out


def hot_data(config: HotConfig) -> HotData:
    """The directory (others + the hot account) and the merged traffic, in event-time order."""
    simulator = Simulator(SimConfig(accounts=config.others, days=config.days, seed=config.seed))
    accounts, contacts = simulator.records()
    hot_account, hot_contacts = hot_directory(config.people)
    timed: list[tuple[int, bytes]] = []
    last = simulator.start_ms
    for message in simulator.messages():
        raw = message.encode() if isinstance(message, str) else orjson.dumps(message)
        stamp = message.get("timestamp") if isinstance(message, dict) else None
        if isinstance(stamp, str):
            with contextlib.suppress(ValueError):  # a malformed one keeps its neighbour's time
                last = parse_iso_ms(stamp)
        timed.append((last, raw))
    timed.extend(hot_messages(config, simulator.start_ms, simulator.end_ms))
    timed.sort(key=lambda item: item[0])  # stable: at equal times, the simulator's come first
    return HotData(
        config,
        [*accounts, hot_account],
        [*contacts, *hot_contacts],
        [raw for _, raw in timed],
        config.hot,
    )
