#!/usr/bin/env bash
# Fresh-machine entry point. Installs what is missing, then:
#   ./dev.sh demo   local Kafka + Redis, the engine on the bundled sample, MQA alerts, summary
#   ./dev.sh test   lint, type check and the whole test suite (real broker and Redis)
#   ./dev.sh setup  only install (Python packages, redis-server, the Kafka jars)
set -euo pipefail
cd "$(dirname "$0")"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root to run: $*" >&2; return 1; fi
}

apt_install() {
  say "installing $* (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get install -y -q "$@" >/dev/null 2>&1 || {
    as_root apt-get update -q >/dev/null && as_root apt-get install -y -q "$@" >/dev/null; }
}

python311() {
  for candidate in "${PYTHON:-}" python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2; return 1
}

setup() {
  local py stamp
  py=$(python311)
  if [ ! -x .venv/bin/python ]; then
    say "creating .venv with $py"
    "$py" -m venv .venv
  fi
  stamp=".venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)"
  if [ ! -f "$stamp" ]; then
    say "installing Python packages"
    .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev]"
    rm -f .venv/.installed-* && touch "$stamp"
  fi
  command -v redis-server >/dev/null || [ -x /usr/bin/redis-server ] || apt_install redis-server
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
  command -v mvn >/dev/null || apt_install maven
  say "Kafka jars (fetched once into .cache/)"
  .venv/bin/python -c 'from pathlib import Path; from abm.infra.kafka import ensure_jars; print(ensure_jars(Path(".cache")))'
}

run_tests() {
  say "ruff"
  .venv/bin/ruff check .
  .venv/bin/ruff format --check .
  say "mypy"
  .venv/bin/mypy abm stream producers alerting bench tests
  say "pytest"
  local code=0
  .venv/bin/python -m pytest "$@" || code=$?
  if [ "$code" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure" >&2
    return 1
  fi
  return "$code"
}

case "${1:-}" in
  setup) setup ;;
  demo) setup; shift; .venv/bin/abm infra up; exec .venv/bin/abm demo "$@" ;;
  test) setup; shift; run_tests "$@" ;;
  *) echo "usage: ./dev.sh demo | test | setup" >&2; exit 2 ;;
esac
