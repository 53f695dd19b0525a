"""Channel of a touchpoint: the metric label RevOps slices throughput by."""

from __future__ import annotations

import pytest

from abm.core.marketing_channel import CHANNELS, channel_of, channel_of_record
from tests.support.factories import default_model, segment_bytes

MODEL = default_model()


@pytest.mark.parametrize(
    ("event", "channel"),
    [
        ("Page Viewed", "web"),
        ("Form Submitted", "web"),
        ("Demo Requested", "web"),
        ("Content Downloaded", "web"),
        ("Email Opened", "email"),
        ("Email Replied", "email"),
        ("Ad Clicked", "ads"),
        ("LinkedIn Ad Clicked", "linkedin"),
        ("LinkedIn Lead Gen Form Submitted", "linkedin"),
        ("LinkedIn InMail Replied", "linkedin"),
        ("Webinar Attended", "webinar"),
        ("Sales Meeting Held", "crm"),
        ("Something Nobody Defined", "other"),
        (None, "unknown"),
    ],
)
def test_channel_of(event: str | None, channel: str) -> None:
    assert channel_of(event, MODEL) == channel


def test_every_model_event_has_a_named_channel() -> None:
    for event in MODEL.events:
        assert channel_of(event, MODEL) in CHANNELS
        assert channel_of(event, MODEL) != "other", event


@pytest.mark.parametrize(
    ("raw", "channel"),
    [
        (segment_bytes("page", timestamp="last tuesday"), "web"),
        (segment_bytes("track", event="Email Replied", userId=42), "email"),
        (segment_bytes("track", event="LinkedIn Comment Posted", messageId=None), "linkedin"),
        (b'{"v": 1, "event": "Sales Meeting Held"}', "crm"),  # an internal touchpoint
        (segment_bytes("identify", userId=7), "unknown"),
        (segment_bytes("pageview"), "unknown"),
        (b'{"type": "page", "messageId": ', "unknown"),
        (b"\xff\xfe", "unknown"),
        (b"[1, 2]", "unknown"),
        (b"", "unknown"),
        (segment_bytes("page", properties={"blob": "x" * 5000}), "unknown"),  # over max_bytes
    ],
)
def test_channel_of_a_record_that_broke_the_contract(raw: bytes, channel: str) -> None:
    assert channel_of_record(raw, MODEL, max_bytes=4096) == channel
