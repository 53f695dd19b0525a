"""E-mail rendering: multipart text + HTML with the same content, escaped, with the links."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

from alerting.content import Escalation, Owner, account_url, build_alert
from alerting.email_render import escalation_email, message_id, mqa_email
from alerting.render import render_text
from tests.support.alerting import typed_mqa_event
from tests.support.factories import HOUR, T0


def sent(message: EmailMessage) -> EmailMessage:
    """The message as a receiver parses it."""
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_an_mqa_email_has_a_text_and_an_html_part_with_the_same_content() -> None:
    event = typed_mqa_event(name="Fish & <Chips>")
    alert = build_alert(
        event, owner=Owner("ae@vendor.example", None), due_at_ms=T0 + 4 * HOUR,
        account_link=account_url("https://abm.example", "acme"),
        ack_url="https://alerts.example/ack?m=x&a=acme&t=abc",
        verdict_urls=(("Good lead", "https://alerts.example/verdict?v=good&t=1"),
                      ("Not a fit", "https://alerts.example/verdict?v=not_a_fit&t=2")),
    )  # fmt: skip
    message = sent(mqa_email(alert, sender="ABM <abm@vendor.example>",
                             recipient="ae@vendor.example", delivery_id="mqa_1:email",
                             now_ms=T0))  # fmt: skip
    assert message.get_content_type() == "multipart/alternative"
    text_part = message.get_body(("plain",))
    html_part = message.get_body(("html",))
    assert text_part is not None and html_part is not None
    text, html = text_part.get_content(), html_part.get_content()
    assert render_text(alert.event).strip() in text
    assert "View account: https://abm.example/accounts/acme" in text
    assert "Acknowledge (counts as your follow-up): https://alerts.example/ack?m=x" in text
    assert "Fish &amp; &lt;Chips&gt;" in html and "<Chips>" not in html
    for contact in ("chris@acme.com", "dana@acme.com", "tess@acme.com"):
        assert contact in text and contact in html
    assert "84 / 70 threshold" in html and "2026-03-02 13:00 UTC (4 h)" in html
    assert 'href="https://alerts.example/ack?m=x&amp;a=acme&amp;t=abc"' in html
    assert "Good lead: https://alerts.example/verdict?v=good&t=1" in text
    assert "Not a fit: https://alerts.example/verdict?v=not_a_fit&t=2" in text
    assert '<a href="https://alerts.example/verdict?v=good&amp;t=1">Good lead</a>' in html
    assert '<a href="https://alerts.example/verdict?v=not_a_fit&amp;t=2">Not a fit</a>' in html
    assert message["To"] == "ae@vendor.example"
    assert message["Subject"] == (
        "MQA: Fish & <Chips> (tier 1, threshold rule) - follow up by 2026-03-02 13:00 UTC"
    )
    assert message["Message-ID"] == message_id("mqa_1:email")
    assert message["X-ABM-Alert-Id"] == "mqa_1:email"


def test_the_message_id_is_stable_per_delivery() -> None:
    assert message_id("a") == message_id("a") != message_id("b")


def test_an_escalation_email_has_both_parts() -> None:
    escalation = Escalation(
        mqa_id="mqa_1", account_id="acme", account_name="Acme BV", tier=2, rule="threshold",
        qualified_at_ms=T0, due_at_ms=T0 + 24 * HOUR, sla_seconds=86_400,
        owner=Owner(None, None), account_url="https://abm.example/accounts/acme",
    )  # fmt: skip
    message = sent(escalation_email(escalation, sender="abm@vendor.example",
                                    recipient="sales-lead@vendor.example",
                                    delivery_id="esc_mqa_1:email", now_ms=T0))  # fmt: skip
    text_part, html_part = message.get_body(("plain",)), message.get_body(("html",))
    assert text_part is not None and html_part is not None
    assert "nobody (unowned account)" in text_part.get_content()
    assert "Follow-up SLA breached: Acme BV (tier 2)" in html_part.get_content()
    assert "(24 h SLA)" in text_part.get_content()
