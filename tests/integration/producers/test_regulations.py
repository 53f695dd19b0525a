"""`POST /v1/regulations` on a running collector with the real broker and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from abm.core.privacy import Identity
from abm.directory.store import DirectoryKeys
from abm.privacy.suppression import SuppressionList
from stream.topics import PRIVACY_ERASURE
from tests.support.collector import (
    Running,
    collector_settings,
    post,
    prepare_services,
    running_collector,
)
from tests.support.harness import read_topic

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer an-admin-key-of-the-test"}


@pytest.fixture
async def running(kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> AsyncIterator[Running]:
    settings = collector_settings(
        kafka_bootstrap, redis_url, tmp_path, privacy_admin_key="an-admin-key-of-the-test"
    )
    await prepare_services(settings)
    async with running_collector(settings) as collector:
        yield collector


async def test_suppress_then_lift_by_user_id(running: Running, client: aioredis.Redis) -> None:
    url = f"{running.url}/v1/regulations"
    asked = {"regulationType": "Suppress_Only", "subjectType": "USER_ID", "subjectIds": ["u-9"]}
    code, doc, _ = await post(url, asked, headers=ADMIN)
    assert (code, doc["results"]) == (200, [{"subjectId": "u-9", "status": "suppressed"}])
    settings = running.settings
    suppression = SuppressionList(client, settings.redis_prefix, settings.pseudonym_secret())
    assert await suppression.holds(Identity("user_id", "u-9"))

    code, doc, _ = await post(url, {**asked, "regulationType": "Unsuppress"}, headers=ADMIN)
    assert doc["results"] == [{"subjectId": "u-9", "status": "unsuppressed"}]
    code, doc, _ = await post(url, {**asked, "regulationType": "Unsuppress"}, headers=ADMIN)
    assert doc["results"] == [{"subjectId": "u-9", "status": "not_suppressed"}]


async def test_delete_forgets_the_contact_and_sends_the_erasure(
    running: Running, client: aioredis.Redis
) -> None:
    asked = {
        "regulationType": "Suppress_With_Delete",
        "subjectType": "EMAIL",
        "subjectIds": ["Dana@Acme.com"],
    }
    code, doc, _ = await post(f"{running.url}/v1/regulations", asked, headers=ADMIN)
    assert code == 200, doc
    [result] = doc["results"]
    assert result["subjectId"] == "dana@acme.com" and result["status"] == "forgotten"
    settings = running.settings
    commands = await read_topic(settings, PRIVACY_ERASURE, until=settings.partitions)
    assert {r.json()["erasure_id"] for r in commands} == {result["erasureId"]}
    assert b"dana" not in b"".join(r.value for r in commands)
    contact = DirectoryKeys(settings.redis_prefix).contact("dana@acme.com")
    assert not await client.exists(contact)


@pytest.mark.parametrize(
    ("headers", "body", "status", "code"),
    [
        ({}, {}, 401, "unauthorized"),
        ({"Authorization": "Basic b3RoZXIta2V5Og=="}, {}, 401, "unauthorized"),
        (ADMIN, {"regulationType": "Suppress_Only"}, 400, "invalid"),
    ],
    ids=["no key", "a write key", "no subjects"],
)
async def test_a_request_without_the_admin_key_or_subjects_changes_nothing(
    running: Running,
    client: aioredis.Redis,
    headers: dict[str, str],
    body: dict[str, str],
    status: int,
    code: str,
) -> None:
    sent, doc, _ = await post(f"{running.url}/v1/regulations", body, headers=headers)
    assert (sent, doc["code"]) == (status, code)
    assert not [k async for k in client.scan_iter(f"{running.settings.redis_prefix}:privacy:*")]


async def test_the_api_is_off_without_an_admin_key(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    settings = collector_settings(kafka_bootstrap, redis_url, tmp_path)
    await prepare_services(settings)
    async with running_collector(settings) as off:
        code, doc, _ = await post(f"{off.url}/v1/regulations", {}, headers=ADMIN)
    assert (code, doc["code"]) == (404, "not_configured")
