#!/usr/bin/env bash
# Fresh-machine entry point. Installs what is missing, then:
#   ./dev.sh demo   local Kafka + Redis, the engine on the bundled sample, MQA alerts, summary
#   ./dev.sh test   lint, type check and the whole test suite (real broker and Redis)
#   ./dev.sh bench  the benchmarks (`python -m bench all`, or one figure: ./dev.sh bench latency)
#   ./dev.sh chaos  the randomized fault run: kill -9 of each process, Kafka and Redis outages,
#                   Slack/SMTP errors and hangs; prints the alerts sent, duplicated, unconfirmed
#                   and lost per fault kind (options: ./dev.sh chaos --help; docs/reliability.md)
#   ./dev.sh setup  only install, everything `test` needs
# What is installed:
#   demo, bench, chaos  what the engine runs on: the Python packages, redis-server, Java, and
#                       the Kafka jars (fetched once with Maven)
#   test, setup         that, and what only tests use: prometheus/promtool and chromium (the
#                       operations tests), the docker compose plugin (the compose file's
#                       check), the pinned browser trackers from npm (the browser tests)
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

# Debian packages without their recommendations (chromium's would pull in a desktop).
apt_install_lean() {
  say "installing $* (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1 || {
    as_root apt-get update -q >/dev/null &&
      as_root apt-get install -y -q --no-install-recommends "$@" >/dev/null; }
}

COMPOSE_VERSION=v2.40.3

# `docker compose config` parses the compose file without a Docker engine. When the client has no
# compose plugin, build the pinned one from its Go module and install it as a CLI plugin: once
# (about 3 minutes on 2 cores); later runs find it and build nothing. Go keeps the module and
# build caches (GOMODCACHE, GOCACHE), so a rebuild after deleting the plugin takes seconds.
ensure_compose() {
  local present
  if present=$(docker compose version --short 2>/dev/null); then
    say "docker compose $present: plugin present, nothing to build"
    return 0
  fi
  if ! command -v docker >/dev/null; then
    echo "the docker client is needed (docker compose config); install Docker's CLI" >&2
    return 1
  fi
  local go dir plugins tmp
  go=$(command -v go || echo /usr/local/go/bin/go)
  if [ ! -x "$go" ]; then
    echo "Go 1.24+ is needed once to build the docker compose plugin $COMPOSE_VERSION" >&2
    return 1
  fi
  say "building the docker compose plugin $COMPOSE_VERSION from its Go module (once, ~3 min)"
  dir=$("$go" mod download -json "github.com/docker/compose/v2@$COMPOSE_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  if [ -z "$dir" ] || [ ! -d "$dir" ]; then
    echo "could not download github.com/docker/compose/v2@$COMPOSE_VERSION" >&2
    return 1
  fi
  tmp=$(mktemp -d)
  (cd "$dir" && CGO_ENABLED=0 "$go" build -trimpath \
    -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" \
    -o "$tmp/docker-compose" ./cmd)
  if [ "$(id -u)" -eq 0 ]; then plugins=/usr/local/lib/docker/cli-plugins; else
    plugins="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"; fi
  mkdir -p "$plugins" && install -m 0755 "$tmp/docker-compose" "$plugins/docker-compose"
  rm -rf "$tmp"
  say "installed $plugins/docker-compose ($(docker compose version --short))"
}

# The browser trackers the collector is tested with (tests/browser/package.json, versions pinned
# by its package-lock.json), installed from the npm registry into .cache/browser, without their
# install scripts; again only when the lock file changes.
browser_packages() {
  local dest=.cache/browser stamp
  command -v npm >/dev/null || apt_install_lean nodejs npm
  stamp="$dest/.installed-$(cat tests/browser/package.json tests/browser/package-lock.json |
    sha1sum | cut -c1-12)"
  if [ ! -f "$stamp" ]; then
    say "browser trackers for the tests (npm, pinned by tests/browser/package-lock.json)"
    mkdir -p "$dest"
    cp tests/browser/package.json tests/browser/package-lock.json "$dest/"
    (cd "$dest" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
    rm -f "$dest"/.installed-* && touch "$stamp"
  fi
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

# What the engine itself runs on: enough for demo, bench and chaos.
setup_runtime() {
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

# Everything the tests need: the runtime, and the tools only tests use.
setup() {
  setup_runtime
  command -v promtool >/dev/null && command -v prometheus >/dev/null || apt_install_lean prometheus
  command -v chromium >/dev/null || apt_install_lean chromium fonts-dejavu-core
  ensure_compose
  browser_packages
}

run_tests() {
  say "ruff"
  .venv/bin/ruff check .
  .venv/bin/ruff format --check .
  say "mypy"
  .venv/bin/mypy abm abm_cli stream producers alerting bench tests
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
  demo) setup_runtime; shift; .venv/bin/abm infra up; exec .venv/bin/abm demo "$@" ;;
  test) setup; shift; run_tests "$@" ;;
  bench) setup_runtime; shift; exec .venv/bin/python -m bench "${@:-all}" ;;
  chaos) setup_runtime; shift; exec .venv/bin/python -m tests.faults.chaos "$@" ;;
  *) echo "usage: ./dev.sh demo | test | bench [FIGURE] | chaos [--seed N] [--kills N] | setup" >&2
     exit 2 ;;
esac
