"""The worker's metric children looked up once (`stream.metrics.child`)."""

from __future__ import annotations

from stream import metrics


def test_a_child_is_the_labelled_series_looked_up_once() -> None:
    first = metrics.child(metrics.RESOLVED, "contact", "web")
    assert first is metrics.RESOLVED.labels(step="contact", channel="web")
    assert metrics.child(metrics.RESOLVED, "contact", "web") is first


def test_the_children_looked_up_are_bounded() -> None:
    assert metrics.child.cache_info().maxsize == 1024
