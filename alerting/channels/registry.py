"""The registered alert channels, by name: what `ABM_ALERT_CHANNELS` may name, in the order
`auto` turns them on. A new channel is its module and one line here."""

from __future__ import annotations

from typing import Final

from alerting.channels.base import Channel
from alerting.channels.console import ConsoleChannel
from alerting.channels.email import EmailChannel
from alerting.channels.slack import SlackChannel
from alerting.channels.webhook import WebhookChannel

CHANNELS: Final[dict[str, type[Channel]]] = {
    channel.name: channel
    for channel in (
        SlackChannel,
        EmailChannel,
        WebhookChannel,
        ConsoleChannel,
    )
}
