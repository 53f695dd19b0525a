"""The suppression counter, shared by the collector's and the worker's metrics modules (a
process registers a metric once; the test suite imports both)."""

from __future__ import annotations

from prometheus_client import Counter

from abm.ops import exposition

exposition.configure()

SUPPRESSED = Counter(
    "abm_suppressed_total",
    "Messages dropped because their person is on the suppression list (abm privacy suppress), "
    "by the stage that dropped them: collector (never produced) or resolution (in the worker).",
    ["stage"],
)
