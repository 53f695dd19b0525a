"""The plain-text rendering (console, e-mail text, `abm mqa tail`) of the typed event."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from abm.core.mqa_event import MqaEvent
from alerting.render import render_text

DATA = Path(__file__).parents[2] / "data"


def pinned() -> MqaEvent:
    return MqaEvent.from_json((DATA / "mqa-event-act-now.json").read_bytes())


def test_the_text_is_the_one_rendered_before_the_event_was_typed() -> None:
    # tests/data/mqa-event-act-now.txt: render_text of the same event when it was a plain dict
    assert render_text(pinned()) + "\n" == (DATA / "mqa-event-act-now.txt").read_text("utf-8")


def test_the_owner_line_shows_the_owner_and_the_due_time_of_the_event() -> None:
    event = pinned()
    routed = event.with_routing(
        replace(event.owner, email="ae@vendor.example"),
        replace(event.follow_up, due_at="2026-03-02T10:15:00.000Z", sla_seconds=4500),
    )
    owner_line = render_text(routed).splitlines()[-2]
    assert owner_line == (
        "  Owner   : ae@vendor.example (Slack U0AE) | follow up by 2026-03-02 10:15 UTC (75 min)"
    )
