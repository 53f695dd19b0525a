"""What every webhook source shares: a refused payload is named in the collector's one wording
(`producers.webhooks.invalid`, `load_json`)."""

from __future__ import annotations

from typing import Any

import pytest

from producers import webhooks
from producers.sources import email, linkedin, zoom
from producers.webhooks import WebhookError
from tests.support.factories import T0

ZOOM_SECRET = "zoom-secret-token"


@pytest.mark.parametrize(
    ("call", "where"),
    [
        (lambda: webhooks.load_json(b"null"), "body"),
        (lambda: email.map_email({"type": "email.opened", "data": None}, "m"), "field `data`"),
        (lambda: zoom.map_zoom({"event": "x"}, ZOOM_SECRET, T0), "field `payload`"),
        (lambda: zoom.map_zoom({"event": zoom.ZOOM_URL_VALIDATION, "payload": {}},
                                   ZOOM_SECRET, T0), "field `payload.plainToken`"),
        (lambda: linkedin.map_linkedin({"type": "LEAD_ACTION"}, T0), "field `occuredAt`"),
    ],
    ids=["body null", "email data null", "zoom payload missing", "zoom token missing",
         "linkedin time missing"],
)  # fmt: skip
def test_webhook_refusals_use_the_collector_wording(call: Any, where: str) -> None:
    with pytest.raises(WebhookError) as caught:
        call()
    message = caught.value.message
    assert message.startswith(f"{where}: expected "), message
    assert message.endswith((", got nothing", ", got a JSON null")), message
