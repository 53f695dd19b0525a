"""Property tests of the pure collector rules: whatever the input, they answer or refuse with a
reason, and what they let through is a well-formed message."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from abm.core.segment import Invalid, SegmentMessage, parse_message
from producers import ingest
from producers.ingest import Limits, RequestError
from producers.sources import SOURCES, Delivery
from producers.webhooks import WebhookError
from tests.support.factories import T0

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)
segment_like = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["track", "page", "identify", "group"]) | json_values,
        "messageId": st.text(max_size=12) | json_values,
        "userId": st.text(max_size=8) | json_values,
        "event": st.text(max_size=8),
        "timestamp": st.sampled_from(["2026-03-02T09:00:00Z", "1969-01-01T00:00:00Z", "x"])
        | json_values,
        "originalTimestamp": json_values,
        "sentAt": st.sampled_from(["2026-03-02T09:00:05Z", "2099-01-01T00:00:00Z"]) | json_values,
        "context": json_values,
    },
)
documents = st.one_of(
    segment_like,
    st.fixed_dictionaries(
        {"batch": st.lists(segment_like | json_values, max_size=4)},
        optional={"context": json_values, "sentAt": json_values},
    ),
    st.dictionaries(st.text(max_size=8), json_values, max_size=4),
)
LIMITS = Limits(max_event_bytes=2048, max_batch_bytes=8192)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(endpoint=st.sampled_from(["batch", "track", "page"]), doc=documents)
def test_prepare_answers_or_refuses_with_a_reason(endpoint: str, doc: dict[str, Any]) -> None:
    try:
        prepared = ingest.prepare(endpoint, doc, T0, LIMITS)
    except RequestError as exc:
        assert exc.status in (400, 404, 413) and exc.message
        return
    for p in prepared.messages:
        assert len(p.value) <= LIMITS.max_event_bytes
        message = orjson.loads(p.value)
        assert "writeKey" not in message and message["receivedAt"]
        parsed = parse_message(p.value, LIMITS.max_event_bytes)
        if isinstance(parsed, SegmentMessage):  # the sender's own mistakes stay invalid
            assert parsed.timestamp_ms <= T0


payloads = st.dictionaries(
    st.sampled_from(["type", "event", "data", "payload", "created_at", "event_ts", "occuredAt",
                     "leadAction", "leadGenFormResponse", "formResponse"]),
    json_values
    | st.sampled_from(["email.opened", "email.clicked", "email.replied", "LEAD_ACTION",
                       "webinar.participant_joined", "webinar.registration_created",
                       "endpoint.url_validation", T0]),
)  # fmt: skip


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(payload=payloads, name=st.sampled_from(SOURCES.names()))
def test_webhook_mappings_answer_or_refuse_with_a_reason(
    payload: dict[str, Any], name: str
) -> None:
    source = SOURCES.get(name)
    assert source is not None
    delivery = Delivery(headers={}, body=b"", secret="secret", received_ms=T0)
    try:
        result = source.map(payload, delivery, "evt")
    except WebhookError as exc:
        assert exc.status in (400, 401) and exc.message
        return
    for message in result.messages:
        parsed = parse_message(orjson.dumps(message), 32 * 1024)
        assert not isinstance(parsed, Invalid), parsed
