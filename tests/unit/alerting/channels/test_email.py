"""The e-mail channel's routes: the owner's address, else the fallback, else no route."""

from __future__ import annotations

from alerting.channels.email import EmailChannel
from alerting.content import Owner
from alerting.recipients import Route
from tests.support.alerting import alert_settings


def test_mqa_to_the_owner_else_the_fallback_else_no_route() -> None:
    settings = alert_settings(smtp_host="smtp", alert_fallback_email="revops@vendor.example")
    owner = Owner("ae@vendor.example", "U0AE")
    assert EmailChannel.mqa_route(settings, owner) == Route("email", "ae@vendor.example")
    assert EmailChannel.mqa_route(settings, Owner(None, "U0AE")) == Route(
        "email", "revops@vendor.example"
    )
    assert EmailChannel.mqa_route(alert_settings(smtp_host="smtp"), Owner(None, None)) == Route(
        "email", None
    )


def test_escalations_only_with_an_escalation_address() -> None:
    settings = alert_settings(smtp_host="smtp", escalation_email="head-of-sales@vendor.example")
    assert EmailChannel.escalation_route(settings) == Route("email", "head-of-sales@vendor.example")
    assert EmailChannel.escalation_route(alert_settings(smtp_host="smtp")) is None
