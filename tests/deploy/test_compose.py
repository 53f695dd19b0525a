"""docker-compose.yml, parsed by `docker compose config` (the client, no engine needed), and
its consistency with the catalog, the Prometheus config, Grafana provisioning and .env.example."""

from __future__ import annotations

import re
import subprocess
from functools import cache
from typing import Any

import orjson
import yaml
from pydantic import AliasChoices

from abm.ops import dashboard
from abm.ops.catalog import PROCESSES
from abm_cli.settings import Settings
from tests.support.ops_tools import REPO, need

COMPOSE = REPO / "docker-compose.yml"
EXTERNAL_KAFKA = REPO / "deploy" / "compose.external-kafka.yml"
ENV_EXAMPLE = REPO / ".env.example"
ENGINE_IMAGE = "abm-engine:local"


def compose(*files: str, extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    args = [need("docker"), "compose", "--project-directory", str(REPO),
            "--env-file", str(ENV_EXAMPLE)]  # fmt: skip
    for file in files:
        args += ["-f", file]
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(REPO), **(extra_env or {})}
    result = subprocess.run(
        [*args, "config", "--format", "json"], capture_output=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr.decode()
    config: dict[str, Any] = orjson.loads(result.stdout)
    return config


@cache
def default_config() -> dict[str, Any]:
    return compose(str(COMPOSE))


def services() -> dict[str, Any]:
    found: dict[str, Any] = default_config()["services"]
    return found


def test_docker_compose_config_validates() -> None:
    assert set(services()) == {"kafka", "redis", "topics", "worker", "collector", "alerts",
                               "prometheus", "grafana"}  # fmt: skip


def test_kafka_is_the_official_image_in_kraft_mode_with_replication_one() -> None:
    kafka = services()["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    factors = {k: v for k, v in env.items() if "REPLICATION_FACTOR" in k}
    assert factors and set(factors.values()) == {"1"}


def test_every_engine_process_runs_the_one_image_built_from_the_repo() -> None:
    built = {name: s for name, s in services().items() if "build" in s}
    assert set(built) == {"topics", *(p.name for p in PROCESSES)}
    for name, service in built.items():
        assert service["image"] == ENGINE_IMAGE, name
        assert service["build"]["context"] == str(REPO), name
    assert all(s["image"] != ENGINE_IMAGE for n, s in services().items() if n not in built)
    dockerfile = (REPO / "Dockerfile").read_text()
    for package in ("abm", "stream", "producers", "alerting"):
        assert f"COPY {package} {package}" in dockerfile


def test_each_process_runs_its_command_on_its_port() -> None:
    for process in PROCESSES:
        service = services()[process.name]
        assert tuple(service["command"]) == process.command, process.name
        assert [p["target"] for p in service["ports"]] == [process.port], process.name
        # the port the process listens on is the one published and checked
        env = service["environment"]
        listen = {"worker": "ABM_WEB_PORT", "collector": "ABM_COLLECTOR_PORT",
                  "alerts": "ABM_ALERT_PORT"}[process.name]  # fmt: skip
        assert env[listen] == str(process.port), process.name
        check = " ".join(service["healthcheck"]["test"])
        assert f"http://127.0.0.1:{process.port}{process.health_path}'" in check, process.name


def test_every_command_in_the_file_is_one_of_the_cli() -> None:
    from typer.main import get_command

    from abm_cli.main import app

    cli = get_command(app)
    for name, service in services().items():
        if "build" not in service:
            continue
        command = service["command"]
        assert command[0] == "abm", name
        assert command[1] in cli.commands, (name, command)  # type: ignore[attr-defined]


def setting_names() -> set[str]:
    """Every environment variable the settings read (`Settings`: every process's model)."""
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice) for choice in alias.choices)
        else:
            names.add(f"ABM_{name.upper()}")
    return names


COMPOSE_ONLY = {"REDIS_PASSWORD", "GRAFANA_ADMIN_PASSWORD"}
"""Variables docker compose itself uses (interpolated into the file), not settings."""


def test_every_engine_variable_is_a_real_setting() -> None:
    known = setting_names()
    for name, service in services().items():
        if "build" in service:
            unknown = set(service["environment"]) - known
            assert not unknown, (name, unknown)
    example = {
        match.group(1)
        for match in re.finditer(r"^#? ?([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), re.M)
    }
    assert example - COMPOSE_ONLY <= known, example - COMPOSE_ONLY - known
    for path in (COMPOSE, EXTERNAL_KAFKA):
        interpolated = set(re.findall(r"\$\{([A-Z0-9_]+)", path.read_text()))
        assert interpolated - COMPOSE_ONLY <= known, (path.name, interpolated - known)


def test_startup_order_waits_for_health() -> None:
    for name, service in services().items():
        if name != "topics":
            assert "healthcheck" in service, name
        for dependency, rule in service.get("depends_on", {}).items():
            assert dependency in services(), (name, dependency)
            condition = rule["condition"]
            assert condition in ("service_healthy", "service_completed_successfully")
            if condition == "service_healthy":
                assert "healthcheck" in services()[dependency], dependency
    assert services()["worker"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert services()["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"


def test_prometheus_and_grafana_are_provisioned_from_the_repo() -> None:
    for name in ("prometheus", "grafana"):
        for volume in services()[name]["volumes"]:
            if volume["type"] == "bind":
                assert volume["source"].startswith(str(REPO)), volume
                assert (REPO / volume["source"][len(str(REPO)) + 1 :]).exists(), volume
    datasource = yaml.safe_load(
        (REPO / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]
    assert datasource["uid"] == dashboard.DATASOURCE["uid"]
    assert datasource["url"] == "http://prometheus:9090"
    provider = yaml.safe_load(
        (REPO / "deploy/grafana/provisioning/dashboards/abm.yml").read_text()
    )["providers"][0]
    mounts = {v["target"] for v in services()["grafana"]["volumes"]}
    assert provider["options"]["path"] in mounts


def test_secrets_come_from_the_one_env_file() -> None:
    text = COMPOSE.read_text()
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", text))
    assert {"REDIS_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "ABM_COLLECTOR_WRITE_KEYS"} <= required
    example = {
        line.split("=", 1)[0]
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert required <= example
    assert ".env" in (REPO / ".gitignore").read_text().split()
    redis_url = services()["worker"]["environment"]["REDIS_URL"]
    assert "change-me-redis" in redis_url  # interpolated from the env file


def test_an_existing_kafka_replaces_the_bundled_one() -> None:
    config = compose(
        str(COMPOSE), str(EXTERNAL_KAFKA), extra_env={"KAFKA_BOOTSTRAP_SERVERS": "b1:9092"}
    )
    assert "kafka" not in config["services"]
    for name, service in config["services"].items():
        assert "kafka" not in service.get("depends_on", {}), name
        if "build" in service:
            assert service["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "b1:9092", name
