"""What the tests share, in one place; the test files themselves mirror the code they test
(`tests/unit/<package>/...`, `tests/integration/<package>/...`).

Data and waiting, for every test:

- `factories`: builders of directory records, touchpoints, Segment messages, scoring models and
  engine replays, with explicit times from `T0`;
- `polling`: the one way a test waits for another process or task (`until`, `until_blocking`);
- `purity`: the import check of the modules that must stay pure.

The real services and processes, for the integration tests (the broker and Redis themselves are
the `services` fixture of `tests/conftest.py`):

- `harness`: a test's own settings, topics and directory, the worker as a real process, Kafka
  reads and writes;
- `stories`: accounts, their people and what they do, as Segment messages; the simulator's
  sample;
- `collector`: the collector in the test's event loop, what it wrote to Kafka, and what a
  tracker's calls became on the raw and resolved topics;
- `ops_tools`: the stack's other processes, a real Prometheus, /metrics parsing, a busy SMTP
  server, page screenshots;
- `chromium`: headless Chromium over the DevTools protocol.

Alerting:

- `alerting`: MQA events made by the real engine, the alert service's settings;
- `alert_service`: the alert service in-process or as a process, MQA and sales-activity records
  on the broker, Slack signatures, its metrics;
- `alert_fakes`: the deliverer's collaborators in memory (ledger, channel, dead letters) and a
  clock for the Slack channel's pacing.

Elsewhere: the fault harness (`tests/faults/`: processes killed, services stopped, Slack and SMTP
stand-ins, the chaos run) stays a package of its own because `./dev.sh chaos` runs it as
`python -m tests.faults.chaos`; a helper that one folder's tests alone use stays in that folder
(`tests/unit/producers/fakes.py`, `tests/integration/privacy/helpers.py`, the operations
tests' stack in `tests/integration/ops/`, ...).
"""
