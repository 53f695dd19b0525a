"""Figure 4: two workers on two cores against one, on a topic with four partitions.

The same pre-loaded data is processed by one worker, then (in fresh topics) by two workers of
one consumer group. Throughput is read from Kafka as in the throughput figure; the MQA sets of
both runs must be identical, and identical to the in-memory reference.
"""

from __future__ import annotations

import argparse
import asyncio

from bench.common import dataset, line, prepare, say, services
from bench.throughput import ONE_WORKER, pipeline


async def run(accounts: int, days: int) -> dict[str, float]:
    data = dataset(accounts, days)
    expected = {m["mqa_id"] for m in data.reference.mqas}
    with services() as env:
        one = env.settings(partitions=4)
        await prepare(one, data)
        say("one worker")
        single = await pipeline(env, one, ONE_WORKER)
        two = env.settings(partitions=4)
        await prepare(two, data)
        say("two workers")
        double = await pipeline(env, two, ONE_WORKER * 2)
    print(f"scale-out ({single.messages} messages, 4 partitions)")
    print(line("one worker", f"{single.rate:,.0f} msg/s"))
    print(line("two workers", f"{double.rate:,.0f} msg/s"))
    print(line("two / one", f"{double.rate / single.rate:.2f}"))
    same = single.mqa_ids == double.mqa_ids == expected
    print(line("same MQAs (one = two = reference)", f"{same} ({len(single.mqa_ids)})"))
    return {"one": single.rate, "two": double.rate}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench scale-out", description=__doc__)
    parser.add_argument("--accounts", type=int, default=3000)
    parser.add_argument("--days", type=int, default=60)
    args = parser.parse_args(argv)
    asyncio.run(run(args.accounts, args.days))


if __name__ == "__main__":
    main()
