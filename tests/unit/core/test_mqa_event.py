"""The typed MQA event: the same bytes as the plain event, validation that names the field, a
reveal that keeps it valid, and a committed JSON Schema that is current and fits real events."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest

from abm.core.assessment import assess
from abm.core.explain import RULE_ACT_NOW, build_mqa_event
from abm.core.mqa_event import SCHEMA, MqaEvent, MqaEventError, json_schema
from abm.core.privacy import pseudonyms_in
from abm.core.state import AccountState
from abm.mqa_event_schema import COMMAND, SCHEMA_PATH, render
from tests.support.alerting import mqa_event
from tests.support.factories import T0, account, default_model

DATA = Path(__file__).parents[2] / "data"
KEY = b"k" * 32
MODEL = default_model()


def events() -> dict[str, dict[str, Any]]:
    """Engine-made events of each shape: threshold, act now, pseudonymous persons, and one of an
    account never engaged (nulls, empty lists)."""
    state = AccountState(account=account(), clock_ms=T0)
    never = build_mqa_event(state, assess(state, MODEL), RULE_ACT_NOW, MODEL).to_dict()
    return {
        "threshold": mqa_event(),
        "act_now": mqa_event("globex", act_now=True, owner_email=None),
        "pseudonymous": mqa_event("initech", pseudonym_key=KEY),
        "never_engaged": never,
    }


EVENTS = events()


# --- the wire form ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", EVENTS)
def test_parsing_and_serializing_gives_the_same_bytes(name: str) -> None:
    raw = orjson.dumps(EVENTS[name])
    event = MqaEvent.from_json(raw)
    assert event.to_json() == raw
    assert MqaEvent.from_dict(event.to_dict()) == event


def test_the_engine_sends_the_bytes_it_sent_before_the_event_was_typed() -> None:
    # tests/data/mqa-event-act-now.json was written by the engine when the event was a dict
    pinned = (DATA / "mqa-event-act-now.json").read_bytes().strip()
    assert orjson.dumps(mqa_event("globex", act_now=True, owner_email=None)) == pinned
    assert MqaEvent.from_json(pinned).to_json() == pinned


def test_the_core_builds_the_typed_event_the_state_stores_as_a_dict() -> None:
    state = AccountState(account=account(), clock_ms=T0)
    event = build_mqa_event(state, assess(state, MODEL), RULE_ACT_NOW, MODEL)
    assert isinstance(event, MqaEvent) and event.schema == SCHEMA == 1
    assert event.to_json() == orjson.dumps(event.to_dict())
    assert isinstance(event.to_dict()["top_contacts"], list)


def test_fields_a_reader_does_not_know_are_ignored() -> None:
    newer = {**EVENTS["threshold"], "added_later": {"x": 1}}
    assert MqaEvent.from_dict(newer).to_dict() == EVENTS["threshold"]


# --- validation -------------------------------------------------------------------------------


def broken(change: Any) -> dict[str, Any]:
    event = copy.deepcopy(EVENTS["threshold"])
    change(event)
    return event


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ([1], "not a JSON object"),
        (broken(lambda e: e.pop("mqa_id")), "mqa_id: missing"),
        (broken(lambda e: e.update(rule=None)), "rule: missing"),
        (broken(lambda e: e.update(qualified_at_ms="soon")), "qualified_at_ms: not an integer"),
        (broken(lambda e: e.update(qualified_at_ms=1.5)), "qualified_at_ms: not an integer"),
        (broken(lambda e: e["follow_up"].pop("due_at_ms")), "follow_up.due_at_ms: missing"),
        (broken(lambda e: e["account"].update(tier=True)), "account.tier: not an integer"),
        (broken(lambda e: e.update(account="acme")), "account: not an object"),
        (broken(lambda e: e.update(score="high")), "score: not a number"),
        (broken(lambda e: e.update(threshold=True)), "threshold: not a number"),
        (broken(lambda e: e.update(top_touchpoints={})), "top_touchpoints: not a list"),
        (
            broken(lambda e: e["top_contacts"][1].update(points="7")),
            "top_contacts[1].points: not a number",
        ),
        (
            broken(lambda e: e["coverage_by_requirement"][0]["contacts"].append(3)),
            "coverage_by_requirement[0].contacts[1]: not a string",
        ),
        (broken(lambda e: e["surge"].update(surging=1)), "surge.surging: not a boolean"),
        (broken(lambda e: e.update(schema=2)), "schema: unsupported version 2 (reads 1)"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_an_invalid_event_is_refused_naming_the_field_and_why(value: Any, problem: str) -> None:
    with pytest.raises(MqaEventError) as refused:
        MqaEvent.from_dict(value)
    assert str(refused.value) == problem
    assert isinstance(refused.value, ValueError)
    assert refused.value.path == (problem.partition(":")[0] if ":" in problem else "")


def test_nullable_fields_may_be_null() -> None:
    event = broken(lambda e: e["owner"].update(email=None, slack_id=None))
    event["top_contacts"][0]["title"] = None
    assert MqaEvent.from_dict(event).owner.email is None


def test_bytes_that_are_not_json_are_refused_as_such() -> None:
    with pytest.raises(MqaEventError, match=r"^not JSON: "):
        MqaEvent.from_json(b'{"mqa_id": ')


# --- persons ----------------------------------------------------------------------------------


def test_revealing_names_the_persons_and_keeps_a_valid_event() -> None:
    event = MqaEvent.from_dict(EVENTS["pseudonymous"])
    pseudonyms = sorted(pseudonyms_in(EVENTS["pseudonymous"]))
    named, unnamed = pseudonyms[0], pseudonyms[1]
    shown = event.revealed({named: "dana@initech.example"})
    text = shown.to_json().decode()
    assert named not in text and unnamed not in text
    assert "dana@initech.example" in text and f"visitor {unnamed[1:9]}" in text
    assert MqaEvent.from_json(shown.to_json()) == shown
    assert (shown.mqa_id, shown.score) == (event.mqa_id, event.score)
    assert shown.revealed({}) == shown  # nothing left to reveal


# --- the JSON Schema --------------------------------------------------------------------------


def test_the_committed_json_schema_is_current() -> None:
    committed = SCHEMA_PATH.read_text("utf-8") if SCHEMA_PATH.exists() else ""
    assert committed == render(), f"{SCHEMA_PATH} is stale; run: {COMMAND}"


def test_the_schema_requires_every_field_the_parser_reads() -> None:
    schema = json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["required"] == list(EVENTS["threshold"])
    assert schema["properties"]["schema"]["const"] == SCHEMA
    account = schema["$defs"]["AccountSnapshot"]
    assert account["required"] == list(EVENTS["threshold"]["account"])
    contact = schema["$defs"]["ContactRow"]
    assert contact["properties"]["title"]["type"] == ["string", "null"]
    assert contact["properties"]["points"]["type"] == "number"


def conforms(value: Any, schema: dict[str, Any], root: dict[str, Any], path: str = "") -> str:
    """The first place `value` breaks `schema` ('' when it fits), for the keywords our schema
    uses: $ref, anyOf, const, type, required, properties, items."""
    if "$ref" in schema:
        return conforms(value, root["$defs"][schema["$ref"].rsplit("/", 1)[1]], root, path)
    if "anyOf" in schema:
        fits = any(conforms(value, s, root, path) == "" for s in schema["anyOf"])
        return "" if fits else f"{path}: fits none of anyOf"
    if "const" in schema and value != schema["const"]:
        return f"{path}: not {schema['const']}"
    kinds = schema.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else kinds
    checks = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
    }
    if kinds and not any(checks[k](value) for k in kinds):
        return f"{path}: not {kinds}"
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                return f"{path}.{key}: missing"
        for key, sub in schema.get("properties", {}).items():
            if key in value and (problem := conforms(value[key], sub, root, f"{path}.{key}")):
                return problem
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            if problem := conforms(item, schema["items"], root, f"{path}[{i}]"):
                return problem
    return ""


@pytest.mark.parametrize("name", EVENTS)
def test_real_events_fit_the_committed_schema(name: str) -> None:
    schema = orjson.loads(SCHEMA_PATH.read_bytes())
    assert conforms(EVENTS[name], schema, schema) == ""


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (broken(lambda e: e["follow_up"].pop("due_at_ms")), ".follow_up.due_at_ms: missing"),
        (broken(lambda e: e["top_contacts"][0].update(active="yes")), ".top_contacts[0].active"),
        (broken(lambda e: e.update(schema=2)), ".schema: not 1"),
        (broken(lambda e: e.update(account=None)), ".account: not ['object']"),
    ],
)
def test_the_schema_refuses_what_the_parser_refuses(value: Any, problem: str) -> None:
    schema = orjson.loads(SCHEMA_PATH.read_bytes())
    assert conforms(value, schema, schema).startswith(problem)
    with pytest.raises(MqaEventError):
        MqaEvent.from_dict(value)
