"""Slack rendering: the blocks parse with slack_sdk's models and stay within Block Kit limits,
text from the event is escaped, the owner is mentioned, the buttons link and acknowledge."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, HeaderBlock, SectionBlock

from abm.core.mqa_event import MqaEvent
from alerting.content import Escalation, MqaAlert, Owner, account_url, build_alert
from alerting.slack_blocks import (
    ACK_ACTION_ID,
    FIELD_MAX,
    HEADER_MAX,
    MAX_BLOCKS,
    SECTION_TEXT_MAX,
    VERDICT_ACTION_IDS,
    clip,
    escalation_message,
    escape,
    mention,
    mqa_message,
)
from tests.support.alerting import mqa_event
from tests.support.factories import HOUR, T0


def alert_of(event: dict[str, Any], owner: Owner | None = None) -> MqaAlert:
    """The alert of an event as the topic holds it (parsed as the service parses it)."""
    carried = event["owner"]
    return build_alert(
        MqaEvent.from_dict(event),
        owner=owner or Owner(carried["email"], carried["slack_id"]),
        due_at_ms=event["follow_up"]["due_at_ms"],
        account_link=account_url("https://abm.vendor.example", event["account"]["id"]),
    )


def parsed(message: dict[str, Any]) -> list[Block]:
    blocks = [Block.parse(b) for b in message["blocks"]]
    for block in blocks:
        assert block is not None
        block.validate_json()  # raises SlackObjectFormationError past a limit
    return [b for b in blocks if b is not None]


def all_text(message: dict[str, Any]) -> str:
    return str(message)


def test_an_mqa_message_parses_and_carries_the_why() -> None:
    event = mqa_event()
    message = mqa_message(alert_of(event))
    blocks = parsed(message)
    assert len(blocks) <= MAX_BLOCKS
    header = blocks[0]
    assert isinstance(header, HeaderBlock) and header.text is not None
    assert header.text.text == "MQA: Acme BV · tier 1 · threshold rule"
    intro = blocks[1]
    assert isinstance(intro, SectionBlock) and intro.text is not None
    assert intro.text.text.startswith("<@U0AE> Acme BV (tier 1, fit 80)")
    facts = blocks[2]
    assert isinstance(facts, SectionBlock) and facts.fields is not None
    texts = [f.text for f in facts.fields]
    assert texts[0] == "*Score*\n84 / 70 threshold"
    assert texts[1] == "*ICP fit*\n80"
    assert texts[2] == "*Coverage*\n75% (3/4 requirements, 3 active)"
    assert texts[3].startswith("*Surge*\nx")
    assert texts[5].startswith(f"*Follow up by*\n<!date^{(T0 + 4 * HOUR) // 1000}^")
    assert texts[5].endswith("|2026-03-02 13:00 UTC> (4 h)")
    body = all_text(message)
    for contact in ("chris@acme.com", "dana@acme.com", "tess@acme.com"):
        assert contact in body
    assert "champion" in body and "LinkedIn Lead Gen Form Submitted" in body
    assert message["text"].startswith("<@U0AE> MQA: Acme BV (tier 1, threshold rule)")


def test_the_buttons_view_the_account_and_acknowledge_the_mqa() -> None:
    event = mqa_event("acme/east")
    blocks = parsed(mqa_message(alert_of(event)))
    [actions] = [b for b in blocks if isinstance(b, ActionsBlock)]
    view, ack, good, unfit = actions.elements
    assert isinstance(view, ButtonElement) and isinstance(ack, ButtonElement)
    assert view.url == "https://abm.vendor.example/accounts/acme%2Feast"
    assert ack.action_id == ACK_ACTION_ID and ack.value == event["mqa_id"]
    # the AE's verdict, next to Acknowledge: the button's action id says which
    assert isinstance(good, ButtonElement) and isinstance(unfit, ButtonElement)
    assert good.text is not None and unfit.text is not None
    assert (good.text.text, unfit.text.text) == ("Good lead", "Not a fit")
    assert VERDICT_ACTION_IDS[str(good.action_id)] == "good"
    assert VERDICT_ACTION_IDS[str(unfit.action_id)] == "not_a_fit"
    assert good.value == unfit.value == event["mqa_id"]


def test_event_text_is_escaped_so_it_cannot_mention_or_link() -> None:
    event = mqa_event(name="<!channel> Fish & <Chips|x>")
    message = mqa_message(alert_of(event))
    parsed(message)
    intro = message["blocks"][1]["text"]["text"]
    assert "<!channel>" not in intro and "&lt;!channel&gt; Fish &amp; &lt;Chips|x&gt;" in intro
    assert "<!channel>" not in message["text"]
    # the header is plain text: shown as is, nothing to escape
    assert message["blocks"][0]["text"]["text"].startswith("MQA: <!channel> Fish & <Chips|x>")


def test_no_mention_for_an_unowned_account_or_a_malformed_id() -> None:
    assert mention(None) is None
    assert mention("U0AE> <!here") is None
    assert mention("W123ABC") == "<@W123ABC>"
    message = mqa_message(alert_of(mqa_event(owner_slack_id=None, owner_email=None)))
    assert "<@" not in all_text(message)
    quiet = mqa_message(alert_of(mqa_event()), mention_owner=False)
    assert "<@" not in all_text(quiet)


def test_long_values_are_clipped_to_block_kit_limits() -> None:
    event = mqa_event(name="N" * 400)
    event["summary"] = "S" * 5000
    event["top_contacts"] = [
        {**event["top_contacts"][0], "contact": f"person{i}-{'x' * 60}@acme.com"}
        for i in range(200)
    ]
    message = mqa_message(alert_of(event))
    blocks = parsed(message)
    header = blocks[0]
    assert isinstance(header, HeaderBlock) and header.text is not None
    assert len(header.text.text) == HEADER_MAX
    for block in message["blocks"]:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= SECTION_TEXT_MAX
        for field in block.get("fields", []):
            assert len(field["text"]) <= FIELD_MAX
    contacts = message["blocks"][4]["text"]["text"]
    assert contacts.endswith("more") and "… and " in contacts


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [("abc", 3, "abc"), ("abcd", 3, "ab…"), ("", 1, "")],
    ids=["fits", "cut with an ellipsis", "empty"],
)
def test_clip(text: str, limit: int, expected: str) -> None:
    assert clip(text, limit) == expected


def test_escape_only_touches_slacks_control_characters() -> None:
    assert escape("a & b < c > d 'e' \"f\"") == "a &amp; b &lt; c &gt; d 'e' \"f\""


def test_an_escalation_message_parses_and_names_the_breach() -> None:
    escalation = Escalation(
        mqa_id="mqa_1", account_id="acme", account_name="Acme <BV>", tier=1, rule="act_now",
        qualified_at_ms=T0, due_at_ms=T0 + HOUR // 2, sla_seconds=1800,
        owner=Owner("ae@vendor.example", "U0AE"), account_url="https://x.example/accounts/acme",
    )  # fmt: skip
    message = escalation_message(escalation)
    parsed(message)
    assert message["text"] == "Follow-up SLA breached: Acme &lt;BV&gt; (tier 1)"
    body = message["blocks"][1]["text"]["text"]
    assert "*Acme &lt;BV&gt;*" in body and "<@U0AE>" in body and "(30 min SLA)" in body
