"""`abm privacy suppress / unsuppress / check` against the real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis
from typer.testing import CliRunner

from abm.core.resolution import LearnedLinks
from abm.directory.store import DirectoryStore
from abm_cli.main import app
from abm_cli.settings import get_settings
from tests.integration.privacy.helpers import everything_stored

pytestmark = pytest.mark.integration


@pytest.fixture
def prefix(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    prefix = f"t{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("ABM_REDIS_PREFIX", prefix)
    monkeypatch.setenv("ABM_PSEUDONYM_KEY", "a test deployment's secret")
    get_settings.cache_clear()
    yield prefix
    get_settings.cache_clear()


def in_redis(redis_url: str, prefix: str) -> bytes:
    async def read() -> bytes:
        client = aioredis.Redis.from_url(redis_url)
        try:
            return await everything_stored(client, f"{prefix}:privacy")
        finally:
            await client.aclose()

    return asyncio.run(read())


def learn(redis_url: str, prefix: str, *links: LearnedLinks) -> None:
    async def write() -> None:
        client = aioredis.Redis.from_url(redis_url)
        try:
            store = DirectoryStore(client, prefix)
            for link in links:
                await store.learn(link)
        finally:
            await client.aclose()

    asyncio.run(write())


def test_suppressing_an_email_takes_its_linked_ids_along_and_lifting_it_frees_them(
    prefix: str, redis_url: str
) -> None:
    learn(
        redis_url,
        prefix,
        LearnedLinks("user:u-42", email="dana@acme.com"),
        LearnedLinks("anon:anon-42", email="dana@acme.com"),
        LearnedLinks("anon:anon-7", email="eve@acme.com"),
    )
    runner = CliRunner()
    done = runner.invoke(app, ["privacy", "suppress", "--email", "Dana@Acme.com"])
    assert done.exit_code == 0, done.output
    assert "suppressed: the e-mail and 2 linked userId/anonymousId(s) (3 new" in done.output
    assert runner.invoke(app, ["privacy", "check", "--anonymous-id", "anon-42"]).exit_code == 0
    assert runner.invoke(app, ["privacy", "check", "--anonymous-id", "anon-7"]).exit_code == 1
    again = runner.invoke(app, ["privacy", "suppress", "--email", "dana@acme.com"])
    assert "already suppressed" in again.output
    stored = in_redis(redis_url, prefix)
    assert stored and b"dana" not in stored and b"u-42" not in stored

    lifted = runner.invoke(app, ["privacy", "unsuppress", "--email", "dana@acme.com"])
    assert lifted.exit_code == 0, lifted.output
    assert "no longer suppressed: the e-mail (3 off the list)" in lifted.output
    checked = runner.invoke(app, ["privacy", "check", "--user-id", "u-42"])
    assert checked.exit_code == 1 and "not suppressed: the userId" in checked.output


@pytest.mark.parametrize(
    ("args", "why"),
    [
        ([], "exactly one of --email, --user-id, --anonymous-id"),
        (["--email", "a@b.io", "--user-id", "u"], "exactly one of"),
        (["--email", ""], "the email is empty"),
        (["--user-id", "u" * 300], "300 characters long; at most 256"),
        (["--email", "dana.acme.com"], "is not an e-mail address"),
    ],
)
def test_bad_input_is_refused_with_the_reason_and_changes_nothing(
    prefix: str, redis_url: str, args: list[str], why: str
) -> None:
    refused = CliRunner().invoke(app, ["privacy", "suppress", *args])
    assert refused.exit_code == 2
    assert why in refused.output
    assert in_redis(redis_url, prefix) == b""


def test_lifting_a_person_who_is_not_suppressed_says_so(prefix: str) -> None:
    refused = CliRunner().invoke(app, ["privacy", "unsuppress", "--anonymous-id", "anon-1"])
    assert refused.exit_code == 1
    assert "the anonymousId is not on the suppression list" in refused.output


def test_an_unreachable_redis_is_named_without_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://:s3cret@127.0.0.1:1/0")
    get_settings.cache_clear()
    try:
        failed = CliRunner().invoke(app, ["privacy", "suppress", "--user-id", "u-1"])
    finally:
        get_settings.cache_clear()
    assert failed.exit_code == 1
    assert "cannot reach Redis at redis://:***@127.0.0.1:1/0" in failed.output
    assert "s3cret" not in failed.output


def test_forget_without_kafka_suppresses_and_says_to_run_it_again(
    prefix: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    get_settings.cache_clear()
    failed = CliRunner().invoke(app, ["privacy", "forget", "--user-id", "u-77"])
    assert failed.exit_code == 1
    assert "cannot send the erasure to Kafka (at 127.0.0.1:1" in failed.output
    assert "the person is suppressed already: run the command again" in failed.output
    checked = CliRunner().invoke(app, ["privacy", "check", "--user-id", "u-77"])
    assert checked.exit_code == 0
