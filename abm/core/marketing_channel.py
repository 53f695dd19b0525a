"""Which marketing channel a touchpoint came through: a small fixed set, for metric labels.

RevOps reads throughput, unresolved and dead-lettered touchpoints per channel (website, e-mail
platform, ads, LinkedIn, webinar tool, CRM). The channel follows from the event: a page view is
the website; a track event's channel follows from its signal class in the scoring model, with
LinkedIn's own events (named `LinkedIn ...` in the contract) on the LinkedIn channel whatever
their class. An event the model does not know is `other`. A record that breaks the contract is
counted by the channel its bytes still tell (`channel_of_record`), else `unknown`.
"""

from __future__ import annotations

from typing import Final

import orjson

from abm.core.model import ScoringModel
from abm.core.segment import PAGE_EVENT

WEB: Final = "web"
EMAIL: Final = "email"
ADS: Final = "ads"
LINKEDIN: Final = "linkedin"
WEBINAR: Final = "webinar"
CRM: Final = "crm"
OTHER: Final = "other"
UNKNOWN: Final = "unknown"

CHANNELS: Final = (WEB, EMAIL, ADS, LINKEDIN, WEBINAR, CRM, OTHER, UNKNOWN)
"""Every value `channel_of` can return, plus `unknown` for unparseable input."""

_BY_CLASS: Final = {
    "high_intent": WEB,
    "web": WEB,
    "content": WEB,
    "form": WEB,
    "email": EMAIL,
    "ads": ADS,
    "social": LINKEDIN,
    "webinar": WEBINAR,
    "sales": CRM,
}
_LINKEDIN_PREFIX: Final = "linkedin "


def channel_of(event: str | None, model: ScoringModel) -> str:
    """The channel of a touchpoint with this event name (`Page Viewed` for pages)."""
    if event is None:
        return UNKNOWN
    if event == PAGE_EVENT:
        return WEB
    if event.lower().startswith(_LINKEDIN_PREFIX):
        return LINKEDIN
    rule = model.events.get(event)
    if rule is None:
        return OTHER
    return _BY_CLASS.get(rule.class_, OTHER)


def channel_of_record(raw: bytes, model: ScoringModel, max_bytes: int) -> str:
    """The channel of a record that could not be processed, when its bytes still tell: a JSON
    object whose `type` is `page`, or that names an `event` (a track message, or an internal
    touchpoint). Records over `max_bytes` are not parsed again: `unknown`."""
    if not raw or len(raw) > max_bytes:
        return UNKNOWN
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return UNKNOWN
    if not isinstance(doc, dict):
        return UNKNOWN
    kind = doc.get("type")
    if kind == "page":
        return WEB
    event = doc.get("event")
    if isinstance(event, str) and kind in ("track", None):
        return channel_of(event, model)
    return UNKNOWN
