"""The console channel: the plain-text rendering on a stream (stdout), the demo's channel."""

from __future__ import annotations

from typing import IO

from abm.settings import AlertSettings
from alerting.channels.base import Channel, Needs, Outgoing
from alerting.content import MqaAlert, Owner
from alerting.recipients import CONSOLE, STDOUT_TARGET, Route
from alerting.render import render_text
from alerting.retry import Attempt


class ConsoleChannel(Channel):
    """Writes every alert and escalation to `out`. Never turned on by `auto` when another
    channel is configured; on by itself when none is."""

    name = CONSOLE
    auto = False

    def __init__(self, out: IO[str]) -> None:
        self._out = out

    @classmethod
    def configured(cls, settings: AlertSettings) -> bool:
        return True

    @classmethod
    def mqa_route(cls, settings: AlertSettings, owner: Owner) -> Route:
        return Route(CONSOLE, STDOUT_TARGET)

    @classmethod
    def escalation_route(cls, settings: AlertSettings) -> Route | None:
        return Route(CONSOLE, STDOUT_TARGET)

    @classmethod
    def from_settings(cls, settings: AlertSettings, needs: Needs) -> ConsoleChannel:
        return cls(needs.out)

    def render(self, item: Outgoing, target: str, mention: bool) -> str:
        content = item.content
        return render_text(content.event) if isinstance(content, MqaAlert) else content.text()

    async def send(self, item: Outgoing, target: str, mention: bool) -> Attempt:
        self._out.write("\n" + self.render(item, target, mention) + "\n")
        self._out.flush()
        return Attempt("sent", "ok")
