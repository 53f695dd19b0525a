"""The `sales.activity` record: a sales follow-up on an account. Pure (schema and validation).

Key: the account id. Value: one JSON object, UTF-8:

| field | type | meaning |
|---|---|---|
| `v` | 1 | schema version |
| `activity_id` | string (<= 200) | unique per activity; the same id twice counts once |
| `account_id` | string | the account followed up |
| `kind` | `meeting`, `call`, `email` or `ack` | what happened (`ack`: the alert's acknowledge) |
| `at` / `at_ms` | ISO-8601 / epoch ms | when it happened (`at_ms` wins when both are given) |
| `by` | string or null | who (AE e-mail or Slack user id) |
| `mqa_id` | string or null | the MQA it answers (required for `ack`, optional otherwise) |
| `source` | string | `cli`, `crm`, `slack`, `email_link`, ... |
| `note` | string or null | free text (<= 2000) |

Written by `abm sales activity`, the CRM webhook (`POST /crm/activity`) and the acknowledge
button or link of an alert; read by the alert service's SLA tracker.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import orjson

from abm.core.timefmt import iso_ms, parse_iso_ms
from alerting.sla import FollowUp

SCHEMA: Final = 1
KINDS: Final = ("meeting", "call", "email", "ack")


class ActivityError(ValueError):
    """An activity that breaks the schema; the message names the field and why."""


@dataclass(frozen=True)
class SalesActivity:
    activity_id: str
    account_id: str
    kind: str
    at_ms: int
    by: str | None = None
    mqa_id: str | None = None
    source: str = "cli"
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "v": SCHEMA,
            "activity_id": self.activity_id,
            "account_id": self.account_id,
            "kind": self.kind,
            "at": iso_ms(self.at_ms),
            "at_ms": self.at_ms,
            "by": self.by,
            "mqa_id": self.mqa_id,
            "source": self.source,
            "note": self.note,
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())

    def follow_up(self) -> FollowUp:
        return FollowUp(
            at_ms=self.at_ms,
            kind=self.kind,
            activity_id=self.activity_id,
            mqa_id=self.mqa_id if self.kind == "ack" else None,
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> SalesActivity:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ActivityError(f"not JSON: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Any, *, default_at_ms: int | None = None) -> SalesActivity:
        """Validate a JSON object; `default_at_ms` is used when it carries no time."""
        if not isinstance(data, dict):
            raise ActivityError("not a JSON object")
        account_id = _text(data, "account_id", required=True, limit=200)
        activity_id = _text(data, "activity_id", required=True, limit=200)
        kind = _text(data, "kind", required=True, limit=20)
        if kind not in KINDS:
            raise ActivityError(f"kind: must be one of {', '.join(KINDS)}, not {kind!r}")
        at_ms = data.get("at_ms")
        if at_ms is not None and (not isinstance(at_ms, int) or isinstance(at_ms, bool)):
            raise ActivityError("at_ms: must be an integer (epoch milliseconds)")
        if at_ms is None and data.get("at") is not None:
            at = data["at"]
            if not isinstance(at, str):
                raise ActivityError("at: must be an ISO-8601 string")
            try:
                at_ms = parse_iso_ms(at)
            except ValueError as exc:
                raise ActivityError(f"at: {exc}") from None
        if at_ms is None:
            if default_at_ms is None:
                raise ActivityError("at: missing (give `at` or `at_ms`)")
            at_ms = default_at_ms
        mqa_id = _text(data, "mqa_id", limit=200)
        if kind == "ack" and not mqa_id:
            raise ActivityError("mqa_id: required for an acknowledgement")
        return cls(
            activity_id=activity_id or "",
            account_id=account_id or "",
            kind=kind or "",
            at_ms=at_ms,
            by=_text(data, "by", limit=320),
            mqa_id=mqa_id,
            source=_text(data, "source", limit=40) or "unknown",
            note=_text(data, "note", limit=2000),
        )


def _text(data: dict[str, Any], name: str, *, required: bool = False, limit: int) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise ActivityError(f"{name}: missing")
        return None
    if not isinstance(value, str):
        raise ActivityError(f"{name}: must be a string")
    if len(value) > limit:
        raise ActivityError(f"{name}: longer than {limit} characters")
    return value
