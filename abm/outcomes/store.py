"""The CRM's opportunities in Redis, next to the directory they refer to.

Key schema. Every key starts with `{prefix}:out:`; values are UTF-8 text.

| key                                 | type   | value                                            |
|-------------------------------------|--------|--------------------------------------------------|
| `{prefix}:out:opp:{opportunity_id}` | string | the opportunity as JSON (`Opportunity.to_dict`)   |
| `{prefix}:out:opps`                 | set    | every stored opportunity id                      |
| `{prefix}:out:mqas:{account_id}`    | zset   | recent MQAs (`{"id","rule","tier"}`) by time |
| `{prefix}:out:converted:{mqa_id}`   | string | the opportunity that converted the MQA       |

Loading is a replace per record (an opportunity loaded again takes its new stage, amount and
outcome), in one MULTI/EXEC transaction: a load lands completely or not at all. The CRM webhook
(`POST /crm/opportunity`) stores one opportunity the same way (`put`), and learns what was
stored before, so a redelivered webhook is recognized as changing nothing. Nothing is
deleted by omission. The store grows with the CRM, not with traffic; each load is bounded by
`MAX_OPPORTUNITIES_PER_FILE`, and `all` reads the ids in pages of `_PAGE`.

For the live conversion figures the alert service also remembers each account's recent MQAs
(`remember_mqa`) and marks an MQA converted once (`convert`) when the CRM webhook reports a new
opportunity of its account within `CONVERSION_DAYS` after it. Bounds: per account the newest
`MQAS_PER_ACCOUNT` MQAs of the last `MQA_HORIZON_DAYS` days, the key expiring that long after
its last MQA; each conversion mark expires after `MQA_HORIZON_DAYS` days.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson
import redis.asyncio as aioredis

from abm.core.opportunities import Opportunity

_PAGE: Final = 1000
"""Opportunities read per MGET (round trip) in `all`."""
CONVERSION_DAYS: Final = 90
"""A live MQA converts when its account opens an opportunity at most this long after it (the
backtest's default `--conversion-days`)."""
MQAS_PER_ACCOUNT: Final = 20
"""MQAs remembered per account (the MQA rule allows one per 30 days: 90 days hold at most 4)."""
MQA_HORIZON_DAYS: Final = 365
"""How long an account's MQAs and the conversion marks are kept."""


@dataclass(frozen=True, slots=True)
class OutcomesLoad:
    opportunities: int
    """Opportunities written."""
    replaced: int
    """Of those, how many replaced a stored one."""
    stored: int
    """Opportunities in the store after the load."""


class OutcomeStore:
    """Opportunities in Redis, for one key prefix."""

    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self._redis = redis
        self._base = f"{prefix}:out:"

    def opportunity_key(self, opportunity_id: str) -> str:
        return f"{self._base}opp:{opportunity_id}"

    @property
    def index_key(self) -> str:
        return f"{self._base}opps"

    async def load(self, opportunities: Sequence[Opportunity]) -> OutcomesLoad:
        """Write validated opportunities in one transaction (all or nothing)."""
        keys = [self.opportunity_key(o.opportunity_id) for o in opportunities]
        existing = 0
        async with self._redis.pipeline(transaction=False) as check:
            for key in keys:
                check.exists(key)
            existing = sum(bool(found) for found in await check.execute())
        async with self._redis.pipeline(transaction=True) as pipe:
            for key, opportunity in zip(keys, opportunities, strict=True):
                pipe.set(key, orjson.dumps(opportunity.to_dict()))
            if opportunities:
                pipe.sadd(self.index_key, *(o.opportunity_id for o in opportunities))
            pipe.scard(self.index_key)
            replies = await pipe.execute()
        return OutcomesLoad(len(opportunities), existing, int(replies[-1]))

    async def put(self, opportunity: Opportunity) -> Opportunity | None:
        """Store one validated opportunity (a replace, as `load`); the one it replaced, if any.
        Atomic (SET ... GET in a transaction), so of two deliveries of the same new
        opportunity exactly one sees None."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(
                self.opportunity_key(opportunity.opportunity_id),
                orjson.dumps(opportunity.to_dict()),
                get=True,
            )
            pipe.sadd(self.index_key, opportunity.opportunity_id)
            before, _ = await pipe.execute()
        return None if before is None else Opportunity.from_dict(orjson.loads(before))

    def _mqas_key(self, account_id: str) -> str:
        return f"{self._base}mqas:{account_id}"

    async def remember_mqa(
        self, account_id: str, mqa_id: str, qualified_ms: int, tier: int, rule: str
    ) -> None:
        """Remember an MQA of the account for the live conversion count (idempotent)."""
        key = self._mqas_key(account_id)
        member = orjson.dumps(
            {"id": mqa_id, "rule": rule, "tier": tier}, option=orjson.OPT_SORT_KEYS
        )
        horizon_ms = MQA_HORIZON_DAYS * 86_400_000
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {member: qualified_ms})
            pipe.zremrangebyscore(key, "-inf", qualified_ms - horizon_ms)
            pipe.zremrangebyrank(key, 0, -MQAS_PER_ACCOUNT - 1)
            pipe.expire(key, MQA_HORIZON_DAYS * 86_400)
            await pipe.execute()

    async def convert(self, opportunity: Opportunity) -> list[tuple[int, str]]:
        """Mark the account's MQAs this new opportunity converts (created at most
        `CONVERSION_DAYS` after them) and not converted before; (tier, rule) of each. Each MQA
        is marked once (SET NX), so a redelivered or a second opportunity counts nothing."""
        created = opportunity.created_ms
        found = await self._redis.zrangebyscore(
            self._mqas_key(opportunity.account_id), created - CONVERSION_DAYS * 86_400_000, created
        )
        converted: list[tuple[int, str]] = []
        for raw in found:
            mqa = orjson.loads(raw if isinstance(raw, bytes | str) else str(raw))
            marked = await self._redis.set(
                f"{self._base}converted:{mqa['id']}", opportunity.opportunity_id, nx=True,
                ex=MQA_HORIZON_DAYS * 86_400,
            )  # fmt: skip
            if marked:
                converted.append((int(mqa["tier"]), str(mqa["rule"])))
        return converted

    async def all(self) -> list[Opportunity]:
        """Every stored opportunity, ordered by creation time then id."""
        ids = sorted(_text(i) for i in await self._redis.smembers(self.index_key))
        found: list[Opportunity] = []
        for start in range(0, len(ids), _PAGE):
            page = [self.opportunity_key(i) for i in ids[start : start + _PAGE]]
            for raw in await self._redis.mget(page):
                if raw is not None:
                    found.append(Opportunity.from_dict(orjson.loads(raw)))
        return sorted(found, key=lambda o: (o.created_ms, o.opportunity_id))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
