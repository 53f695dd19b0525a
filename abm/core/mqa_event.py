"""The MQA event as a typed value: built by the core, serialized once, parsed once.

`MqaEvent` and its parts are frozen dataclasses whose fields, in declaration order, are the
wire format's keys in the order they are written: `to_json()` gives the same bytes the engine
has always sent for the same content (`orjson` of the plain dict), so MQA records, ids and
stored states do not change. `from_json`/`from_dict` check every field's presence and type and
raise `MqaEventError` (a `ValueError`) naming the field's path and why; fields the reader does
not know are ignored, so a newer writer's additions do not stop an older reader.

The JSON Schema of the event (`json_schema()`, committed as `docs/mqa-event.schema.json`) is
derived from the same declarations, so the documented form cannot drift from the parser.
Framework-free, like the rest of `abm.core`.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar, Union, get_args, get_origin, get_type_hints

import orjson

from abm.core.privacy import reveal, visitor_label

SCHEMA: Final = 1
"""The wire format's version, the event's `schema` field; bumped only when the format changes
in a way an existing reader cannot read."""


def _doc(text: str) -> Any:
    """A required field with the description the JSON Schema gives it (ruff's RUF009 takes
    this for a default computed once; it is `dataclasses.field`, with no default)."""
    return field(metadata={"doc": text})


class MqaEventError(ValueError):
    """An MQA event that cannot be read: `path` is the field (`follow_up.due_at_ms`,
    `top_contacts[2].points`; empty for the whole value) and `why` the problem."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"{path}: {why}" if path else why)
        self.path = path
        self.why = why


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """The account as the directory described it when it qualified."""

    id: str = _doc("The account's id in the directory.")
    name: str = _doc("The account's name.")
    tier: int = _doc("ABM tier: 1 one-to-one, 2 one-to-few, 3 one-to-many.")
    icp_fit: float = _doc("Ideal-customer-profile fit, 0-100.")
    lifecycle: str = _doc("Lifecycle stage (`prospect`, `customer`, ...).")
    value_score: int | None = _doc("Customer value score 0-4, when known.")
    domains: tuple[str, ...] = _doc("The account's web domains.")


@dataclass(frozen=True, slots=True)
class CoverageRow:
    """Buying-group coverage of one requirement of the model."""

    requirement: str = _doc("The requirement's name in the model.")
    roles: tuple[str, ...] = _doc("The roles that count for it.")
    required: int = _doc("Active contacts it needs.")
    active: int = _doc("Active contacts it has.")
    contacts: tuple[str, ...] = _doc("The active contacts' keys (pseudonyms on the topic).")


@dataclass(frozen=True, slots=True)
class ContactRow:
    """One of the contacts who contribute most to the score."""

    contact: str = _doc("The contact's key: a pseudonym on the topic, a name in an alert.")
    role: str = _doc("Buying-group role.")
    seniority: str = _doc("Seniority (`vp`, `director`, ..., `unknown`).")
    title: str | None = _doc("Job title, when known.")
    points: float = _doc("What the contact adds to the score at qualification (points).")
    last_touch: str = _doc("The contact's latest touchpoint, ISO-8601 UTC with milliseconds.")
    touches: int = _doc("Touchpoints of the contact the state counts.")
    active: bool = _doc("Whether the contact is an active stakeholder.")


@dataclass(frozen=True, slots=True)
class TouchpointRow:
    """One of the touchpoints worth most at qualification."""

    at: str = _doc("When it happened, ISO-8601 UTC with milliseconds.")
    activity: str = _doc("The activity: an event name or `page:<category>`.")
    label: str = _doc("The activity as people read it (`pricing page`).")
    contact: str = _doc("Who: a pseudonym on the topic, a name in an alert.")
    role: str = _doc("Buying-group role of the contact.")
    points: float = _doc("Points granted (after multiplier and caps, before decay).")
    points_now: float = _doc("Points left at qualification, after decay.")
    url: str | None = _doc("The page's URL, for page views.")
    act_now: bool = _doc("Whether the activity is an act-now request (demo, contact sales).")


@dataclass(frozen=True, slots=True)
class Surge:
    """Recent engagement against the account's baseline."""

    ratio: float = _doc("Recent points over the weekly baseline.")
    recent_points: float = _doc("Points of the recent window.")
    baseline_weekly_points: float = _doc("Points per week before the recent window.")
    recent_touchpoints: int = _doc("Touchpoints in the recent window.")
    recent_people: int = _doc("Distinct people in the recent window.")
    surging: bool = _doc("Whether the ratio is over the model's surge ratio.")


@dataclass(frozen=True, slots=True)
class Owner:
    """Who the account belongs to (in an alert: who the alert was routed to)."""

    email: str | None = _doc("The owner's e-mail.")
    slack_id: str | None = _doc("The owner's Slack user id.")


@dataclass(frozen=True, slots=True)
class FollowUp:
    """When the MQA must be followed up (the SLA)."""

    due_at: str = _doc("Follow-up due time, ISO-8601 UTC with milliseconds.")
    due_at_ms: int = _doc("Follow-up due time, epoch milliseconds.")
    sla_seconds: int = _doc("The follow-up window, seconds from qualification.")


@dataclass(frozen=True, slots=True)
class MqaEvent:
    """An account qualified: the decision and every number behind it, for the account executive.

    The value of a record on the `mqa` topic, where persons are named by keyed pseudonym (`p` and
    32 hex digits); an alert names them as the directory does."""

    schema: int = _doc("Wire format version; always 1.")
    mqa_id: str = _doc("The MQA's id, derived from account, episode, time, rule and model.")
    episode: int = _doc("How many times the account has qualified, this one included.")
    rule: str = _doc("The rule that fired: `threshold` or `act_now`.")
    account: AccountSnapshot = _doc("The account.")  # noqa: RUF009 (a field, no default)
    qualified_at: str = _doc("When it qualified, ISO-8601 UTC with milliseconds.")
    qualified_at_ms: int = _doc("When it qualified, epoch milliseconds.")
    score: float = _doc("The account's score at qualification (points, 2 decimals).")
    threshold: float = _doc("The tier's MQA threshold (points).")
    coverage: float = _doc("Buying-group coverage, 0-1.")
    coverage_by_requirement: tuple[CoverageRow, ...] = _doc("Coverage per requirement.")
    active_stakeholders: int = _doc("Active stakeholders at qualification.")
    key_roles_active: tuple[str, ...] = _doc("The model's key roles that are active.")
    top_contacts: tuple[ContactRow, ...] = _doc("The contacts who contribute most.")
    top_touchpoints: tuple[TouchpointRow, ...] = _doc("The touchpoints worth most now.")
    surge: Surge = _doc("Recent engagement against the baseline.")  # noqa: RUF009 (a field, no default)
    first_engaged_at: str | None = _doc("First engagement of the episode, ISO-8601 UTC.")
    engaged_to_mqa_seconds: int | None = _doc("Seconds from first engagement to the MQA.")
    owner: Owner = _doc("The account's owner.")  # noqa: RUF009 (a field, no default)
    follow_up: FollowUp = _doc("The follow-up SLA.")  # noqa: RUF009 (a field, no default)
    model_version: str = _doc("Version of the scoring model that decided.")
    summary: str = _doc("One line an AE reads first: who, why now, what.")

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready dict: the keys in wire order, tuples as lists."""
        result: dict[str, Any] = _plain(self)
        return result

    def to_json(self) -> bytes:
        """The record value for the `mqa` topic (compact UTF-8 JSON)."""
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: Any) -> MqaEvent:
        """The event of a decoded JSON value; `MqaEventError` names the first bad field."""
        event = _read(cls, data, "")
        if event.schema != SCHEMA:
            raise MqaEventError("schema", f"unsupported version {event.schema!r} (reads {SCHEMA})")
        return event

    @classmethod
    def from_json(cls, raw: bytes | str) -> MqaEvent:
        """The event of a record value; `MqaEventError` for bytes that are not JSON
        (why: `not JSON: ...`) or not an MQA event."""
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise MqaEventError("", f"not JSON: {exc}") from exc
        return cls.from_dict(data)

    def revealed(
        self, names: Mapping[str, str], unnamed: Callable[[str], str] | None = None
    ) -> MqaEvent:
        """The event with every pseudonym it names (contacts, summary, URLs) replaced by its
        name from `names`, else by `unnamed(pseudonym)` (default `visitor <8 hex>`): what the
        alerts show. Only the text changes, so the result is a valid event."""
        return MqaEvent.from_dict(reveal(self.to_dict(), names, unnamed or visitor_label))

    def with_routing(self, owner: Owner, follow_up: FollowUp) -> MqaEvent:
        """The event as an alert shows it: the owner it was routed to and the follow-up due
        time the SLA tracker fixed."""
        return dataclasses.replace(self, owner=owner, follow_up=follow_up)


# --- the generic walk over the declarations ---------------------------------------------------

_T = TypeVar("_T")
_HINTS: dict[type, dict[str, Any]] = {}
_PLANS: dict[type, tuple[tuple[str, Any, bool], ...]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = get_type_hints(cls)
    return hints


def _plan(cls: type) -> tuple[tuple[str, Any, bool], ...]:
    """(name, type without `| None`, nullable) of each field, worked out once per class."""
    plan = _PLANS.get(cls)
    if plan is None:
        rows = []
        for f in dataclasses.fields(cls):
            hint = _hints(cls)[f.name]
            inner = _optional(hint)
            rows.append((f.name, hint if inner is None else inner, inner is not None))
        plan = _PLANS[cls] = tuple(rows)
    return plan


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: _plain(getattr(value, name)) for name, _, _ in _plan(type(value))}
    return value


def _optional(hint: Any) -> Any | None:
    """`X` of `X | None`, else None."""
    if get_origin(hint) in (Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        if len(args) == 1 and len(get_args(hint)) == 2:
            return args[0]
    return None


_TYPE_NAMES: Final = {
    str: "not a string",
    int: "not an integer",
    float: "not a number",
    bool: "not a boolean",
}


def _read(cls: type[_T], data: Any, path: str) -> _T:
    """The dataclass `cls` of a decoded JSON object; the error's path starts at `path`. Paths
    are put together only on an error, so reading a good event costs no string work."""
    if not isinstance(data, dict):
        raise MqaEventError(path, "not an object" if path else "not a JSON object")
    values: dict[str, Any] = {}
    for name, hint, nullable in _plan(cls):
        value = data.get(name)
        if value is None:
            if not nullable:
                raise MqaEventError(f"{path}.{name}" if path else name, "missing")
            values[name] = None
        elif hint is str or hint is int or hint is float or hint is bool:
            if not _fits(hint, value):
                raise MqaEventError(f"{path}.{name}" if path else name, _TYPE_NAMES[hint])
            values[name] = value
        else:
            values[name] = _value(hint, value, f"{path}.{name}" if path else name)
    return cls(**values)


def _fits(hint: Any, value: Any) -> bool:
    if hint is str:
        return isinstance(value, str)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _value(hint: Any, value: Any, where: str) -> Any:
    if get_origin(hint) is tuple:
        if not isinstance(value, list):
            raise MqaEventError(where, "not a list")
        item = get_args(hint)[0]
        if item is str:
            for i, v in enumerate(value):
                if not isinstance(v, str):
                    raise MqaEventError(f"{where}[{i}]", _TYPE_NAMES[str])
            return tuple(value)
        return tuple(_value(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if dataclasses.is_dataclass(hint):
        return _read(hint, value, where)  # type: ignore[arg-type]
    if not _fits(hint, value):
        raise MqaEventError(where, _TYPE_NAMES[hint])
    return value


# --- JSON Schema ------------------------------------------------------------------------------

_JSON_TYPES: Final = {str: "string", int: "integer", float: "number", bool: "boolean"}


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the event, from the declarations above: every field
    required (nullable ones may be null), the parts under `$defs`."""
    defs: dict[str, Any] = {}
    root = _object_schema(MqaEvent, defs)
    root["properties"]["schema"] = {**root["properties"]["schema"], "const": SCHEMA}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "MQA event",
        **root,
        "$defs": dict(sorted(defs.items())),
    }


def _object_schema(cls: type, defs: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        schema = _type_schema(_hints(cls)[f.name], defs)
        properties[f.name] = {"description": f.metadata["doc"], **schema}
    return {
        "description": " ".join((cls.__doc__ or "").split()),
        "type": "object",
        "required": [f.name for f in dataclasses.fields(cls)],
        "properties": properties,
    }


def _type_schema(hint: Any, defs: dict[str, Any]) -> dict[str, Any]:
    inner = _optional(hint)
    if inner is not None:
        schema = _type_schema(inner, defs)
        if "$ref" in schema:
            return {"anyOf": [schema, {"type": "null"}]}
        return {**schema, "type": [schema["type"], "null"]}
    if dataclasses.is_dataclass(hint):
        assert isinstance(hint, type)
        if hint.__name__ not in defs:
            defs[hint.__name__] = {}
            defs[hint.__name__] = _object_schema(hint, defs)
        return {"$ref": f"#/$defs/{hint.__name__}"}
    if get_origin(hint) is tuple:
        return {"type": "array", "items": _type_schema(get_args(hint)[0], defs)}
    return {"type": _JSON_TYPES[hint]}
