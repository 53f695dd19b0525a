"""The MQA topic names persons by pseudonym; the alert names them as the directory's pseudonym
index does (the edge), and shows a person the index does not know as a visitor."""

from __future__ import annotations

import asyncio
import io
import os
import sys
from pathlib import Path

import orjson
import pytest

from abm.core.privacy import clear_key_pseudonym, visitor_label
from abm.directory.store import DirectoryStore
from abm.plumbing.redis_clients import open_directory
from abm.plumbing.topics_admin import ensure_topics
from tests.support.alert_service import alerts_caught_up, produce_mqas, running
from tests.support.alerting import mqa_event
from tests.support.harness import make_settings

pytestmark = pytest.mark.integration

KEY = "the test deployment's key"


async def index(store: DirectoryStore, *emails: str) -> dict[str, str]:
    names = {clear_key_pseudonym(email, KEY.encode()): email for email in emails}
    await store.remember_pseudonyms(names, ttl_s=3600)
    return names


async def test_an_alert_names_the_persons_its_event_names_by_pseudonym(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    settings = make_settings(
        kafka_bootstrap, redis_url, tmp_path, alert_channels="console", pseudonym_key=KEY
    )
    secret = settings.pseudonym_secret()
    threshold = mqa_event("acme", pseudonym_key=secret)
    act_now = mqa_event("beta", act_now=True, pseudonym_key=secret)
    for event in (threshold, act_now):
        assert b"@" not in orjson.dumps(event["top_contacts"])  # pseudonyms on the topic
    store = await open_directory(settings)
    try:
        known = await index(store, "dana@acme.com", "chris@acme.com", "dana@beta.example")
    finally:
        await store.close()
    evaluator = clear_key_pseudonym("tess@acme.com", secret)  # not in the index

    out = io.StringIO()
    async with running(settings, out=out):
        await produce_mqas(settings, [threshold, act_now])
        await alerts_caught_up(settings)
    text = out.getvalue()

    assert "dana@acme.com" in text and "chris@acme.com" in text
    assert "by dana@beta.example (decision_maker)" in text  # the act-now summary
    assert visitor_label(evaluator) in text
    for pseudonym in (*known, evaluator):
        assert pseudonym not in text

    # forgotten (`abm privacy forget` deletes the index entries): an alert rendered afterwards
    # no longer names them, even for an MQA whose event still carries the pseudonym
    dana = clear_key_pseudonym("dana@acme.com", secret)
    store = await open_directory(settings)
    try:
        assert await store.forget_pseudonyms([dana]) == 1
    finally:
        await store.close()
    later = mqa_event("gamma", pseudonym_key=secret)
    out = io.StringIO()
    async with running(settings, out=out):
        await produce_mqas(settings, [later])
        await alerts_caught_up(settings)
    text = out.getvalue()
    assert "Gamma BV" in text and "chris@acme.com" in text
    assert "dana@acme.com" not in text and visitor_label(dana) in text


async def test_mqa_tail_names_the_persons_as_the_alerts_do(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    """`abm mqa tail` prints each MQA as the console alert does, persons named by the index; a
    record that is not an MQA event is reported on stderr and the tail goes on."""
    settings = make_settings(kafka_bootstrap, redis_url, tmp_path, pseudonym_key=KEY)
    secret = settings.pseudonym_secret()
    event = mqa_event("acme", pseudonym_key=secret)
    store = await open_directory(settings)
    try:
        known = await index(store, "dana@acme.com", "chris@acme.com")
    finally:
        await store.close()
    await ensure_topics(settings)
    broken = {**mqa_event("broken"), "surge": None}
    await produce_mqas(settings, [broken, event])
    env = {
        **os.environ,
        "ABM_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "ABM_REDIS_URL": redis_url,
        "ABM_TOPIC_PREFIX": settings.topic_prefix,
        "ABM_APP_ID": settings.app_id,
        "ABM_REDIS_PREFIX": settings.redis_prefix,
        "ABM_PSEUDONYM_KEY": KEY,
    }
    tail = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "abm_cli", "mqa", "tail", "--from-beginning", "--idle-exit", "2",
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(tail.communicate(), 90)
    assert tail.returncode == 0, err.decode()
    text = out.decode()
    assert "dana@acme.com" in text and "chris@acme.com" in text
    assert not any(pseudonym in text for pseudonym in known)
    assert text.count("== MQA ") == 1
    assert "an MQA record that cannot be shown: surge: missing" in err.decode()
