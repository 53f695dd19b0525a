"""The count of a fault run (`tests.faults.tally`): what is sent, duplicated, unconfirmed,
dead-lettered and lost, by fault kind and channel."""

from __future__ import annotations

from collections import Counter

from tests.faults.scenario import NO_FAULT, Outcome
from tests.faults.tally import DeadLetter, Row, table, tally, total


def test_each_expected_alert_counts_once_by_what_became_of_it() -> None:
    expected = {
        ("a", "slack"): "kill",
        ("b", "slack"): "kill",  # received twice: one duplicate
        ("c", "slack"): "kill",  # nowhere: lost
        ("a", "email"): "kill",  # unconfirmed and received (at-most-once held)
        ("b", "email"): "kill",  # unconfirmed, not received
        ("c", "email"): "outage",  # retries exhausted: dead, not lost
    }
    received = {"slack": Counter({"a": 1, "b": 2, "zzz": 1}), "email": Counter({"a": 1})}
    letters = [DeadLetter("a", "email", "unconfirmed"), DeadLetter("a", "email", "unconfirmed"),
               DeadLetter("b", "email", "unconfirmed"),
               DeadLetter("c", "email", "retries_exhausted")]  # fmt: skip
    rows = {(r.kind, r.channel): r for r in tally(expected, received, letters)}
    assert rows[("kill", "slack")] == Row("kill", "slack", expected=3, sent=2, duplicated=1,
                                          lost=1)  # fmt: skip
    assert rows[("kill", "email")] == Row("kill", "email", expected=2, sent=1, unconfirmed=2,
                                          unconfirmed_received=1)  # fmt: skip
    assert rows[("outage", "email")] == Row("outage", "email", expected=1, dead=1)
    # an alert nobody expected, received: counted as duplicated
    assert rows[("unexpected", "slack")] == Row("unexpected", "slack", duplicated=1)
    whole = total(rows.values())
    assert (whole.expected, whole.sent, whole.duplicated, whole.lost) == (6, 3, 2, 1)
    text = table(list(rows.values()))
    assert "| total " in text and "2 (1 received)" in text


def outcome(rows: list[Row], produced: int = 2) -> Outcome:
    return Outcome(rows=rows, rounds=1, kinds=Counter({NO_FAULT: 1}), reference_mqas=2,
                   produced_mqas=produced, mqa_records=produced, unexpected_exits=Counter(),
                   unsettled_rounds=[], settled_at_end=True, missing=[], suspended_s=0.0,
                   tracker_retries=0, seconds=1.0)  # fmt: skip


def test_a_run_fails_on_duplicates_losses_and_unconfirmed_slack_while_slack_answers() -> None:
    clean = [Row("kill -9 abm alerts", "email", expected=2, sent=2, unconfirmed=1,
                 unconfirmed_received=1),
             Row("Slack hang", "slack", expected=2, sent=1, unconfirmed=1)]  # fmt: skip
    assert outcome(clean).failures() == []
    assert outcome(clean, produced=1).failures() == ["the engine produced 1 of 2 MQAs"]
    bad = [Row("kill -9 abm alerts", "slack", expected=2, sent=2, duplicated=1),
           Row("Redis outage", "email", expected=2, sent=1, lost=1),
           Row("kill -9 abm alerts", "slack", expected=2, sent=2, unconfirmed=1)]  # fmt: skip
    assert outcome(bad).failures() == [
        "1 duplicated (kill -9 abm alerts, slack)",
        "1 lost (Redis outage, email)",
        "1 unconfirmed on Slack while it answered (kill -9 abm alerts)",
    ]
