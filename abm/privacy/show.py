"""`abm privacy show`: what the engine holds about a person, for an access request (GDPR art.
15): the directory's records and links, whether they are suppressed, and every account state
that names them (read from the latest records of the engagement table's changelog, where a
person is named by their pseudonyms; a state written by a version that named persons in the
clear is matched by its keys' pseudonyms).

The topics' raw and resolved touchpoints (kept 7 and 400 days) are not searched: they are the
events as received, and docs/privacy.md says so.
"""

from __future__ import annotations

from typing import Any

import orjson
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, TopicPartition

from abm.core.erasure import contact_keys_of
from abm.core.privacy import Identity, clear_key_pseudonym
from abm.core.state import AccountState, StateVersionError
from abm.core.timefmt import iso_ms
from abm.directory.store import DirectoryStore
from abm.plumbing.partition_reader import keyed_records
from abm.plumbing.topics_admin import partitions_of
from abm.privacy.forget import person_identities
from abm.privacy.suppression import SuppressionList
from abm.settings import CommonSettings
from stream.topics import engagement_changelog


async def show(settings: CommonSettings, redis: aioredis.Redis, person: Identity) -> dict[str, Any]:
    directory = DirectoryStore(redis, settings.redis_prefix, cache_ttl=0)
    identities = await person_identities(directory, person)
    suppression = SuppressionList(redis, settings.redis_prefix, settings.pseudonym_secret())
    contacts = []
    links = []
    for identity in identities:
        if identity.kind == "email":
            record = await directory.contact(identity.value)
            if record is not None:
                contacts.append(record.to_dict())
        else:
            key = (
                f"user:{identity.value}" if identity.kind == "user_id" else f"anon:{identity.value}"
            )
            linked = await redis.hgetall(directory.keys.person(key))
            if linked:
                links.append({"person": key, **{_text(k): _text(v) for k, v in linked.items()}})
    secret = settings.pseudonym_secret()
    pseudonyms = {i.pseudonym(secret): i for i in identities}
    indexed = await directory.names_of(pseudonyms)
    return {
        "identities": [
            {"kind": i.kind, "value": i.value, "pseudonym": p} for p, i in pseudonyms.items()
        ],
        "suppressed": any([await suppression.holds(i) for i in identities]),
        "directory": {
            "contacts": contacts,
            "person_links": links,
            "pseudonym_index": sorted(indexed),
        },
        "accounts": await _accounts_naming(settings, set(pseudonyms), secret),
    }


async def _accounts_naming(
    settings: CommonSettings, pseudonyms: set[str], secret: bytes
) -> list[dict[str, Any]]:
    """What the latest state of each account says of the persons of `pseudonyms`."""
    name = engagement_changelog(settings.app_id)
    try:
        partitions = (await partitions_of(settings.kafka_bootstrap_servers, [name]))[name]
    except LookupError:
        return []  # no worker ever ran: no account state
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    found: dict[bytes, dict[str, Any]] = {}
    try:
        for partition in partitions:
            tp = TopicPartition(name, partition)
            end = (await consumer.end_offsets([tp]))[tp]
            async for records, _ in keyed_records(consumer, tp, end):
                for record in records:
                    _take(found, record.key, record.value, pseudonyms, secret)
    finally:
        await consumer.stop()
    return [found[key] for key in sorted(found)]


def _take(
    found: dict[bytes, dict[str, Any]],
    key: bytes,
    value: bytes | None,
    pseudonyms: set[str],
    secret: bytes,
) -> None:
    """A later record of an account replaces what an earlier one said (a tombstone, or a state
    that no longer names the person, removes it)."""
    found.pop(key, None)
    if value is None:
        return
    try:
        state = AccountState.from_bytes(value)
    except (StateVersionError, ValueError):
        return
    keys = {k for k in contact_keys_of(state) if clear_key_pseudonym(k, secret) in pseudonyms}
    named = sorted(keys & set(state.contacts))
    timeline = [t for t in state.timeline if t.contact in keys]
    in_mqas = [
        r.mqa_id
        for r in state.mqa_history
        if any(k in orjson.dumps(r.event).decode() for k in keys)
    ]
    if not (named or timeline or in_mqas):
        return
    found[key] = {
        "account_id": key.decode(errors="replace"),
        "contacts": [
            {
                "contact": k,
                "role": state.contacts[k].role,
                "seniority": state.contacts[k].seniority,
                "title": state.contacts[k].title,
                "touches": state.contacts[k].touches,
                "last_touch": iso_ms(state.contacts[k].last_touch_ms),
            }
            for k in named
        ],
        "timeline": [
            {"at": iso_ms(t.at_ms), "activity": t.activity, "points": t.points, "url": t.url}
            for t in timeline
        ],
        "mqas_naming_them": in_mqas,
    }


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
