"""The worker's web side: the account pages and their JSON, served by the Faust app itself.

- `index`: the standings of the accounts this worker owns, from the engagement table (no HTTP);
- `routes`: `/accounts/{id}` and `/accounts` (decode the request, ask the index or the table,
  name the persons, render, count);
- `gather`: the hottest accounts of the other workers, merged into this worker's;
- `templates`: the HTML, one module per page.

The timers that keep the index's reference time and the gauges are not web: `stream.gauges`,
with the engine-wide event clock in `stream.event_clock`.
"""
