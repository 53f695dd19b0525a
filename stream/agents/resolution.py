"""Resolution agent: raw Segment messages -> touchpoints keyed by account id.

Parses (bad input -> dead letter), drops the messages of persons on the suppression list
(counted, nothing of them kept: `abm.privacy.suppression`), learns person links from
identify/group calls, fetches the directory views of a batch of messages at once and calls the
pure `abm.core.resolution.resolve` for each. Unresolved touchpoints are parked on their own
topic with the reason, never dropped. A resolved touchpoint names its person by pseudonym only;
the known persons among them are written to the directory's pseudonym index first
(`abm.directory.pseudonym_index`), so the alerts and pages can name them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from abm.core.marketing_channel import channel_of
from abm.core.resolution import (
    DirectoryView,
    LearnedLinks,
    Unresolved,
    learn,
    person_key,
    person_of,
    resolve,
)
from abm.core.segment import TOUCHPOINT_TYPES, Ignored, Invalid, SegmentMessage, parse_message
from abm.directory.pseudonym_index import PseudonymIndexer
from abm.directory.store import DirectoryStore, link_fields
from abm.plumbing.redis_clients import open_directory
from abm.privacy.suppression import SuppressionList
from stream import metrics, topics
from stream.record_io import ingest_ms, send_dead_letter, send_record
from stream.transport import ack_events, event_batches

if TYPE_CHECKING:
    from stream.app import Pipeline

log = logging.getLogger(__name__)
STAGE = "resolution"


def register(pipe: Pipeline) -> None:
    settings = pipe.settings

    @pipe.app.agent(pipe.raw, name=f"{settings.app_id}-resolution")
    async def resolution(stream: Any) -> None:
        directory = await open_directory(settings)
        indexer = PseudonymIndexer(directory, int(settings.resolved_retention_days * 86_400))
        suppression = pipe.suppression
        metrics.SUPPRESSED.labels(stage=STAGE)  # a 0 series from the start
        async for events in event_batches(
            stream, settings.resolution_batch_size, settings.resolution_batch_wait_s
        ):
            metrics.RAW_RECEIVED.inc(len(events))
            await _with_retry(suppression.refresh)
            try:
                await handle_batch(pipe, directory, indexer, suppression, events)
            except Exception:  # bad input must never stop the pipe: find the culprit
                log.exception("resolution of a batch failed; retrying it message by message")
                for event in events:
                    try:
                        await handle_batch(pipe, directory, indexer, suppression, [event])
                    except Exception as exc:
                        log.exception("resolution failed at offset %s", event.message.offset)
                        await send_dead_letter(pipe, event, STAGE, "internal_error", repr(exc))
            ack_events(stream, events)  # their outputs are in the producer's buffer


async def handle_batch(
    pipe: Pipeline,
    directory: DirectoryStore,
    indexer: PseudonymIndexer,
    suppression: SuppressionList,
    events: list[Any],
) -> None:
    """Resolve a batch in order with one directory lookup for all its touchpoints (two Redis
    round trips), then write what its identify and group calls taught (one more).

    An identify or group call is learned before the touchpoints after it, as one message at a
    time would: each touchpoint is looked up with the links learned for its person earlier in
    the batch laid over what Redis holds, and the lookup reads Redis before the batch's own
    links are written, so a touchpoint before such a call does not see it."""
    pending: list[tuple[Any, SegmentMessage, str]] = []
    overlays: list[Mapping[str, str] | None] = []
    learned: dict[str, Mapping[str, str]] = {}  # person -> fields learned so far in this batch
    calls: list[tuple[LearnedLinks, str]] = []
    received: Counter[str] = Counter()  # channel -> touchpoints, counted once per batch
    for event in events:
        parsed = parse_message(event.message.value or b"", pipe.settings.max_event_bytes)
        if isinstance(parsed, Invalid):
            await send_dead_letter(pipe, event, STAGE, parsed.reason, parsed.detail)
        elif isinstance(parsed, Ignored):
            metrics.IGNORED.labels(type=parsed.message_type).inc()
        elif suppression.suppresses(parsed):
            metrics.SUPPRESSED.labels(stage=STAGE).inc()  # neither resolved nor learned from
        elif parsed.type in TOUCHPOINT_TYPES:
            channel = channel_of(parsed.event, pipe.model)
            received[channel] += 1
            pending.append((event, parsed, channel))
            person = person_key(parsed.user_id, parsed.anonymous_id)
            overlays.append(learned.get(person) if person else None)
        else:
            links = learn(parsed)
            if links is not None:
                calls.append((links, parsed.type))
                # a new mapping, never changed in place: the touchpoints before keep theirs
                learned[links.person] = {**learned.get(links.person, {}), **link_fields(links)}
    for channel, count in received.items():
        metrics.child(metrics.RECEIVED, channel).inc(count)
    views = await _with_retry(
        lambda: directory.views_for([message for _, message, _ in pending], overlays)
    )
    await _with_retry(partial(directory.learn_many, [links for links, _ in calls]))
    for _, kind in calls:
        metrics.DIRECTORY_UPDATES.labels(type=kind).inc()
    await _resolve(pipe, indexer, pending, views)


async def _resolve(
    pipe: Pipeline,
    indexer: PseudonymIndexer,
    batch: list[tuple[Any, SegmentMessage, str]],
    views: list[DirectoryView],
) -> None:
    if not batch:
        return
    key = pipe.settings.pseudonym_secret()
    results = [
        resolve(message, view, pseudonym_key=key)
        for (_, message, _), view in zip(batch, views, strict=True)
    ]
    for (_, message, _), view, result in zip(batch, views, results, strict=True):
        if not isinstance(result, Unresolved) and result.known_person:
            person = person_of(message, view)
            name = person.value if person.kind == "email" else person.person_key
            assert name is not None
            indexer.note(result.contact, name)
    await _with_retry(indexer.flush)  # named before anything downstream can show them
    resolved, unresolved = pipe.topic_name(topics.RESOLVED), pipe.topic_name(topics.UNRESOLVED)
    counts: Counter[tuple[str, str, str]] = Counter()  # (outcome, reason or step, channel)
    for (event, _, channel), result in zip(batch, results, strict=True):
        if isinstance(result, Unresolved):
            counts["unresolved", result.reason, channel] += 1
            await send_record(
                pipe,
                unresolved,
                event.message.key,
                event.message.value,
                [
                    (topics.HEADER_REASON, result.reason.encode()),
                    (topics.HEADER_DETAIL, result.detail.encode()),
                ],
            )
            continue
        counts["resolved", result.resolved_by, channel] += 1
        await send_record(
            pipe,
            resolved,
            topics.account_key(result.account.account_id),
            result.to_json(),
            [(topics.HEADER_INGEST_MS, str(ingest_ms(event)).encode())],
        )
    for (outcome, why, channel), count in counts.items():
        if outcome == "resolved":
            metrics.child(metrics.RESOLVED, why, channel).inc(count)
        else:
            metrics.UNRESOLVED.labels(reason=why, channel=channel).inc(count)


async def _with_retry(call: Any, first_delay_s: float = 0.2, max_delay_s: float = 5.0) -> Any:
    """Retry a directory call until Redis answers: blocking the partition loses nothing, while
    skipping the message would."""
    delay = first_delay_s
    while True:
        try:
            return await call()
        except (ConnectionError, OSError, TimeoutError) as exc:
            error: Exception = exc
        except Exception as exc:
            if type(exc).__module__.split(".")[0] != "redis":
                raise
            error = exc
        metrics.DIRECTORY_RETRIES.inc()
        log.warning("directory unavailable (%s); retrying in %.1f s", error, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_delay_s)
