"""The account executive's verdict on an MQA alert ("Good lead" / "Not a fit"), in Redis.

Written by the alert service (the Slack buttons, the e-mail's signed links), read by the
account page (`abm worker`) and by `abm backtest`.

| key                             | type | value                                      |
|---------------------------------|------|--------------------------------------------|
| `{prefix}:out:verdict:{mqa_id}` | hash | giver -> the verdict as JSON (`Verdict`)   |

A giver is who gave it: `slack:{user id}` for a Slack button, `email` for the e-mail's links
(the e-mail goes to one recipient, the owner or the fallback address). Each giver has one verdict
per MQA: the same verdict again changes nothing (its first time is kept), a different one
replaces it. Bounds: at most `MAX_GIVERS` givers per MQA (a further giver is refused), and every
hash expires `VERDICT_TTL_S` after its last verdict, so the store holds at most one small hash
per MQA of the last 400 days.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson
import redis.asyncio as aioredis

GOOD: Final = "good"
NOT_A_FIT: Final = "not_a_fit"
VERDICTS: Final = (GOOD, NOT_A_FIT)
LABELS: Final[Mapping[str, str]] = {GOOD: "Good lead", NOT_A_FIT: "Not a fit"}

MAX_GIVERS: Final = 20
"""Verdicts kept per MQA (people who answered one alert; a channel post can reach many)."""
VERDICT_TTL_S: Final = 400 * 86_400
"""How long an MQA's verdicts are kept after the last one (the ledger keeps deliveries as long)."""
_SCAN_COUNT: Final = 1000

Result = Literal["new", "same", "changed", "full"]

# KEYS[1] the MQA's hash; ARGV: giver, record JSON, verdict, max givers, ttl seconds.
# Returns {result, previous verdict or false}; the same verdict again writes nothing.
_RECORD: Final = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then
  local previous = cjson.decode(old)['verdict']
  if previous == ARGV[3] then return {'same', previous} end
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('EXPIRE', KEYS[1], ARGV[5])
  return {'changed', previous}
end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then return {'full', false} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return {'new', false}
"""


@dataclass(frozen=True, slots=True)
class Verdict:
    mqa_id: str
    account_id: str
    giver: str
    verdict: str
    """`good` or `not_a_fit`."""
    at_ms: int
    by: str | None
    """The Slack user id, when the verdict came from Slack."""
    source: str
    """`slack` or `email_link`."""
    tier: int
    rule: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "at_ms": self.at_ms,
            "by": self.by,
            "source": self.source,
            "account_id": self.account_id,
            "tier": self.tier,
            "rule": self.rule,
        }

    @classmethod
    def from_dict(cls, mqa_id: str, giver: str, data: Mapping[str, Any]) -> Verdict:
        return cls(
            mqa_id=mqa_id,
            account_id=str(data["account_id"]),
            giver=giver,
            verdict=str(data["verdict"]),
            at_ms=int(data["at_ms"]),
            by=data.get("by"),
            source=str(data["source"]),
            tier=int(data["tier"]),
            rule=str(data["rule"]),
        )


@dataclass(frozen=True, slots=True)
class Recorded:
    result: Result
    """`new` (the giver's first verdict), `same` (repeated: nothing changed), `changed`
    (replaced `previous`), `full` (refused: `MAX_GIVERS` already answered)."""
    previous: str | None = None


class VerdictStore:
    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self._redis = redis
        self._base = f"{prefix}:out:verdict:"

    def key(self, mqa_id: str) -> str:
        return f"{self._base}{mqa_id}"

    async def record(self, verdict: Verdict) -> Recorded:
        """Store a giver's verdict (atomically: two clicks racing count once)."""
        if verdict.verdict not in VERDICTS:
            raise ValueError(f"verdict `{verdict.verdict}` is not one of {', '.join(VERDICTS)}")
        reply = await self._redis.eval(
            _RECORD, 1, self.key(verdict.mqa_id), verdict.giver,
            orjson.dumps(verdict.to_dict()), verdict.verdict, str(MAX_GIVERS), str(VERDICT_TTL_S),
        )  # fmt: skip
        result, previous = (_text(v) if v else None for v in reply)
        assert result in ("new", "same", "changed", "full")
        return Recorded(result, previous)  # type: ignore[arg-type]

    async def of_mqas(self, mqa_ids: Iterable[str]) -> dict[str, list[Verdict]]:
        """The verdicts of these MQAs (those that have any), each list by time."""
        ids = list(dict.fromkeys(mqa_ids))
        if not ids:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for mqa_id in ids:
                pipe.hgetall(self.key(mqa_id))
            replies = await pipe.execute()
        found = {}
        for mqa_id, fields in zip(ids, replies, strict=True):
            if fields:
                found[mqa_id] = _verdicts(mqa_id, fields)
        return found

    async def all(self) -> dict[str, list[Verdict]]:
        """Every stored verdict by MQA id (SCAN in pages; for the backtest)."""
        ids: list[str] = []
        async for key in self._redis.scan_iter(match=f"{self._base}*", count=_SCAN_COUNT):
            ids.append(_text(key)[len(self._base) :])
        return await self.of_mqas(sorted(ids))


def _verdicts(mqa_id: str, fields: Mapping[Any, Any]) -> list[Verdict]:
    verdicts = [
        Verdict.from_dict(mqa_id, _text(giver), orjson.loads(raw)) for giver, raw in fields.items()
    ]
    return sorted(verdicts, key=lambda v: (v.at_ms, v.giver))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
