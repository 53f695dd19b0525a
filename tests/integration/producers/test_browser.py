"""A website's own tracker in a real browser: Segment's analytics-next and RudderStack's JS SDK
(the npm builds pinned in tests/browser/package-lock.json, installed into .cache/browser by
./dev.sh setup), loaded by a page that a local static server serves on another port than the
collector (so the browser applies CORS), in headless Chromium. Their page, track, identify and
group calls reach the raw topic once each, with the browser's context, and the worker resolves
them like the backend SDKs' calls."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from abm.infra.process import free_port
from stream.topics import RAW
from tests.support.chromium import Chromium
from tests.support.collector import (
    WRITE_KEY,
    Running,
    arrived,
    check_delivery,
    running_stack,
)
from tests.support.harness import REPO, WorkerProcess

pytestmark = pytest.mark.integration

ANALYTICS_NEXT = "@segment/analytics-next"
RUDDERSTACK_JS = "@rudderstack/analytics-js"


def installed(package: str) -> Path:
    """A package of tests/browser/package.json as ./dev.sh setup installed it; fails (never
    skips) when it is missing."""
    cache = Path(os.environ.get("ABM_CACHE_DIR", REPO / ".cache"))
    root = cache / "browser" / "node_modules" / package
    assert (root / "package.json").is_file(), f"{package} is not installed: run ./dev.sh setup"
    pinned = orjson.loads((REPO / "tests" / "browser" / "package.json").read_bytes())
    version = orjson.loads((root / "package.json").read_bytes())["version"]
    assert version == pinned["dependencies"][package], "stale .cache/browser: run ./dev.sh setup"
    return root


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Pricing</title>
<script src="/analytics-next/index.js"></script>
<script>
// What a website does with analytics-next pointed at the collector (apiHost), without
// Segment's CDN: the settings it would fetch from there are given (cdnSettings).
window.track = async function (collector, writeKey, user, batching) {
  // batching: the library's batching delivery (one POST to /v1/b for the four calls)
  const segment = {apiHost: collector + "/v1", protocol: "http"};
  if (batching) {
    segment.deliveryStrategy = {strategy: "batching", config: {size: 4, timeout: 1000}};
  }
  const [analytics] = await AnalyticsNext.AnalyticsBrowser.load(
    {writeKey, cdnURL: location.origin,
     cdnSettings: {integrations: {"Segment.io": {apiKey: writeKey, ...segment}}}},
    {integrations: {"Segment.io": segment}});
  const calls = [
    () => analytics.identify(user, {email: "dana@acme.com", title: "CTO"}),
    () => analytics.group("acme", {name: "Acme BV"}),
    () => analytics.track("Demo Requested", {form: "demo"}),
    () => analytics.page("Docs", "Pricing"),
  ];
  let sent = [];
  if (batching) {
    sent = await Promise.all(calls.map((call) => call()));
  } else {
    for (const call of calls) sent.push(await call());
  }
  return sent.map((ctx) => ({
    type: ctx.event.type, messageId: ctx.event.messageId,
    failed: ctx.failedDelivery() ? String(ctx.failedDelivery().reason) : null}));
};
</script></head>
<body><h1>Pricing</h1></body></html>
"""


@contextlib.asynccontextmanager
async def static_site(page: str, files: dict[str, Path]) -> AsyncIterator[str]:
    """The test website on its own loopback port: `page` at /pricing, and each directory of
    `files` under its prefix."""

    async def pricing(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    app = web.Application()
    app.router.add_get("/pricing", pricing)
    for prefix, directory in files.items():
        app.router.add_static(prefix, directory)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture(scope="module")
async def stack(
    kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Running, WorkerProcess, Path]]:
    tmp = tmp_path_factory.mktemp("browser")
    async with running_stack(kafka_bootstrap, redis_url, tmp) as (running, worker):
        yield running, worker, tmp


@pytest.mark.parametrize(
    ("delivery", "user"), [("standard", "u-browser-std"), ("batching", "u-browser-batch")]
)
async def test_analytics_next_in_chromium_delivers_touchpoints(
    stack: tuple[Running, WorkerProcess, Path], delivery: str, user: str
) -> None:
    """Standard delivery posts each call to /v1/i, /v1/g, /v1/t, /v1/p after a CORS preflight
    (the library sends an Authorization header); batching delivery posts them to /v1/b."""
    running, worker, tmp = stack
    umd = installed(ANALYTICS_NEXT) / "dist" / "umd"
    host = f"127.0.0.1:{running.settings.collector_port}"
    # the build looks for its lazily loaded chunks in {cdnURL}/analytics-next/bundles/
    files = {"/analytics-next/bundles": umd, "/analytics-next": umd}
    async with (
        static_site(PAGE, files) as website,
        Chromium(tmp / f"chromium-{delivery}") as browser,
    ):
        url = f"{website}/pricing"
        await browser.open(url)
        args = orjson.dumps([host, WRITE_KEY, user, delivery == "batching"]).decode()
        sent: list[dict[str, Any]] = await browser.evaluate(f"window.track(...{args})")
        assert [s["type"] for s in sent] == ["identify", "group", "track", "page"], browser.console
        assert all(s["failed"] is None for s in sent), (sent, browser.console)
        await check_browser_delivery(running, worker, browser, user, url, sent, "analytics.js")
    paths = {labels["endpoint"] for labels in requests_seen(running)}
    assert "preflight" in paths
    assert ("batch" if delivery == "batching" else "track") in paths


RUDDER_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Pricing</title>
<script>
// Test instrumentation: every request the page's scripts make, with its answer's status.
window.requests = [];
const open = XMLHttpRequest.prototype.open;
XMLHttpRequest.prototype.open = function (method, url, ...rest) {
  this.addEventListener("loadend", () =>
    window.requests.push({method, url: String(url), status: this.status}));
  return open.call(this, method, url, ...rest);
};
</script>
<script src="/rudderstack/index.js"></script>
<script>
// What a website does with RudderStack's SDK pointed at the collector (the data plane URL),
// without RudderStack's control plane: the source configuration is given (getSourceConfig). The
// bundled build carries its plugins, so nothing is fetched from RudderStack's CDN.
window.track = async function (collector, writeKey, user, delivery) {
  const options = {
    getSourceConfig: () => ({source: {
      id: "website", name: "Website", workspaceId: "self-hosted", enabled: true,
      config: {}, destinations: []}}),
    logLevel: "WARN",
  };
  // batching: one POST to /v1/batch for the four calls; beacon: one navigator.sendBeacon to
  // /beacon/v1/batch (not an XMLHttpRequest: its answer cannot be read)
  const batching = delivery !== "standard";
  if (delivery === "batching") {
    options.queueOptions = {batch: {enabled: true, maxItems: 4, flushInterval: 1000}};
  } else if (delivery === "beacon") {
    options.useBeacon = true;
    options.beaconQueueOptions = {maxItems: 4, flushQueueInterval: 1000};
  }
  const analytics = new rudderanalytics.RudderAnalytics();
  analytics.load(writeKey, collector, options);
  await new Promise((resolve) => analytics.ready(resolve));
  const posts = () => window.requests.filter(
    (r) => r.method === "POST" && r.url.startsWith(collector));
  const beacons = () => performance.getEntriesByType("resource").filter(
    (e) => e.initiatorType === "beacon").map((e) => e.name);
  const answered = async (count) => {  // the collector answered `count` POSTs (or 20 s passed)
    const done = () => (delivery === "beacon" ? beacons() : posts()).length >= count;
    for (let waited = 0; !done() && waited < 20000; waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const sent = [];
  const done = (event) => sent.push({type: event.type, messageId: event.messageId});
  const calls = [
    () => analytics.identify(user, {email: "dana@acme.com", title: "CTO"}, done),
    () => analytics.group("acme", {name: "Acme BV"}, done),
    () => analytics.track("Demo Requested", {form: "demo"}, done),
    () => analytics.page("Docs", "Pricing", done),
  ];
  for (const call of calls) {
    call();
    // standard delivery: one call at a time, so identify and group arrive before the others
    if (!batching) await answered(sent.length);
  }
  await answered(batching ? 1 : calls.length);
  return {sent, posts: posts(), beacons: beacons(),
          resources: performance.getEntriesByType("resource").map((e) => e.name)};
};
</script></head>
<body><h1>Pricing</h1></body></html>
"""


@pytest.mark.parametrize(
    ("delivery", "user"),
    [("standard", "u-rudder-std"), ("batching", "u-rudder-batch"), ("beacon", "u-rudder-beacon")],
)
async def test_rudderstack_js_in_chromium_delivers_touchpoints(
    stack: tuple[Running, WorkerProcess, Path], delivery: str, user: str
) -> None:
    """RudderStack's JS SDK v3 (its bundled UMD build, plugins included) with the source
    configuration given: standard delivery posts each call to /v1/identify, /v1/group,
    /v1/track, /v1/page after a CORS preflight (Authorization, AnonymousId and SentAt headers);
    batching delivery posts them to /v1/batch; with useBeacon, navigator.sendBeacon posts them
    to /beacon/v1/batch (text/plain, the key in the query string). Nothing else is requested."""
    running, worker, tmp = stack
    umd = installed(RUDDERSTACK_JS) / "dist" / "npm" / "modern" / "bundled" / "umd"
    preflights = requests_counted(running, "preflight")
    beacons = requests_counted(running, "beacon", "200")
    async with (
        static_site(RUDDER_PAGE, {"/rudderstack": umd}) as website,
        Chromium(tmp / f"chromium-rudder-{delivery}") as browser,
    ):
        url = f"{website}/pricing"
        await browser.open(url)
        args = orjson.dumps([running.url, WRITE_KEY, user, delivery]).decode()
        result: dict[str, Any] = await browser.evaluate(f"window.track(...{args})")
        sent, posts = result["sent"], result["posts"]
        assert [s["type"] for s in sent] == ["identify", "group", "track", "page"], browser.console
        paths = [p["url"].removeprefix(running.url) for p in posts]
        expected = {
            "standard": [f"/v1/{s['type']}" for s in sent],
            "batching": ["/v1/batch"],
            "beacon": [],
        }[delivery]
        assert paths == expected, (posts, browser.console)
        assert [p["status"] for p in posts] == [200] * len(posts), (posts, browser.console)
        if delivery == "beacon":
            beacon_url = f"{running.url}/beacon/v1/batch?writeKey={WRITE_KEY}"
            assert result["beacons"] == [beacon_url], (result, browser.console)
            # the collector's answer, which the page cannot read
            assert requests_counted(running, "beacon", "200") == beacons + 1
        # no control plane, no CDN: only the website and the collector were asked
        others = [u for u in result["resources"] if not u.startswith((website, running.url))]
        assert others == [], others
        await check_browser_delivery(
            running, worker, browser, user, url, sent, "RudderLabs JavaScript SDK"
        )
    # the SDK's Authorization, AnonymousId and SentAt headers make the browser ask first; a
    # beacon of text/plain is a simple request
    assert (requests_counted(running, "preflight") > preflights) == (delivery != "beacon")


async def check_browser_delivery(
    running: Running,
    worker: WorkerProcess,
    browser: Chromium,
    user: str,
    url: str,
    sent: list[dict[str, Any]],
    library: str,
) -> None:
    """The page's four calls (`sent`: their types and messageIds) reached the raw topic once
    each, with the browser's page and user agent, the worker resolved them as it does the
    backend SDKs' calls, and the page logged no error."""
    user_agent = await browser.evaluate("navigator.userAgent")
    await check_delivery(running, worker, user, "dana@acme.com", "decision_maker", "c_level")
    mine = f'"userId":"{user}"'.encode()
    raw = await arrived(running, RAW, lambda r: mine in r.value, 4)
    docs = [r.json() for r in raw]
    assert sorted(d["messageId"] for d in docs) == sorted(s["messageId"] for s in sent)
    for doc in docs:  # once each, with the browser's context
        assert doc["context"]["page"]["url"] == url
        assert doc["context"]["page"]["path"] == "/pricing"
        assert doc["context"]["userAgent"] == user_agent
        assert doc["context"]["library"]["name"] == library
        assert "writeKey" not in doc
    errors = [line for line in browser.console if "error" in line.lower()]
    assert errors == [], errors


def requests_seen(running: Running) -> list[dict[str, str]]:
    """The label sets of abm_collector_requests_total answered so far (this process)."""
    from prometheus_client import REGISTRY

    return [
        sample.labels
        for metric in REGISTRY.collect()
        if metric.name == "abm_collector_requests"
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.value > 0
    ]


def requests_counted(running: Running, endpoint: str, code: str | None = None) -> float:
    """abm_collector_requests_total of one endpoint so far (this process), of one answer code
    or all."""
    from prometheus_client import REGISTRY

    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "abm_collector_requests"
        for sample in metric.samples
        if sample.name.endswith("_total")
        and sample.labels.get("endpoint") == endpoint
        and code in (None, sample.labels.get("code"))
    )
