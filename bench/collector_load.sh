#!/usr/bin/env bash
# Collector load test: wrk posting /v1/batch on loopback against its own broker and Redis.
# Usage: bench/collector_load.sh [--seconds 30] [--connections 16] [--threads 2] [--batch 100]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)" >&2
  if [ "$(id -u)" -eq 0 ]; then apt-get install -y -q wrk >/dev/null; else sudo apt-get install -y -q wrk >/dev/null; fi
fi
exec .venv/bin/python -m bench.collector_load "$@"
