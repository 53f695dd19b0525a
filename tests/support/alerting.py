"""Test support for alerting: MQA events made by the real engine (the polls are
`tests.support.polling`). The Slack and SMTP stand-ins are in `tests.faults.providers`."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from abm.core.mqa_event import MqaEvent
from abm.core.privacy import clear_key_pseudonym
from abm.core.records import AccountRecord
from abm_cli.settings import Settings
from tests.support.factories import T0, account, mqas, qualifying_group, replay, touchpoint


def mqa_event(
    account_id: str = "acme",
    *,
    name: str | None = None,
    tier: int = 1,
    owner_email: str | None = "ae@vendor.example",
    owner_slack_id: str | None = "U0AE",
    at_ms: int = T0,
    act_now: bool = False,
    pseudonym_key: bytes | None = None,
) -> dict[str, Any]:
    """The MQA event the engine emits for a buying group qualifying at `at_ms` (or, with
    `act_now`, a demo request). With `pseudonym_key` the touchpoints name their persons by
    pseudonym, as resolved ones do (`dana@acme.com` becomes `clear_key_pseudonym(...)`);
    without, by their e-mails, which the renderers show as they are."""
    record: AccountRecord = account(
        account_id,
        name=name or f"{account_id.title()} BV",
        domains=(f"{account_id}.example",),
        tier=tier,
        owner_email=owner_email,
        owner_slack_id=owner_slack_id,
    )
    if act_now:
        touches = [touchpoint("Demo Requested", at_ms=at_ms, account_record=record,
                              contact=f"dana@{account_id}.example")]  # fmt: skip
    else:
        touches = qualifying_group(at_ms, record)
    if pseudonym_key is not None:
        touches = [
            replace(t, contact=clear_key_pseudonym(t.contact, pseudonym_key)) for t in touches
        ]
    _, outcomes = replay(touches)
    [event] = mqas(outcomes)
    return event


def typed_mqa_event(account_id: str = "acme", **options: Any) -> MqaEvent:
    """`mqa_event(account_id, **options)` parsed as the alert service parses an MQA record."""
    return MqaEvent.from_dict(mqa_event(account_id, **options))


def alert_settings(**values: Any) -> Settings:
    """Settings of the alert service from `values` alone: no `.env` file is read."""
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]
