"""The alert service's HTTP endpoints (aiohttp), on `ABM_ALERT_BIND:ABM_ALERT_PORT`.

- GET /metrics: Prometheus metrics; GET /healthz: `ok`.
- POST /slack/interactions: Slack interactivity (the Acknowledge button), signed (see
  `alerting.signing`).
- GET /ack?m=&a=&t=: the e-mail acknowledge link, a page with a confirm button (a GET never
  acknowledges, so mail scanners that open links cannot); POST /ack: the confirm button.
- GET /verdict?m=&a=&v=&t=, POST /verdict: the e-mail's "Good lead" / "Not a fit" links, the
  same way (`abm.outcomes.verdicts`); the Slack buttons come through /slack/interactions.
- POST /crm/activity: CRM webhook, a sales activity as JSON, with
  `Authorization: Bearer ABM_CRM_WEBHOOK_TOKEN`.
- POST /crm/opportunity: CRM webhook, an opportunity created or changed, as JSON, the same
  token; stored with the opportunities of `abm outcomes load` (`abm.outcomes.store`).

Every acknowledgement and activity is produced to `sales.activity`; the SLA tracker reads it
from there like any other follow-up.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from html import escape
from typing import TYPE_CHECKING, Any, Final

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from abm.core.opportunities import OpportunitiesError
from abm.outcomes.verdicts import LABELS as VERDICT_LABELS
from alerting.activity import ActivityError, SalesActivity
from alerting.signing import SignatureError, verify_ack, verify_slack, verify_verdict
from alerting.slack_blocks import ACK_ACTION_ID, VERDICT_ACTION_IDS

if TYPE_CHECKING:
    from alerting.service import AlertService

SERVICE_KEY = web.AppKey("service", object)
MAX_BODY = 64 * 1024


def _svc(request: web.Request) -> AlertService:
    return request.app[SERVICE_KEY]  # type: ignore[return-value]


def _page(title: str, body: str, status: int = 200) -> web.Response:
    html = (f"<!doctype html><html><head><meta charset=utf-8><title>{escape(title)}</title>"
            f"</head><body style=\"font-family:sans-serif\"><h2>{escape(title)}</h2>{body}"
            "</body></html>")  # fmt: skip
    return web.Response(text=html, status=status, content_type="text/html")


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def slack_interactions(request: web.Request) -> web.Response:
    service = _svc(request)
    secret = service.settings.slack_signing_secret
    if secret is None:
        return web.Response(status=404, text="Slack interactivity is not configured")
    body = await request.read()
    try:
        verify_slack(secret.get_secret_value(), request.headers.get("X-Slack-Request-Timestamp"),
                     request.headers.get("X-Slack-Signature"), body, time.time())  # fmt: skip
    except SignatureError as exc:
        return web.Response(status=401, text=f"invalid request signature: {exc}")
    form = await request.post()
    try:
        payload = orjson.loads(str(form.get("payload", "")))
    except orjson.JSONDecodeError:
        return web.Response(status=400, text="payload: not JSON")
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return web.Response(status=200)
    user = (payload.get("user") or {}).get("id")
    for action in payload.get("actions") or []:
        action_id = action.get("action_id")
        if not action.get("value"):
            continue
        mqa_id = str(action["value"])
        if action_id == ACK_ACTION_ID:
            await _acknowledge(service, mqa_id, None, by=user, source="slack")
        elif action_id in VERDICT_ACTION_IDS and user:
            verdict = VERDICT_ACTION_IDS[action_id]
            await service.record_verdict(
                mqa_id, None, verdict, giver=f"slack:{user}", by=user, source="slack"
            )
    return web.Response(status=200)


async def _acknowledge(
    service: AlertService, mqa_id: str, account_id: str | None, *, by: str | None, source: str
) -> bool:
    assert service.slas is not None
    record = await service.slas.get(mqa_id)
    if record is None or (account_id is not None and record.account_id != account_id):
        return False
    activity = SalesActivity(
        activity_id=f"ack:{mqa_id}:{source}:{by or '-'}",
        account_id=record.account_id,
        kind="ack",
        at_ms=service.clock_ms(),
        by=by,
        mqa_id=mqa_id,
        source=source,
    )
    await service.publish_activity(activity)
    return True


def _ack_params(service: AlertService, data: Any) -> tuple[str, str, str] | None:
    secret = service.settings.alert_ack_secret
    mqa_id, account_id, token = (str(data.get(k, "")) for k in ("m", "a", "t"))
    if secret is None or not (mqa_id and account_id and token):
        return None
    if not verify_ack(secret.get_secret_value(), mqa_id, account_id, token):
        return None
    return mqa_id, account_id, token


async def ack_page(request: web.Request) -> web.Response:
    params = _ack_params(_svc(request), request.query)
    if params is None:
        return _page("Invalid acknowledge link", "<p>This link is not valid.</p>", 403)
    mqa_id, account_id, token = params
    form = (f'<p>Acknowledge MQA <code>{escape(mqa_id)}</code> of account '
            f'<b>{escape(account_id)}</b>? It counts as your follow-up.</p>'
            '<form method=post action="ack">'
            f'<input type=hidden name=m value="{escape(mqa_id)}">'
            f'<input type=hidden name=a value="{escape(account_id)}">'
            f'<input type=hidden name=t value="{escape(token)}">'
            '<button type=submit>Acknowledge</button></form>')  # fmt: skip
    return _page("Acknowledge MQA", form)


async def ack_submit(request: web.Request) -> web.Response:
    service = _svc(request)
    params = _ack_params(service, await request.post())
    if params is None:
        return _page("Invalid acknowledge link", "<p>This link is not valid.</p>", 403)
    mqa_id, account_id, _ = params
    if not await _acknowledge(service, mqa_id, account_id, by=None, source="email_link"):
        return _page("Unknown MQA", "<p>This MQA is not known to the alert service.</p>", 404)
    return _page("Acknowledged", f"<p>MQA <code>{escape(mqa_id)}</code> acknowledged.</p>")


def _verdict_params(service: AlertService, data: Any) -> tuple[str, str, str, str] | None:
    secret = service.settings.alert_ack_secret
    mqa_id, account_id, verdict, token = (str(data.get(k, "")) for k in ("m", "a", "v", "t"))
    if secret is None or verdict not in VERDICT_LABELS or not (mqa_id and account_id and token):
        return None
    if not verify_verdict(secret.get_secret_value(), mqa_id, account_id, verdict, token):
        return None
    return mqa_id, account_id, verdict, token


_BAD_VERDICT_LINK: Final = ("Invalid verdict link", "<p>This link is not valid.</p>", 403)


async def verdict_page(request: web.Request) -> web.Response:
    params = _verdict_params(_svc(request), request.query)
    if params is None:
        return _page(*_BAD_VERDICT_LINK)
    mqa_id, account_id, verdict, token = params
    label = VERDICT_LABELS[verdict]
    form = (f'<p>Record your verdict on MQA <code>{escape(mqa_id)}</code> of account '
            f'<b>{escape(account_id)}</b>: <b>{escape(label)}</b>?</p>'
            '<form method=post action="verdict">'
            + "".join(f'<input type=hidden name={k} value="{escape(v)}">'
                      for k, v in (("m", mqa_id), ("a", account_id), ("v", verdict),
                                   ("t", token)))
            + f'<button type=submit>{escape(label)}</button></form>')  # fmt: skip
    return _page("AE verdict", form)


async def verdict_submit(request: web.Request) -> web.Response:
    service = _svc(request)
    params = _verdict_params(service, await request.post())
    if params is None:
        return _page(*_BAD_VERDICT_LINK)
    mqa_id, account_id, verdict, _ = params
    recorded = await service.record_verdict(
        mqa_id, account_id, verdict, giver="email", by=None, source="email_link"
    )
    if recorded is None:
        return _page("Unknown MQA", "<p>This MQA is not known to the alert service.</p>", 404)
    if recorded.result == "full":
        return _page("Not recorded", "<p>This MQA has all the verdicts it can keep.</p>", 409)
    label = escape(VERDICT_LABELS[verdict])
    return _page("Verdict recorded", f"<p>MQA <code>{escape(mqa_id)}</code>: {label}.</p>")


async def _crm_body(request: web.Request) -> bytes | web.Response:
    """The body of a CRM webhook request, or the answer refusing it: 404 when no token is set,
    401 without the bearer token, 413 over `MAX_BODY`."""
    token = _svc(request).settings.crm_webhook_token
    if token is None:
        return web.Response(status=404, text="the CRM webhook is not configured")
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token.get_secret_value()}".encode()):
        return web.Response(status=401, text="missing or wrong bearer token")
    body = await request.read()
    if len(body) > MAX_BODY:
        return web.Response(status=413, text=f"body over {MAX_BODY} bytes")
    return body


async def crm_activity(request: web.Request) -> web.Response:
    service = _svc(request)
    body = await _crm_body(request)
    if isinstance(body, web.Response):
        return body
    try:
        data = orjson.loads(body)
        if isinstance(data, dict):
            data.setdefault("source", "crm")
            data.setdefault("activity_id", "crm:" + hashlib.sha256(body).hexdigest()[:24])
        activity = SalesActivity.from_dict(data, default_at_ms=service.clock_ms())
    except orjson.JSONDecodeError:
        return web.json_response({"error": "body: not JSON"}, status=400)
    except ActivityError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    if activity.kind == "ack":
        return web.json_response({"error": "kind: ack comes from alerts, not the CRM"}, status=400)
    await service.publish_activity(activity)
    return web.json_response({"activity_id": activity.activity_id}, status=202)


async def crm_opportunity(request: web.Request) -> web.Response:
    """An opportunity created or changed in the CRM, as a JSON object with the fields of an
    opportunities.csv row, checked with the same rules (`abm outcomes load`) and stored in the
    same place. 200 with `result` created, updated or unchanged (a redelivery); 400 naming each
    field and why."""
    service = _svc(request)
    body = await _crm_body(request)
    if isinstance(body, web.Response):
        return body
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return web.json_response({"error": "body: not JSON"}, status=400)
    try:
        opportunity, before = await service.record_opportunity(data)
    except OpportunitiesError as exc:
        return web.json_response(
            {
                "error": "; ".join(map(str, exc.errors)),
                "errors": [{"field": e.field, "message": e.message} for e in exc.errors],
            },
            status=400,
        )
    result = "created" if before is None else ("unchanged" if before == opportunity else "updated")
    return web.json_response({"opportunity_id": opportunity.opportunity_id, "result": result})


async def start_web(service: AlertService, host: str, port: int) -> web.AppRunner:
    app = web.Application(client_max_size=MAX_BODY)
    app[SERVICE_KEY] = service
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/slack/interactions", slack_interactions)
    app.router.add_get("/ack", ack_page)
    app.router.add_post("/ack", ack_submit)
    app.router.add_get("/verdict", verdict_page)
    app.router.add_post("/verdict", verdict_submit)
    app.router.add_post("/crm/activity", crm_activity)
    app.router.add_post("/crm/opportunity", crm_opportunity)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
