"""Erasing a person from an account state: every mention goes, nothing else changes, no MQA."""

from __future__ import annotations

import orjson

from abm.core.assessment import account_score
from abm.core.engagement import apply
from abm.core.erasure import FORGOTTEN, erasure_pseudonyms, scrub
from abm.core.privacy import Identity
from abm.core.pseudonymize import pseudonymize_state
from abm.core.state import AccountState
from abm.core.timefmt import DAY_MS
from tests.support.factories import (
    CHAMPION,
    DM,
    T0,
    acts,
    default_model,
    mqas,
    qualifying_group,
    replay,
)

SECRET = b"the deployment's secret"
DANA = erasure_pseudonyms([Identity("email", "dana@acme.com")], SECRET)


def qualified_state() -> tuple[AccountState, list[dict[str, object]]]:
    """An MQA whose explanation names dana, chris and tess, then dana reads a page."""
    state, outcomes = replay([*qualifying_group(), *acts(DM, "/pricing", at_ms=T0 + 1000)])
    return state, mqas(outcomes)


def test_an_erasure_names_the_person_by_the_pseudonyms_of_each_identity() -> None:
    identities = [Identity("email", "dana@acme.com"), Identity("anonymous_id", "a-1")]
    assert erasure_pseudonyms(identities, SECRET) == sorted(i.pseudonym(SECRET) for i in identities)
    assert erasure_pseudonyms(identities, SECRET) != erasure_pseudonyms(identities, b"k")


def test_a_pseudonymous_state_is_scrubbed_by_the_same_pseudonyms() -> None:
    model = default_model()
    state, _ = qualified_state()
    state.legacy_keys = True  # as read from a version that named persons in the clear
    pseudonymize_state(state, SECRET, model)
    [dana] = DANA
    assert dana in state.contacts and "dana@acme.com" not in state.contacts
    assert scrub(state, set(DANA), SECRET, model) == [dana]
    assert dana not in orjson.dumps(state.to_dict()).decode()
    assert len(state.contacts) == 2


def test_scrub_removes_every_mention_of_the_person_and_only_theirs() -> None:
    state, fired = qualified_state()
    assert len(fired) == 1
    before = orjson.dumps(state.to_dict())
    assert b"dana@acme.com" in before

    removed = scrub(state, set(DANA), SECRET, default_model())

    assert removed == ["dana@acme.com"]
    after = orjson.dumps(state.to_dict())
    assert b"dana@acme.com" not in after
    assert b"chris@acme.com" in after and b"tess@acme.com" in after
    assert set(state.contacts) == {"chris@acme.com", "tess@acme.com"}
    assert all(t.contact != "dana@acme.com" for t in state.timeline)
    assert len(state.mqa_history) == 1
    event = state.mqa_history[0].event
    assert [r["contact"] for r in event["top_contacts"]] == ["chris@acme.com", "tess@acme.com"]
    for row in event["coverage_by_requirement"]:
        assert row["active"] == len(row["contacts"])


def test_the_persons_points_leave_the_score_and_no_mqa_fires_or_is_retracted() -> None:
    model = default_model()
    state, _ = qualified_state()
    now = state.clock_ms
    score_before = account_score(state, now, model)
    scrub(state, set(DANA), SECRET, model)
    assert account_score(state, now, model) < score_before
    assert state.qualified and state.episode == 1  # the MQA stands
    # the state goes on as usual afterwards
    later = apply(state, acts(CHAMPION, "/pricing", at_ms=now + DAY_MS)[0], model)
    assert not later.new_mqa


def test_the_persons_cap_entries_go_and_others_stay() -> None:
    model = default_model()
    state, _ = replay([*acts(DM, "/pricing", "/blog/a"), *acts(CHAMPION, "/pricing", "/blog/b")])
    champion_alone, _ = replay(acts(CHAMPION, "/pricing", "/blog/b"))
    assert len(state.caps) > len(champion_alone.caps) > 0
    scrub(state, set(DANA), SECRET, model)
    assert state.caps == champion_alone.caps


def test_an_act_now_summary_that_named_the_person_names_nobody() -> None:
    state, outcomes = replay(acts(DM, "Demo Requested"))
    [event] = mqas(outcomes)
    assert "dana@acme.com" in event["summary"]
    scrub(state, set(DANA), SECRET, default_model())
    summary = state.mqa_history[0].event["summary"]
    assert "dana@acme.com" not in summary and FORGOTTEN in summary


def test_a_state_that_does_not_name_the_person_is_left_as_it_was() -> None:
    state, _ = replay(acts(CHAMPION, "/pricing"))
    before = state.to_bytes()
    assert scrub(state, set(DANA), SECRET, default_model()) == []
    assert state.to_bytes() == before
