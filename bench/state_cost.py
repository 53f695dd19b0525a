"""Figure 3: what per-account state costs: worker memory per account, changelog bytes per
touchpoint, and how long a restarted worker takes to recover 10k and 100k accounts.

Synthetic accounts (1-3 contacts each, `--touches` page views per account spread over a week)
are loaded into the directory and the raw topic. For each size a worker processes everything;
then:

- table memory: what the in-memory table holds per account (its key and value objects in a
  dict, measured with tracemalloc on the latest changelog value of every account), beside the
  worker's resident set size growth per account (which also holds client buffers and the
  allocator's high-water mark, so it is an upper bound);
- account index: what the worker keeps per account for the gauges and the account pages (the
  decoded slim state of `stream.web.index`, so a scan decodes only changed accounts), measured
  the same way;
- changelog: bytes of the engagement changelog's log segments on the broker's disk, divided by
  the touchpoints;
- recovery: the worker is stopped and a new one started; the time from its start until it has
  applied one more touchpoint (which it can only do once the table is restored), against the
  same for a worker with an empty table.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tracemalloc
from dataclasses import dataclass

import orjson
from aiokafka import AIOKafkaProducer

from abm.core.reach import slim
from abm.core.records import AccountRecord, ContactRecord
from abm.core.state import AccountState
from abm.core.timefmt import DAY_MS, iso_ms
from abm.plumbing.consumer_lag import wait_caught_up
from abm.plumbing.redis_clients import open_directory
from abm.plumbing.topics_admin import ensure_topics
from abm_cli.settings import Settings
from bench.common import (
    Services,
    Worker,
    line,
    produce,
    read_values,
    say,
    services,
    topic_times,
)
from stream.topics import RAW, RESOLVED

PAGES = ("/pricing", "/security", "/blog/post-1", "/product", "/integrations/sap", "/demo")
ROLES = ("decision_maker", "champion", "technical_evaluator", "end_user")
START_MS = 1_790_000_000_000


@dataclass
class Synthetic:
    accounts: list[AccountRecord]
    contacts: list[ContactRecord]
    keys: list[bytes]
    values: list[bytes]


def synthetic(count: int, touches: int, seed: int = 3) -> Synthetic:
    rng = random.Random(seed)
    accounts, contacts, keys, values = [], [], [], []
    for n in range(count):
        account_id = f"sc-{n:06d}"
        domain = f"{account_id}.example"
        accounts.append(
            AccountRecord(
                account_id,
                f"Account {n}",
                (domain,),
                rng.choice((1, 2, 3)),
                float(rng.choice((40, 60, 80))),
                "prospect",
                "ae@vendor.example",
                None,
                None,
            )
        )
        people = [
            ContactRecord(f"p{i}@{domain}", account_id, None, ROLES[i], "manager")
            for i in range(rng.randint(1, 3))
        ]
        contacts.extend(people)
        for t in range(touches):
            person = rng.choice(people)
            doc = {
                "type": "page",
                "messageId": f"{account_id}-{t}",
                "timestamp": iso_ms(START_MS + rng.randint(0, 7 * DAY_MS)),
                "userId": person.email,
                "context": {"traits": {"email": person.email}},
                "properties": {"path": rng.choice(PAGES)},
            }
            keys.append(f"account:{account_id}".encode())
            values.append(orjson.dumps(doc))
    return Synthetic(accounts, contacts, keys, values)


async def load(settings: Settings, data: Synthetic) -> None:
    await ensure_topics(settings)
    store = await open_directory(settings)
    try:
        by_account: dict[str, list[ContactRecord]] = {}
        for contact in data.contacts:
            by_account.setdefault(contact.account_id, []).append(contact)
        for start in range(0, len(data.accounts), 5000):
            chunk = data.accounts[start : start + 5000]
            people = [c for a in chunk for c in by_account[a.account_id]]
            await store.load(chunk, people)
    finally:
        await store.close()
    await produce(settings, data.values, data.keys)


async def probe(settings: Settings, account_id: str, email: str, n: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        doc = {
            "type": "page",
            "messageId": f"probe-{n}",
            "timestamp": iso_ms(START_MS + 8 * DAY_MS),
            "userId": email,
            "context": {"traits": {"email": email}},
            "properties": {"path": "/pricing"},
        }
        await producer.send_and_wait(
            RAW.name(settings.topic_prefix), orjson.dumps(doc), key=f"account:{account_id}".encode()
        )
    finally:
        await producer.stop()


def quick_flush(settings: Settings) -> Settings:
    """Settings whose worker writes its first state change at once: the time to the first
    update then measures the restart, not the flush interval."""
    return settings.model_copy(update={"engagement_flush_interval_s": 0.05})


async def time_to_first_update(settings: Settings, worker: Worker, already: int) -> float:
    """Seconds from the worker's start until the changelog holds more than `already` records."""
    changelog = f"{settings.app_id}-engagement-changelog"
    while True:
        if not worker.alive():
            raise RuntimeError(worker.tail())
        try:
            count, _, last = await topic_times(settings, changelog)
        except LookupError:  # the worker has not created its changelog yet
            count, last = 0, 0
        if count > already:
            return last / 1000 - worker.started_wall
        await asyncio.sleep(0.2)


@dataclass
class SizeResult:
    store: str
    accounts: int
    touchpoints: int
    rss_bytes: int
    table_bytes: float
    index_bytes: float
    changelog_bytes: int
    recovery_s: float


def table_memory(latest: dict[bytes, bytes]) -> float:
    """Bytes per account of a dict holding these keys and values, as the memory store does."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    table = {bytes(bytearray(k)): bytes(bytearray(v)) for k, v in latest.items()}
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / max(len(table), 1)


def index_memory(latest: dict[bytes, bytes]) -> float:
    """Bytes per account of the account index's decoded slim states (values shared with the
    table are not counted)."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    index = {key: slim(AccountState.from_bytes(value)) for key, value in latest.items()}
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / max(len(index), 1)


async def measure(env: Services, count: int, touches: int, store: str) -> SizeResult:
    data = synthetic(count, touches)
    settings = env.settings(table_store=store)
    say(f"{count} accounts, {len(data.values)} touchpoints: loading")
    await load(settings, data)
    worker = Worker(settings, "first")
    prefix = settings.topic_prefix
    await wait_caught_up(settings, settings.app_id, [RAW.name(prefix), RESOLVED.name(prefix)], 3600)
    await asyncio.sleep(3)
    rss = worker.rss_bytes()
    worker.stop()
    changelog = f"{settings.app_id}-engagement-changelog"
    latest: dict[bytes, bytes] = {}
    values = await read_values(settings, changelog)
    records, _, _ = await topic_times(settings, changelog)
    for value in values:
        latest[AccountState.from_bytes(value).account.account_id.encode()] = value
    table_bytes = table_memory(latest)
    index_bytes = index_memory(latest)
    disk = env.topic_bytes(changelog)
    say("restart: recovery")
    second = Worker(quick_flush(settings), "second")
    await probe(settings, data.accounts[0].account_id, data.contacts[0].email, count)
    recovery = await time_to_first_update(settings, second, records)
    second.stop()
    return SizeResult(store, count, len(data.values), rss, table_bytes, index_bytes, disk, recovery)


async def empty_worker(env: Services) -> tuple[int, float]:
    """RSS and time to the first update of a worker with nothing to restore."""
    settings = env.settings()
    await ensure_topics(settings)
    store = await open_directory(settings)
    account = AccountRecord("empty-1", "Empty", ("empty-1.example",), 2, 80.0, "prospect",
                            None, None, None)  # fmt: skip
    contact = ContactRecord("p@empty-1.example", "empty-1", None, "champion", "manager")
    await store.load([account], [contact])
    await store.close()
    worker = Worker(quick_flush(settings), "empty")
    await probe(settings, account.account_id, contact.email, 0)
    startup = await time_to_first_update(settings, worker, 0)
    await asyncio.sleep(3)
    rss = worker.rss_bytes()
    worker.stop()
    return rss, startup


async def run(sizes: list[int], touches: int, stores: list[str]) -> None:
    with services() as env:
        say("empty worker")
        base_rss, base_start = await empty_worker(env)
        results = [await measure(env, size, touches, store) for size in sizes for store in stores]
    print(f"state cost ({touches} touchpoints per account, 1-3 contacts, 4 partitions)")
    print(line("empty worker: RSS / start to first update",
               f"{base_rss / 2**20:.0f} MiB / {base_start:.1f} s"))  # fmt: skip
    for r in results:
        per_account = (r.rss_bytes - base_rss) / r.accounts
        print(f"  {r.accounts} accounts, {r.touchpoints} touchpoints, store {r.store}")
        if r.store.startswith("memory"):
            print(line("  table memory per account", f"{r.table_bytes:,.0f} bytes"))
        print(line("  account index per account", f"{r.index_bytes:,.0f} bytes"))
        print(line("  worker RSS growth per account", f"{per_account:,.0f} bytes"))
        print(line("  changelog bytes per touchpoint (on disk)",
                   f"{r.changelog_bytes / r.touchpoints:,.0f} bytes"))  # fmt: skip
        print(line("  restart to first update (recovery)", f"{r.recovery_s:.1f} s "
                   f"({r.recovery_s / base_start:.1f}x an empty worker)"))  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench state-cost", description=__doc__)
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated account counts")
    parser.add_argument("--touches", type=int, default=3, help="touchpoints per account")
    parser.add_argument("--stores", default="memory://,rocksdb://", help="table stores to compare")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    asyncio.run(run(sizes, args.touches, args.stores.split(",")))


if __name__ == "__main__":
    main()
