"""The fault harness: the project's processes killed with `kill -9` (`processes`), its Kafka
broker and Redis stopped and started again (`services`), the Slack and SMTP stand-ins answering
429/5xx/4xx or hanging (`providers`), a run that drives touchpoints through the whole alert path
while it injects them (`scenario`), and the count of what reached the providers (`tally`).

`tests/integration/test_faults.py` runs a short version in the test suite; `./dev.sh chaos`
(`python -m tests.faults.chaos`) a longer randomized one. See docs/reliability.md."""
