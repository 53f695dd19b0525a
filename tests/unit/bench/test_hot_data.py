"""The hot-account figure's traffic: seeded, shaped as the figure says, and resolvable."""

from __future__ import annotations

import orjson

from abm.core.model import load_model
from abm.core.offline import InMemoryDirectory, run_offline
from abm.core.timefmt import DAY_MS, parse_iso_ms
from bench.hot_data import HOT_ID, HotConfig, hot_data, hot_directory, hot_messages

START = 1_790_000_000_000
END = START + 30 * DAY_MS


def test_same_seed_same_bytes() -> None:
    config = HotConfig(hot=300, others=5)
    assert hot_data(config).lines == hot_data(config).lines
    assert hot_data(config).lines != hot_data(HotConfig(hot=300, others=5, seed=12)).lines


def test_hot_traffic_has_the_stated_shape() -> None:
    config = HotConfig(hot=5000, visitors=1000, people=50)
    messages = hot_messages(config, START, END)
    assert len(messages) == 5000
    times = [at for at, _ in messages]
    assert times == sorted(times)
    assert times[0] >= START and times[-1] <= END
    docs = [orjson.loads(raw) for _, raw in messages]
    anonymous = [d for d in docs if "anonymousId" in d]
    known = [d for d in docs if "userId" in d]
    assert len(anonymous) + len(known) == 5000
    assert 0.77 < len(anonymous) / 5000 < 0.83
    assert all(d["type"] == "page" and d["context"]["groupId"] == HOT_ID for d in anonymous)
    assert len({d["anonymousId"] for d in anonymous}) <= 1000
    _, contacts = hot_directory(50)
    emails = {c.email for c in contacts}
    assert {d["context"]["traits"]["email"] for d in known} <= emails
    assert {d["type"] for d in known} == {"page", "track"}
    assert all(
        parse_iso_ms(d["timestamp"]) == at for d, (at, _) in zip(docs, messages, strict=True)
    )


def test_hot_directory_has_tier_one_fit_prospect_with_roles() -> None:
    account, contacts = hot_directory(500)
    assert (account.account_id, account.tier, account.lifecycle) == (HOT_ID, 1, "prospect")
    assert len(contacts) == 500 == len({c.email for c in contacts})
    assert len({c.role for c in contacts}) >= 8


def test_merged_traffic_is_in_time_order_and_every_hot_message_resolves() -> None:
    data = hot_data(HotConfig(hot=200, others=5, people=20))
    stamps = []
    for raw in data.lines:
        try:
            doc = orjson.loads(raw)
            stamps.append(parse_iso_ms(doc["timestamp"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue
    assert stamps == sorted(stamps)
    result = run_offline(
        data.lines,
        InMemoryDirectory.of(data.accounts, data.contacts),
        load_model(),
        keep_touchpoints=True,
    )
    hot = [t for t in result.resolved if t.account.account_id == HOT_ID]
    assert len(hot) == 200
    assert any(not t.known_person for t in hot)
    assert {t.role for t in hot if t.known_person} <= {c.role for c in data.contacts}
    assert len(result.resolved) > 200  # the other accounts' traffic is there too
