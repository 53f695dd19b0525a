"""`abm mqa tail`'s text: the console rendering of the typed event, persons named as in alerts."""

from __future__ import annotations

import pytest

from abm.core.mqa_event import MqaEvent, MqaEventError
from abm.core.privacy import pseudonyms_in
from alerting.render import render_text
from alerting.tail import tail_text
from tests.support.alerting import mqa_event


async def test_the_text_names_the_persons_the_directory_knows() -> None:
    event = mqa_event("initech", pseudonym_key=b"k" * 32)
    pseudonyms = sorted(pseudonyms_in(event))
    asked: list[set[str]] = []

    async def names_of(wanted: set[str]) -> dict[str, str]:
        asked.append(wanted)
        return {pseudonyms[0]: "dana@initech.example"}

    text = await tail_text(event, names_of)
    assert asked == [set(pseudonyms)]
    assert "dana@initech.example" in text and f"visitor {pseudonyms[1][1:9]}" in text
    assert not any(p in text for p in pseudonyms)
    shown = MqaEvent.from_dict(event).revealed({pseudonyms[0]: "dana@initech.example"})
    assert text == render_text(shown)


async def test_a_record_that_is_not_an_mqa_event_is_refused_naming_the_field() -> None:
    async def names_of(wanted: set[str]) -> dict[str, str]:
        raise AssertionError("not asked for a record that cannot be shown")

    with pytest.raises(MqaEventError, match=r"^surge: missing$"):
        await tail_text({**mqa_event(), "surge": None}, names_of)
