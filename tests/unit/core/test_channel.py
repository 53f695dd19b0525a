"""Channel of a touchpoint: the metric label RevOps slices throughput by."""

from __future__ import annotations

import pytest

from abm.core.channel import CHANNELS, channel_of
from tests.factories import default_model

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
