"""`POST /v1/regulations` on the collector: the `abm privacy` commands over HTTP, in the style
of a deletion regulation (Segment's and RudderStack's user deletion and suppression APIs).

    POST /v1/regulations
    Authorization: Bearer ABM_PRIVACY_ADMIN_KEY
    {"regulationType": "Suppress_With_Delete", "subjectType": "EMAIL", "subjectIds": ["a@b.io"]}

`regulationType`: `Suppress_With_Delete` (`abm privacy forget`), `Suppress_Only`
(`abm privacy suppress`), `Unsuppress` (`abm privacy unsuppress`). `subjectType`: `EMAIL`,
`USER_ID` or `ANONYMOUS_ID`; `subjectIds`: 1 to `MAX_SUBJECTS` of them. The admin key is its
own secret, never a write key; unset, the endpoint answers 404. Every subject is checked before
anything changes (400 names the field and why); the answer says what happened to each, in order.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any, Final

import orjson
import redis.asyncio as aioredis
from aiohttp import web
from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

from abm.core.privacy import Identity, IdentityError, IdentityKind
from abm.privacy.forget import forget
from abm.privacy.suppression import SuppressionFull, SuppressionList
from producers.settings import CollectorSettings

MAX_SUBJECTS: Final = 100
"""Subjects one request may name."""
MAX_BODY_BYTES: Final = 64 * 1024
REGULATION_TYPES: Final = ("Suppress_With_Delete", "Suppress_Only", "Unsuppress")
SUBJECT_TYPES: Final[dict[str, IdentityKind]] = {
    "EMAIL": "email",
    "USER_ID": "user_id",
    "ANONYMOUS_ID": "anonymous_id",
}


@dataclass(frozen=True)
class Regulation:
    kind: str
    subjects: list[Identity]


class Invalid(ValueError):
    """A request that names nobody or nothing to do; the message says which field and why."""


def parse(body: bytes) -> Regulation:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise Invalid("the body is not JSON") from None
    if not isinstance(doc, dict):
        raise Invalid("the body is not a JSON object")
    kind = doc.get("regulationType")
    if kind not in REGULATION_TYPES:
        raise Invalid(f"regulationType: one of {', '.join(REGULATION_TYPES)} is required")
    subject_type = doc.get("subjectType")
    if subject_type not in SUBJECT_TYPES:
        raise Invalid(f"subjectType: one of {', '.join(SUBJECT_TYPES)} is required")
    ids = doc.get("subjectIds")
    if not isinstance(ids, list) or not 0 < len(ids) <= MAX_SUBJECTS:
        raise Invalid(f"subjectIds: a list of 1 to {MAX_SUBJECTS} ids is required")
    subjects = []
    for n, value in enumerate(ids):
        if not isinstance(value, str):
            raise Invalid(f"subjectIds[{n}]: a string is required")
        try:
            subjects.append(Identity.parse(SUBJECT_TYPES[subject_type], value))
        except IdentityError as exc:
            raise Invalid(f"subjectIds[{n}]: {exc}") from None
    return Regulation(kind, subjects)


def authorized(settings: CollectorSettings, header: str | None) -> bool | None:
    """None when the endpoint is off (no admin key), else whether `header` carries the key."""
    key = settings.privacy_admin_key
    if key is None or not key.get_secret_value():
        return None
    expected = f"Bearer {key.get_secret_value()}".encode()
    return hmac.compare_digest((header or "").encode(), expected)


async def apply(settings: CollectorSettings, regulation: Regulation) -> list[dict[str, Any]]:
    """Carry the regulation out for each subject, in order."""
    redis = aioredis.Redis.from_url(
        settings.redis_url.get_secret_value(), socket_connect_timeout=5, socket_timeout=10
    )
    suppression = SuppressionList(redis, settings.redis_prefix, settings.pseudonym_secret())
    results: list[dict[str, Any]] = []
    try:
        for subject in regulation.subjects:
            result: dict[str, Any] = {"subjectId": subject.value}
            if regulation.kind == "Suppress_With_Delete":
                report = await forget(settings, redis, subject)
                result.update(status="forgotten", erasureId=report.erasure_id)
            elif regulation.kind == "Suppress_Only":
                await suppression.add(subject)
                result["status"] = "suppressed"
            else:
                removed = await suppression.remove(subject)
                result["status"] = "unsuppressed" if removed else "not_suppressed"
            results.append(result)
    finally:
        await redis.aclose()
    return results


async def handle(settings: CollectorSettings, request: web.Request) -> web.Response:
    allowed = authorized(settings, request.headers.get("Authorization"))
    if allowed is None:
        return _error(404, "not_configured", "the regulations API is off (ABM_PRIVACY_ADMIN_KEY)")
    if not allowed:
        return _error(401, "unauthorized", "a Bearer admin key (ABM_PRIVACY_ADMIN_KEY) is needed")
    body = await request.content.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return _error(413, "payload_too_large", f"the body is over {MAX_BODY_BYTES} bytes")
    try:
        regulation = parse(body)
    except Invalid as exc:
        return _error(400, "invalid", str(exc))
    try:
        results = await apply(settings, regulation)
    except SuppressionFull as exc:
        return _error(507, "suppression_list_full", str(exc))
    except (KafkaError, TimeoutError):
        return _error(
            503, "kafka_unavailable", "the erasure could not be sent to Kafka; the subjects "
            "named before the failure are done, the failing one is suppressed: send it again"
        )  # fmt: skip
    except (RedisError, OSError):
        return _error(503, "redis_unavailable", "Redis does not answer; send it again")
    return web.json_response({"regulationType": regulation.kind, "results": results})


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status)
