"""The internal touchpoint and its JSON codec."""

from __future__ import annotations

import orjson
import pytest

from abm.core.touchpoint import SCHEMA_VERSION, Touchpoint
from tests.support.factories import T0, account, page, touchpoint


@pytest.mark.parametrize(
    "tp",
    [
        touchpoint(),
        page("/pricing", title="VP IT", seniority="vp", resolved_by="domain"),
        touchpoint("Content Downloaded", premium=True, contact="user:u-1", role="other"),
        touchpoint("Ad Clicked", contact="anon:a-1", known=False, seniority="unknown"),
        touchpoint(account_record=account("b", tier=3, icp_fit=55.5, value_score=2)),
    ],
    ids=[
        "a plain track touchpoint",
        "a page view with url, path and title",
        "premium content of a user id",
        "an anonymous visitor",
        "another account snapshot",
    ],
)
def test_json_round_trip_is_lossless_and_stable(tp: Touchpoint) -> None:
    raw = tp.to_json()
    again = Touchpoint.from_json(raw)
    assert again == tp
    assert again.to_json() == raw


def test_json_uses_short_wire_names() -> None:
    data = orjson.loads(page("/pricing", message_id="m-1").to_json())
    assert data == {
        "v": SCHEMA_VERSION,
        "mid": "m-1",
        "at": T0,
        "account": account().to_dict(),
        "contact": "dana@acme.com",
        "known": True,
        "role": "decision_maker",
        "seniority": "manager",
        "title": None,
        "event": "Page Viewed",
        "path": "/pricing",
        "url": "https://www.vendor.example/pricing",
        "premium": False,
        "by": "contact",
    }


@pytest.mark.parametrize(
    "version",
    [None, 0, 3, "2"],
    ids=["no version", "version 0", "a newer version", "a version as a string"],
)
def test_other_schema_versions_are_refused(version: object) -> None:
    data = orjson.loads(touchpoint().to_json())
    if version is None:
        del data["v"]
    else:
        data["v"] = version
    with pytest.raises(ValueError, match=r"touchpoint schema version .* is not supported"):
        Touchpoint.from_json(orjson.dumps(data))


def test_optional_fields_default_when_absent() -> None:
    data = orjson.loads(touchpoint(title="CTO", premium=True).to_json())
    for key in ("title", "path", "url", "premium"):
        del data[key]
    tp = Touchpoint.from_json(orjson.dumps(data))
    assert (tp.title, tp.path, tp.url, tp.premium) == (None, None, None, False)
