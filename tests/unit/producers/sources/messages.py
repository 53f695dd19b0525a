"""The checks every source's mapping tests share."""

from __future__ import annotations

from typing import Any

import orjson

from abm.core.segment import SegmentMessage, parse_message


def as_segment(message: dict[str, Any]) -> SegmentMessage:
    """A mapped message as the engine parses it: it must be a valid Segment message."""
    parsed = parse_message(orjson.dumps(message), 32 * 1024)
    assert isinstance(parsed, SegmentMessage), parsed
    return parsed
