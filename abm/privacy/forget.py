"""`abm privacy forget`: erase a person from the directory and the account states, suppress
their new events, and keep an audit record that names them only by pseudonym.

Steps, each idempotent, so running the command again after a failure finishes the job:

1. gather the person's identities: the one given, and for an e-mail the userIds and
   anonymousIds the directory linked to it (for an id, the e-mail it was linked to, and that
   e-mail's other ids);
2. suppress them all (`abm.privacy.suppression`): from here on nothing new of theirs is taken;
3. publish an erasure command (`abm.core.erasure.ErasureCommand`: contact pseudonyms only) to
   every partition of privacy.erasure; each worker scrubs the accounts of its partitions and
   writes the scrubbed states, which replace the compacted changelog records;
4. delete the contact record, the person links and the pseudonym index entries (what names
   the person at the edges) from the directory;
5. append the audit record: the erasure id, the time, the pseudonym of the identity asked for.

Redis keys: `{prefix}:privacy:audit`, a stream of at most `MAX_AUDIT_ENTRIES` records.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Final

import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer

from abm.core.erasure import ErasureCommand, erasure_pseudonyms
from abm.core.privacy import Identity
from abm.directory.store import DirectoryStore
from abm.plumbing.topics_admin import ensure_topics, partitions_of
from abm.privacy.suppression import SuppressionList
from abm.settings import CommonSettings
from stream.topics import PRIVACY_ERASURE

MAX_AUDIT_ENTRIES: Final = 1_000_000
"""Audit records kept (a Redis stream trimmed to about this many; 100 bytes each)."""


@dataclass(frozen=True)
class ForgetReport:
    erasure_id: str
    identities: int
    """The identities erased and suppressed (the one asked for and those linked to it)."""
    directory: bool
    """Whether the directory held a contact record or a link of the person."""
    partitions: int
    """Partitions of privacy.erasure the command was written to."""


async def person_identities(directory: DirectoryStore, person: Identity) -> list[Identity]:
    """`person` and the identities the directory links to it."""
    found = {person}
    emails = {person.value} if person.kind == "email" else set()
    if person.person_key is not None:
        linked_email = await directory.linked_email(person.person_key)
        if linked_email:
            emails.add(linked_email)
    for email in emails:
        found.add(Identity("email", email))
        for key in await directory.linked_persons(email):
            identity = Identity.of_person_key(key)
            if identity is not None:
                found.add(identity)
    return sorted(found, key=lambda i: (i.kind, i.value))


async def forget(settings: CommonSettings, redis: aioredis.Redis, person: Identity) -> ForgetReport:
    secret = settings.pseudonym_secret()
    directory = DirectoryStore(redis, settings.redis_prefix, cache_ttl=0)
    identities = await person_identities(directory, person)
    await SuppressionList(redis, settings.redis_prefix, secret).add(person, identities)

    command = ErasureCommand(
        erasure_id=uuid.uuid4().hex,
        at_ms=int(time.time() * 1000),
        pseudonyms=tuple(erasure_pseudonyms(identities, secret)),
    )
    partitions = await _publish(settings, command)

    erased = False
    for identity in identities:
        if identity.person_key is None:
            erased = await directory.forget_contact(identity.value) or erased
        else:
            erased = await directory.forget_person(identity.person_key) or erased
    erased = bool(await directory.forget_pseudonyms(command.pseudonyms)) or erased

    await redis.xadd(
        f"{settings.redis_prefix}:privacy:audit",
        {
            "erasure_id": command.erasure_id,
            "at_ms": str(command.at_ms),
            "action": "forget",
            "pseudonym": person.pseudonym(secret),
        },
        maxlen=MAX_AUDIT_ENTRIES,
        approximate=True,
    )
    return ForgetReport(command.erasure_id, len(identities), erased, partitions)


async def _publish(settings: CommonSettings, command: ErasureCommand) -> int:
    """The command on every partition of privacy.erasure (each worker owns some)."""
    await ensure_topics(settings, (PRIVACY_ERASURE,))
    name = PRIVACY_ERASURE.name(settings.topic_prefix)
    partitions = (await partitions_of(settings.kafka_bootstrap_servers, [name]))[name]
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        value = command.to_json()
        for partition in partitions:
            await producer.send_and_wait(
                name, value, key=command.erasure_id.encode(), partition=partition
            )
    finally:
        await producer.stop()
    return len(partitions)
