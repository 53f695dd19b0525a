"""Which message a raw record is keyed by (`producers.partition_keys.routable`)."""

from __future__ import annotations

import orjson

from abm.core.segment import SegmentMessage
from producers.partition_keys import routable
from tests.support.factories import segment_bytes


def test_a_message_is_keyed_by_itself_whatever_its_size() -> None:
    big = orjson.loads(segment_bytes())
    big["properties"] = {"padding": "x" * 100_000}  # past the worker's 32 KB default
    message = routable(orjson.dumps(big))
    assert isinstance(message, SegmentMessage) and message.message_id == big["messageId"]


def test_a_record_that_is_not_a_message_has_none() -> None:
    assert routable(b"not json") is None
    assert routable(orjson.dumps({"type": "track"})) is None  # no ids, no event
