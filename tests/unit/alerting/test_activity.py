"""The sales.activity record: what is accepted, and what is refused with which field."""

from __future__ import annotations

from typing import Any

import pytest

from alerting.activity import ActivityError, SalesActivity
from tests.support.factories import T0, T0_ISO

GOOD: dict[str, Any] = {"activity_id": "a1", "account_id": "acme", "kind": "call", "at": T0_ISO}


def test_an_activity_round_trips() -> None:
    activity = SalesActivity.from_dict({**GOOD, "by": "ae@vendor.example", "source": "crm"})
    assert activity.at_ms == T0 and activity.kind == "call" and activity.source == "crm"
    assert SalesActivity.from_json(activity.to_json()) == activity
    assert activity.follow_up().mqa_id is None


def test_an_acknowledgement_follows_up_its_own_mqa() -> None:
    ack = SalesActivity.from_dict({**GOOD, "kind": "ack", "mqa_id": "mqa_1"})
    assert ack.follow_up().mqa_id == "mqa_1"


def test_at_ms_wins_and_a_default_time_may_be_given() -> None:
    assert SalesActivity.from_dict({**GOOD, "at_ms": T0 + 5}).at_ms == T0 + 5
    no_time = {k: v for k, v in GOOD.items() if k != "at"}
    assert SalesActivity.from_dict(no_time, default_at_ms=7).at_ms == 7


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"account_id": None}, "account_id: missing"),
        ({"activity_id": 5}, "activity_id: must be a string"),
        ({"kind": "lunch"}, "kind: must be one of"),
        ({"at": "yesterday"}, "at: not an ISO-8601 time"),
        ({"at": None}, "at: missing"),
        ({"at_ms": "1"}, "at_ms: must be an integer"),
        ({"kind": "ack"}, "mqa_id: required"),
        ({"note": "x" * 2001}, "note: longer than 2000"),
    ],
    ids=["no account", "id not a string", "unknown kind", "bad time", "no time",
         "at_ms not an integer", "ack without its MQA", "note too long"],
)  # fmt: skip
def test_bad_activities_name_the_field(change: dict[str, Any], why: str) -> None:
    with pytest.raises(ActivityError, match=why):
        SalesActivity.from_dict({**GOOD, **change})


def test_not_json_or_not_an_object() -> None:
    with pytest.raises(ActivityError, match="not JSON"):
        SalesActivity.from_json(b"{")
    with pytest.raises(ActivityError, match="not a JSON object"):
        SalesActivity.from_json(b"[1]")
