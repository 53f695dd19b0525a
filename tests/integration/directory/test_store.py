"""The Redis directory against a real redis-server; every test has its own key prefix."""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
import redis
import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from typer.testing import CliRunner

from abm.core.directory_csv import DirectoryError, parse_accounts, parse_contacts
from abm.core.privacy import Identity
from abm.core.records import AccountRecord, ContactRecord
from abm.core.resolution import (
    FREE_MAIL,
    UNKNOWN_ACCOUNT,
    LearnedLinks,
    Unresolved,
    learn,
    resolve,
)
from abm.core.segment import SegmentMessage, parse_message
from abm.core.touchpoint import Touchpoint
from abm.directory.cli import app
from abm.directory.store import DirectoryStore, link_fields
from abm_cli.settings import get_settings

pytestmark = pytest.mark.integration


class CountingRedis(aioredis.Redis):
    """A real client that counts its round trips (direct commands and pipeline executions)."""

    round_trips = 0

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        self.round_trips += 1
        return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        client = self

        class CountingPipeline(Pipeline):
            async def execute(self, raise_on_error: bool = True) -> list[Any]:
                client.round_trips += 1
                return await super().execute(raise_on_error)

        return CountingPipeline(
            self.connection_pool, self.response_callbacks, transaction, shard_hint
        )


KEY = b"the deployment's pseudonym key"


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex}"


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[CountingRedis]:
    connection = cast(CountingRedis, CountingRedis.from_url(redis_url))
    yield connection
    await connection.aclose()


@pytest.fixture
def store(client: CountingRedis, prefix: str) -> DirectoryStore:
    return DirectoryStore(client, prefix, cache_ttl=0)


async def keys_under(client: aioredis.Redis, prefix: str) -> list[str]:
    return sorted([k.decode() async for k in client.scan_iter(match=f"{prefix}:*")])


def account(
    account_id: str, *domains: str, tier: int = 2, icp_fit: float = 80.0, name: str = ""
) -> AccountRecord:
    return AccountRecord(
        account_id=account_id,
        name=name or account_id.title(),
        domains=domains,
        tier=tier,
        icp_fit=icp_fit,
        lifecycle="prospect",
        owner_email="ae@seller.io",
        owner_slack_id="U024BE7LH",
    )


def contact(email: str, account_id: str, role: str = "champion") -> ContactRecord:
    return ContactRecord(
        email=email, account_id=account_id, title="VP Engineering", role=role, seniority="vp"
    )


def message(kind: str = "page", **fields: Any) -> SegmentMessage:
    doc: dict[str, Any] = {
        "type": kind,
        "messageId": uuid.uuid4().hex,
        "timestamp": "2026-03-02T10:00:00Z",
        "userId": "u-1",
        "properties": {"path": "/pricing"},
    }
    context: dict[str, Any] = {}
    if "email" in fields:
        context["traits"] = {"email": fields.pop("email")}
    if "group_id" in fields:
        context["groupId"] = fields.pop("group_id")
    if context:
        doc["context"] = context
    doc.update(fields)
    parsed = parse_message(orjson.dumps({k: v for k, v in doc.items() if v is not None}), 32_768)
    assert isinstance(parsed, SegmentMessage), parsed
    return parsed


async def resolved(store: DirectoryStore, msg: SegmentMessage) -> Touchpoint:
    result = resolve(msg, await store.view_for(msg), pseudonym_key=KEY)
    assert isinstance(result, Touchpoint), result
    return result


# --- load ----------------------------------------------------------------------------------------


async def test_load_writes_records_domains_and_tiers(store: DirectoryStore) -> None:
    report = await store.load(
        [account("acme", "acme.com", "acme.io", tier=1), account("beta", "beta.nl", tier=3)],
        [contact("ann@acme.com", "acme"), contact("bob@beta.nl", "beta", role="end_user")],
    )

    assert (report.accounts, report.accounts_replaced) == (2, 0)
    assert (report.contacts, report.contacts_replaced) == (2, 0)
    assert (report.domains, report.domains_removed) == (3, 0)
    assert report.tiers == {1: 1, 3: 1}
    assert await store.account("acme") == account("acme", "acme.com", "acme.io", tier=1)
    assert await store.account("nope") is None
    assert await store.contact("ANN@acme.com") == contact("ann@acme.com", "acme")
    assert await store.domain_owners(["acme.io", "beta.nl", "gamma.de"]) == {
        "acme.io": "acme",
        "beta.nl": "beta",
    }
    assert await store.known_account_ids(["acme", "gamma"]) == {"acme"}
    assert await store.target_accounts_by_tier() == {1: 1, 2: 0, 3: 1}


async def test_reload_replaces_record_releases_domains_and_moves_tier(
    client: CountingRedis, store: DirectoryStore, prefix: str
) -> None:
    await store.load([account("acme", "acme.com", "old-acme.com", tier=3)], [])

    report = await store.load(
        [account("acme", "acme.com", "acme.io", tier=1, name="Acme Corp")],
        [contact("ann@acme.com", "acme")],
    )

    assert (report.accounts_replaced, report.domains, report.domains_removed) == (1, 2, 1)
    record = await store.account("acme")
    assert record is not None
    assert (record.name, record.domains, record.tier) == ("Acme Corp", ("acme.com", "acme.io"), 1)
    assert await store.domain_owners(["acme.com", "acme.io", "old-acme.com"]) == {
        "acme.com": "acme",
        "acme.io": "acme",
    }
    assert await store.target_accounts_by_tier() == {1: 1, 2: 0, 3: 0}
    assert f"{prefix}:dir:domain:old-acme.com" not in await keys_under(client, prefix)


async def test_a_domain_moves_between_accounts_reloaded_together(store: DirectoryStore) -> None:
    await store.load([account("acme", "acme.com", "shared.com"), account("beta", "beta.com")])

    await store.load([account("acme", "acme.com"), account("beta", "beta.com", "shared.com")])

    assert await store.domain_owners(["shared.com"]) == {"shared.com": "beta"}


async def test_contacts_may_refer_to_accounts_loaded_earlier(store: DirectoryStore) -> None:
    await store.load([account("acme", "acme.com")])

    report = await store.load([], [contact("ann@acme.com", "acme")])

    assert (report.accounts, report.contacts) == (0, 1)
    assert await store.contact("ann@acme.com") is not None


async def test_a_refused_load_writes_nothing(
    client: CountingRedis, store: DirectoryStore, prefix: str
) -> None:
    await store.load([account("acme", "acme.com")])
    before = await keys_under(client, prefix)

    # A domain owned by an account that is not part of the load.
    with pytest.raises(DirectoryError) as refused:
        await store.load([account("new", "new.com"), account("beta", "beta.com", "acme.com")])
    assert [str(e) for e in refused.value.errors] == [
        "accounts: field `domains`: account `beta`: `acme.com` belongs to account `acme` in the "
        "directory"
    ]
    # A contact of an account that exists nowhere.
    with pytest.raises(DirectoryError, match="no account `ghost`"):
        await store.load([account("new", "new.com")], [contact("x@ghost.com", "ghost")])
    # A batch that contradicts itself.
    with pytest.raises(DirectoryError, match="claimed by accounts `new` and `other`"):
        await store.load([account("new", "new.com"), account("other", "new.com")])

    assert await keys_under(client, prefix) == before


async def test_a_failure_while_building_the_transaction_writes_nothing(
    client: CountingRedis, store: DirectoryStore, prefix: str
) -> None:
    """Validation passed, then writing fails half-way: not one of the earlier writes lands."""
    await store.load([account("acme", "acme.com", tier=1)])
    before = await keys_under(client, prefix)
    unwritable = account("broken", "broken.com", name=cast(str, object()))

    with pytest.raises(TypeError):
        await store.load(
            [account("acme", "acme.io", tier=3), account("fine", "fine.com"), unwritable],
            [contact("ann@acme.com", "acme")],
        )

    assert await keys_under(client, prefix) == before
    assert await store.account("acme") == account("acme", "acme.com", tier=1)
    assert await store.target_accounts_by_tier() == {1: 1, 2: 0, 3: 0}


async def test_validated_files_load_as_parsed(store: DirectoryStore, tmp_path: Path) -> None:
    accounts_csv = tmp_path / "accounts.csv"
    accounts_csv.write_text(
        "id,name,domains,tier,icp_fit,lifecycle,owner_email\n"
        "acme,Acme,acme.com;acme.io,1,4/5,prospect,ae@seller.io\n",
        encoding="utf-8",
    )
    accounts = parse_accounts(accounts_csv)
    contacts = parse_contacts(
        "email,account_id,title\nann@acme.com,acme,Chief Technology Officer\n",
        {a.account_id for a in accounts},
    )

    await store.load(accounts, contacts)

    assert await store.account("acme") == accounts[0]
    stored = await store.contact("ann@acme.com")
    assert stored is not None and (stored.role, stored.seniority) == ("other", "c_level")


# --- view_for: every resolution path ------------------------------------------------------------


@pytest.fixture
async def directory(store: DirectoryStore) -> DirectoryStore:
    await store.load(
        [account("acme", "acme.com", tier=1), account("beta", "beta.com")],
        [
            contact("ann@acme.com", "acme", role="decision_maker"),
            contact("carl@gmail.com", "beta", role="technical_evaluator"),
        ],
    )
    return store


async def test_resolves_by_group_id(directory: DirectoryStore) -> None:
    touch = await resolved(directory, message(group_id="beta", email="ann@acme.com"))
    assert (touch.account.account_id, touch.resolved_by) == ("beta", "group_id")


async def test_resolves_by_the_link_learned_from_a_group_call(directory: DirectoryStore) -> None:
    group_call = message("group", groupId="beta", userId="u-7")
    links = learn(group_call)
    assert links is not None
    await directory.learn(links)

    touch = await resolved(directory, message(userId="u-7"))

    assert (touch.account.account_id, touch.resolved_by) == ("beta", "user_link")


async def test_resolves_by_the_contact_directory(directory: DirectoryStore) -> None:
    touch = await resolved(directory, message(email="Carl@gmail.com"))
    assert (touch.account.account_id, touch.resolved_by) == ("beta", "contact")
    assert (touch.role, touch.seniority) == ("technical_evaluator", "vp")


async def test_resolves_by_the_email_domain(directory: DirectoryStore) -> None:
    touch = await resolved(directory, message(email="dora@acme.com"))
    assert (touch.account.account_id, touch.resolved_by) == ("acme", "domain")


async def test_resolves_through_an_email_learned_from_identify(
    directory: DirectoryStore, client: CountingRedis
) -> None:
    await directory.learn(LearnedLinks(person="anon:a-1", email="ann@acme.com"))
    await directory.learn(LearnedLinks(person="anon:a-2", email="eve@acme.com"))

    client.round_trips = 0
    by_contact = await resolved(directory, message(userId=None, anonymousId="a-1"))
    assert client.round_trips == 2
    by_domain = await resolved(directory, message(userId=None, anonymousId="a-2"))

    assert (by_contact.account.account_id, by_contact.resolved_by) == ("acme", "contact")
    assert by_contact.role == "decision_maker"
    assert by_contact.contact == Identity("email", "ann@acme.com").pseudonym(KEY)
    assert (by_domain.account.account_id, by_domain.resolved_by) == ("acme", "domain")


async def test_free_mail_never_resolves_by_domain(directory: DirectoryStore) -> None:
    msg = message(email="someone@gmail.com")
    view = await directory.view_for(msg)
    result = resolve(msg, view, pseudonym_key=KEY)
    assert isinstance(result, Unresolved) and result.reason == FREE_MAIL
    assert view.domain_account is None


async def test_an_unknown_account_falls_through_to_the_next_step(
    directory: DirectoryStore,
) -> None:
    touch = await resolved(directory, message(group_id="crm-123", email="dora@acme.com"))
    assert touch.resolved_by == "domain"

    msg = message(group_id="crm-123")
    result = resolve(msg, await directory.view_for(msg), pseudonym_key=KEY)
    assert isinstance(result, Unresolved) and result.reason == UNKNOWN_ACCOUNT


@pytest.mark.parametrize(
    "fields",
    [
        {"group_id": "beta"},
        {"email": "ann@acme.com"},
        {"email": "dora@acme.com", "group_id": "acme"},
        {"email": "x@gmail.com"},
        {"userId": "u-linked"},
        {"userId": "u-linked", "email": "x@unknown.org"},
        {"userId": "nobody"},
    ],
)
async def test_view_for_takes_at_most_two_round_trips(
    directory: DirectoryStore, client: CountingRedis, fields: dict[str, Any]
) -> None:
    await directory.learn(LearnedLinks(person="user:u-linked", account_id="beta", email="a@b.io"))
    client.round_trips = 0
    await directory.view_for(message(**fields))
    assert client.round_trips <= 2


async def test_a_batch_whose_accounts_are_cached_takes_one_round_trip(
    client: CountingRedis, prefix: str
) -> None:
    cached = DirectoryStore(client, prefix, cache_ttl=60)
    await cached.load([account("acme", "acme.com"), account("beta", "beta.com")], [])
    await cached.learn(LearnedLinks(person="user:u-linked", account_id="beta", email="a@acme.com"))
    batch = [message(email="dora@acme.com"), message(userId="u-linked"), message(group_id="beta")]
    first = await cached.views_for(batch)

    client.round_trips = 0
    assert await cached.views_for(batch) == first
    assert client.round_trips == 1
    assert [set(view.accounts) for view in first] == [{"acme"}, {"acme", "beta"}, {"beta"}]


async def test_a_linked_free_mail_address_is_not_followed_to_its_domain(
    client: CountingRedis, directory: DirectoryStore
) -> None:
    """Whoever owned a free-mail domain in Redis, an e-mail there names no account, whether the
    message carries it or the person's link knows it."""
    await client.set(directory.keys.domain("gmail.com"), "beta")
    await directory.learn(LearnedLinks(person="anon:a-3", email="someone@gmail.com"))

    linked = await directory.view_for(message(userId=None, anonymousId="a-3"))
    carried = await directory.view_for(message(email="someone@gmail.com"))

    assert (linked.linked_email, linked.domain_account, linked.accounts) == (
        "someone@gmail.com",
        None,
        {},
    )
    assert (carried.domain_account, carried.accounts) == (None, {})


# --- learn ---------------------------------------------------------------------------------------


async def test_learn_stores_only_what_the_call_said(
    client: CountingRedis, directory: DirectoryStore, prefix: str
) -> None:
    await directory.learn(LearnedLinks(person="user:u-1", email="Ann@Acme.com", title="CTO"))
    await directory.learn(LearnedLinks(person="user:u-1", account_id="acme"))
    await directory.learn(LearnedLinks(person="user:u-2"))

    stored = await client.hgetall(f"{prefix}:dir:person:user:u-1")
    assert stored == {b"email": b"ann@acme.com", b"title": b"CTO", b"account_id": b"acme"}
    assert await client.exists(f"{prefix}:dir:person:user:u-2") == 0
    view = await directory.view_for(message(userId="u-1"))
    assert (view.linked_account, view.linked_email) == ("acme", "ann@acme.com")


async def test_learn_many_writes_every_call_in_order_in_one_round_trip(
    client: CountingRedis, directory: DirectoryStore, prefix: str
) -> None:
    client.round_trips = 0
    await directory.learn_many(
        [
            LearnedLinks(person="user:u-1", email="Ann@Acme.com", title="CTO"),
            LearnedLinks(person="user:u-2"),
            LearnedLinks(person="user:u-1", account_id="acme", title="CEO"),
        ]
    )
    assert client.round_trips == 1
    stored = await client.hgetall(f"{prefix}:dir:person:user:u-1")
    assert stored == {b"email": b"ann@acme.com", b"title": b"CEO", b"account_id": b"acme"}
    assert await client.smembers(f"{prefix}:dir:email-persons:ann@acme.com") == {b"user:u-1"}
    assert await client.exists(f"{prefix}:dir:person:user:u-2") == 0


async def test_links_learned_earlier_in_a_batch_override_what_redis_holds(
    client: CountingRedis, directory: DirectoryStore
) -> None:
    """A worker's batch is looked up before its own identify/group calls are written: the links
    they taught are laid over the stored ones, for the messages after them only."""
    await directory.learn(LearnedLinks(person="user:u-1", account_id="beta", title="CTO"))
    batch = [message(userId="u-1"), message(userId="u-1"), message(anonymousId="a-9", userId=None)]
    learned = [
        None,
        link_fields(LearnedLinks(person="user:u-1", email="Dora@Acme.com")),
        link_fields(LearnedLinks(person="anon:a-9", email="ann@acme.com", title="VP Sales")),
    ]

    client.round_trips = 0
    before, after, anonymous = await directory.views_for(batch, learned)

    assert client.round_trips == 2
    assert (before.linked_account, before.linked_email, before.contact) == ("beta", None, None)
    # the stored account link stays, the learned e-mail is added and followed to its domain
    assert (after.linked_account, after.linked_email) == ("beta", "dora@acme.com")
    assert (after.domain_account, after.linked_title) == ("acme", "CTO")
    assert set(after.accounts) == {"beta", "acme"}
    # nothing stored for this person: the learned e-mail is followed to its contact record
    assert anonymous.contact is not None and anonymous.contact.email == "ann@acme.com"
    assert anonymous.linked_title == "VP Sales"
    touch = resolve(batch[2], anonymous, pseudonym_key=KEY)
    assert isinstance(touch, Touchpoint) and touch.resolved_by == "contact"
    assert not await client.exists(directory.keys.person("anon:a-9"))  # nothing written


async def commands_of(client: CountingRedis, call: Callable[[], Awaitable[Any]]) -> int:
    """The commands Redis processed for `call` (the counter's own INFO calls cancel out)."""
    before = (await client.info("stats"))["total_commands_processed"]
    await call()
    return int((await client.info("stats"))["total_commands_processed"]) - int(before)


async def test_a_batch_asks_once_for_what_its_messages_share(
    client: CountingRedis, directory: DirectoryStore, prefix: str
) -> None:
    """The person, the e-mail, the domain and the followed e-mail of messages of one person are
    read once for the whole batch: as many commands as for one of its messages."""
    uncached = DirectoryStore(client, prefix, cache_ttl=0)
    await uncached.learn(LearnedLinks(person="user:u-9", account_id="beta", email="ann@acme.com"))
    by_email = [message(userId="u-8", email="dora@acme.com") for _ in range(3)]
    by_link = [message(userId="u-9") for _ in range(3)]

    for same_person in (by_email, by_link):
        one = await commands_of(client, partial(uncached.views_for, same_person[:1]))
        three = await commands_of(client, partial(uncached.views_for, same_person))
        assert three == one
        views = await uncached.views_for(same_person)
        assert views[0] == views[1] == views[2] == (await uncached.views_for(same_person[:1]))[0]


async def test_views_for_refuses_learned_links_that_do_not_match_the_messages(
    directory: DirectoryStore,
) -> None:
    with pytest.raises(ValueError, match="1 learned links for 2 messages"):
        await directory.views_for([message(), message()], [None])


def test_link_fields_are_what_the_call_said_with_the_email_normalized() -> None:
    assert link_fields(LearnedLinks(person="user:u", email=" Ann@ACME.com ", title="CTO")) == {
        "email": "ann@acme.com",
        "title": "CTO",
    }
    assert link_fields(LearnedLinks(person="user:u", account_id="acme")) == {"account_id": "acme"}
    assert link_fields(LearnedLinks(person="user:u")) == {}


# --- cache ---------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_without_a_cache_changes_by_another_process_are_seen_at_once(
    client: CountingRedis, directory: DirectoryStore, prefix: str
) -> None:
    other = DirectoryStore(client, prefix, cache_ttl=0)
    assert (await resolved(directory, message(email="dora@acme.com"))).account.tier == 1

    await other.load([account("acme", tier=2)])

    view = await directory.view_for(message(email="dora@acme.com"))
    assert view.domain_account is None  # acme.com was released by the reload
    assert view.accounts == {}
    assert (await resolved(directory, message(group_id="acme"))).account.tier == 2


async def test_the_cache_serves_accounts_and_domains_until_the_ttl(
    client: CountingRedis, directory: DirectoryStore, prefix: str
) -> None:
    clock = Clock()
    cached = DirectoryStore(client, prefix, cache_ttl=30, clock=clock)
    msg = message(email="dora@acme.com", userId=None, anonymousId="a-9")
    assert (await resolved(cached, msg)).account.tier == 1
    await directory.load([account("acme", "acme.com", tier=3)])

    clock.now += 29
    client.round_trips = 0
    assert (await resolved(cached, msg)).account.tier == 1  # still the cached record
    assert client.round_trips == 1  # person and contact only: domain and account were cached

    clock.now += 1
    assert (await resolved(cached, msg)).account.tier == 3


async def test_a_load_clears_the_loading_process_cache(
    client: CountingRedis, prefix: str, directory: DirectoryStore
) -> None:
    cached = DirectoryStore(client, prefix, cache_ttl=30)
    assert (await resolved(cached, message(group_id="acme"))).account.tier == 1

    await cached.load([account("acme", "acme.com", tier=2)])

    assert (await resolved(cached, message(group_id="acme"))).account.tier == 2


# --- forget --------------------------------------------------------------------------------------


async def test_forget_contact_erases_the_contact_and_its_person_links(
    client: CountingRedis, directory: DirectoryStore, prefix: str
) -> None:
    await directory.learn(LearnedLinks(person="user:u-1", email="ann@acme.com", account_id="acme"))
    await directory.learn(LearnedLinks(person="anon:a-1", email="ann@acme.com"))
    await directory.learn(LearnedLinks(person="user:u-2", email="ann@acme.com"))
    await directory.learn(LearnedLinks(person="user:u-2", email="bob@acme.com"))  # moved on

    assert await directory.forget_contact("Ann@Acme.com") is True

    assert await directory.contact("ann@acme.com") is None
    remaining = await keys_under(client, prefix)
    assert f"{prefix}:dir:person:user:u-1" not in remaining
    assert f"{prefix}:dir:person:anon:a-1" not in remaining
    assert f"{prefix}:dir:email-persons:ann@acme.com" not in remaining
    assert await client.hget(f"{prefix}:dir:person:user:u-2", "email") == b"bob@acme.com"
    assert await directory.contact("carl@gmail.com") is not None
    assert await directory.forget_contact("ann@acme.com") is False


async def test_forget_erases_links_of_an_email_that_has_no_contact_record(
    directory: DirectoryStore,
) -> None:
    await directory.learn(LearnedLinks(person="user:u-5", email="zed@acme.com"))

    assert await directory.forget_contact("zed@acme.com") is True

    view = await directory.view_for(message(userId="u-5"))
    assert view.linked_email is None


# --- CLI -----------------------------------------------------------------------------------------

ACCOUNTS_CSV = """id,name,domains,tier,icp_fit,lifecycle,owner_email,owner_slack_id
acme,Acme,acme.com;acme.io,1,80,prospect,ae@seller.io,U024BE7LH
beta,Beta,beta.nl,3,3/5,customer,ae@seller.io,
"""
CONTACTS_CSV = """email,account_id,title,role,seniority
ann@acme.com,acme,CTO,decision_maker,
bob@beta.nl,beta,,end_user,individual
"""


@pytest.fixture
def cli_env(redis_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("ABM_REDIS_PREFIX", prefix)
    get_settings.cache_clear()
    yield prefix
    get_settings.cache_clear()


@pytest.fixture
def sync_client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_cli_load_show_and_forget(cli_env: str, sync_client: redis.Redis, tmp_path: Path) -> None:
    runner = CliRunner()
    accounts = write(tmp_path, "accounts.csv", ACCOUNTS_CSV)
    contacts = write(tmp_path, "contacts.csv", CONTACTS_CSV)

    loaded = runner.invoke(app, ["load", str(accounts), str(contacts)])

    assert loaded.exit_code == 0, loaded.output
    assert "loaded 2 accounts (0 replaced), 3 domains (0 released), 2 contacts" in loaded.output
    assert "tier 1: 1 loaded, 1 in the directory" in loaded.output
    assert "tier 3: 1 loaded, 1 in the directory" in loaded.output
    assert sync_client.get(f"{cli_env}:dir:domain:acme.io") == b"acme"

    shown = runner.invoke(app, ["show", "beta"])
    assert shown.exit_code == 0, shown.output
    assert orjson.loads(shown.output)["icp_fit"] == 60.0

    missing = runner.invoke(app, ["show", "nope"])
    assert (missing.exit_code, missing.output.strip()) == (1, "no account `nope` in the directory")

    forgot = runner.invoke(app, ["forget", "ann@acme.com"])
    assert forgot.exit_code == 0, forgot.output
    assert sync_client.exists(f"{cli_env}:dir:contact:ann@acme.com") == 0
    again = runner.invoke(app, ["forget", "ann@acme.com"])
    assert "nothing stored for ann@acme.com" in again.output


def test_cli_load_contacts_of_accounts_loaded_before(
    cli_env: str, sync_client: redis.Redis, tmp_path: Path
) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["load", str(write(tmp_path, "a.csv", ACCOUNTS_CSV))]).exit_code == 0
    only_new = write(
        tmp_path,
        "a2.csv",
        "id,name,domains,tier,icp_fit,lifecycle,owner_email\n"
        "gamma,Gamma,gamma.de,2,70,prospect,ae@seller.io\n",
    )

    result = runner.invoke(
        app, ["load", str(only_new), str(write(tmp_path, "c.csv", CONTACTS_CSV))]
    )

    assert result.exit_code == 0, result.output
    assert sync_client.exists(f"{cli_env}:dir:contact:bob@beta.nl") == 1


def test_cli_load_refuses_bad_files_and_writes_nothing(
    cli_env: str, sync_client: redis.Redis, tmp_path: Path
) -> None:
    runner = CliRunner()
    existing = write(
        tmp_path,
        "existing.csv",
        "id,name,domains,tier,icp_fit,lifecycle,owner_email\n"
        "owner,Owner,taken.com,2,70,prospect,ae@seller.io\n",
    )
    assert runner.invoke(app, ["load", str(existing)]).exit_code == 0
    before = sorted(sync_client.scan_iter(match=f"{cli_env}:*"))
    accounts = write(
        tmp_path,
        "accounts.csv",
        ACCOUNTS_CSV + "gamma,Gamma,taken.com,4,80,prospect,ae@seller.io,\n",
    )
    contacts = write(
        tmp_path, "contacts.csv", CONTACTS_CSV + "cy@gamma.de,gamma,,,\nzz@x.com,ghost,,,\n"
    )

    result = runner.invoke(app, ["load", str(accounts), str(contacts)])

    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert f"{accounts}:4: field `domains`: `taken.com` belongs to account `owner`" in lines[0]
    assert lines[1] == f"{accounts}:4: field `tier`: `4` is not one of 1, 2, 3"
    assert lines[2].startswith(f"{contacts}:5: field `account_id`: no account `ghost`")
    assert lines[-1] == "3 error(s); nothing was loaded"
    assert sorted(sync_client.scan_iter(match=f"{cli_env}:*")) == before


def test_cli_load_reports_an_unreadable_file(cli_env: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["load", str(tmp_path / "missing.csv")])
    assert result.exit_code == 2
    assert f"{tmp_path / 'missing.csv'}: cannot read it" in result.output


def test_cli_says_how_to_start_redis_and_hides_the_password(
    monkeypatch: pytest.MonkeyPatch, prefix: str
) -> None:
    with socket_closed_port() as port:
        monkeypatch.setenv("REDIS_URL", f"redis://user:s3cret@127.0.0.1:{port}/0")
        monkeypatch.setenv("ABM_REDIS_PREFIX", prefix)
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(app, ["show", "acme"])
        finally:
            get_settings.cache_clear()

    assert result.exit_code == 1
    assert f"cannot reach Redis at redis://user:***@127.0.0.1:{port}/0" in result.output
    assert "abm infra up" in result.output
    assert "s3cret" not in result.output


@contextmanager
def socket_closed_port() -> Iterator[int]:
    """A loopback port that nothing listens on, for as long as the block runs."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        port: int = sock.getsockname()[1]
        yield port
