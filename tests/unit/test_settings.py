"""Settings: environment variables in, the same settings out in a child process, secrets kept;
each process's model holds the fields that process reads."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import pytest
from pydantic import SecretStr, ValidationError
from pydantic.fields import FieldInfo

from abm.settings import AlertSettings, CommonSettings, WorkerSettings, redact_url
from abm_cli.settings import Settings
from producers.settings import CollectorSettings
from producers.sources import SOURCES


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ABM_/Kafka/Redis variable or .env file of the machine leaks into a test."""
    import os

    for name in list(os.environ):
        if name.startswith("ABM_") or name in {"KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL"}:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_a_child_process_gets_the_same_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    parent = Settings(
        kafka_bootstrap_servers="broker-1:9092,broker-2:9092",
        redis_url=SecretStr("redis://:s3cret@cache:6379/2"),
        app_id="abm-test",
        partitions=8,
        table_store="rocksdb://",
        resolution_batch_size=50,
        engagement_batch_size=64,
        engagement_batch_wait_s=0.002,
        engagement_cache_accounts=123,
        engagement_flush_interval_s=0.25,
        producer_linger_s=0.02,
        producer_compression="zstd",
        session_timeout_s=12.0,
    )
    for name, value in parent.to_env().items():
        monkeypatch.setenv(name, value)
    child = Settings()
    assert child.model_dump() == parent.model_dump()


def test_a_child_process_gets_the_secrets_and_the_optional_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What is unset by default (every webhook source's secret, the scoring model, the admin
    key) and alerting settings away from their default reach the child too."""
    values: dict[str, Any] = {
        source.setting: SecretStr(f"secret-of-{source.name}") for source in SOURCES
    }
    values |= {
        "scoring_model": Path("model.yaml"),
        "privacy_admin_key": SecretStr("admin-k3y"),
        "slack_channel": "#mqa",
        "smtp_starttls": False,
    }
    parent = Settings(**values)
    env = parent.to_env()
    assert {source.env_var for source in SOURCES} <= set(env)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    child = Settings()
    assert child.model_dump() == parent.model_dump()
    assert child.webhook_secrets() == {s.name: f"secret-of-{s.name}" for s in SOURCES}


def _another_value(name: str, field: FieldInfo) -> Any:
    """A valid value of the field other than its default (by its type; numbers are moved
    within their bounds by trying candidates)."""
    annotation = field.annotation
    kinds = [a for a in get_args(annotation) if a is not type(None)] or [annotation]
    kind = kinds[0]
    default = field.default
    if get_origin(annotation) is Literal:
        return next(choice for choice in get_args(annotation) if choice != default)
    if kind is SecretStr:
        return SecretStr(f"s3cret-{name}")
    if kind is bool:
        return not default
    if kind is Path:
        return Path(f"/srv/abm/{name}")
    if kind is str:
        return f"{name}-set"
    if kind in (int, float):
        base = default if isinstance(default, int | float) else 1
        for candidate in (base + 1, base * 2, base / 2, base - 1, base * 0.9, base * 1.1):
            value = kind(candidate)
            if value == default:
                continue
            try:
                Settings(**{name: value})
            except ValidationError:
                continue
            return value
    raise AssertionError(f"no test value for {name}: {annotation}")


PROCESS_MODELS: tuple[type[CommonSettings], ...] = (
    WorkerSettings,
    CollectorSettings,
    AlertSettings,
)
MODELS: tuple[type[CommonSettings], ...] = (CommonSettings, *PROCESS_MODELS, Settings)


def _values(model: type[CommonSettings]) -> dict[str, Any]:
    """Every field of `model` set to a valid value other than its default."""
    return {name: _another_value(name, field) for name, field in model.model_fields.items()}


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_field_set_reaches_a_child_process(
    monkeypatch: pytest.MonkeyPatch, model: type[CommonSettings]
) -> None:
    """Every setting, each set to a value other than its default, comes out the same in a child
    process, whichever model it was started with: a field that `to_env` leaves out (a new alert
    channel's URL or secret, say) fails here instead of being dropped silently when `abm demo`,
    the benchmarks or the tests start processes."""
    fields = model.model_fields
    parent = model(**_values(model))
    assert all(getattr(parent, n) != f.default for n, f in fields.items())
    for name, value in parent.to_env().items():
        monkeypatch.setenv(name, value)
    child = model()
    dropped = [n for n in fields if getattr(child, n) != getattr(parent, n)]
    assert dropped == []


@pytest.mark.parametrize("model", PROCESS_MODELS, ids=lambda m: m.__name__)
def test_a_process_started_with_every_setting_reads_all_of_its_own(
    monkeypatch: pytest.MonkeyPatch, model: type[CommonSettings]
) -> None:
    """What `abm demo` and the benchmarks do: the full settings passed down, each process
    reading its own model."""
    parent = Settings(**_values(Settings))
    for name, value in parent.to_env().items():
        monkeypatch.setenv(name, value)
    child = model()
    assert child.model_dump() == {n: getattr(parent, n) for n in model.model_fields}


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_the_dotenv_file_counts_for_every_model(
    tmp_path: Path, model: type[CommonSettings]
) -> None:
    """Every field of every model is read from the working folder's `.env` as from the
    environment."""
    parent = model(**_values(model))
    lines = [f"{name}='{value}'" for name, value in parent.to_env().items()]
    (tmp_path / ".env").write_text("\n".join(lines) + "\n")
    assert model().model_dump() == parent.model_dump()


def _own(model: type[CommonSettings]) -> set[str]:
    return set(model.model_fields) - set(CommonSettings.model_fields)


def test_the_models_split_the_settings_between_the_processes() -> None:
    """`Settings` is the common fields plus each process's own, and no field is the own of two
    processes (a field two processes read is common)."""
    worker, collector, alerts = (_own(m) for m in PROCESS_MODELS)
    assert not (worker & collector or worker & alerts or collector & alerts)
    assert (
        set(Settings.model_fields) == set(CommonSettings.model_fields) | worker | collector | alerts
    )
    assert all(issubclass(Settings, m) for m in PROCESS_MODELS)
    assert {source.setting for source in SOURCES} <= collector
    assert all(
        n.startswith(("collector_", "webhook_")) or n == "privacy_admin_key" for n in collector
    )
    alerting = ("alert_", "slack_", "smtp_", "escalation_", "crm_")
    assert all(n.startswith(alerting) or n == "public_base_url" for n in alerts)
    assert not any(n.startswith(("collector_", "webhook_", *alerting)) for n in worker)


ROOT = Path(__file__).resolve().parents[2]
PROCESS_CODE = {WorkerSettings: "stream", CollectorSettings: "producers", AlertSettings: "alerting"}
SHARED_CODE = ("stream/topics.py",)
"""Read by every process (the topic contract), so what it reads is common."""
MODEL_CODE = ("abm/settings.py", "producers/settings.py")
"""Where the models are defined: their own methods are no process reading a field."""
READ_THROUGH = {"pseudonym_key": "pseudonym_secret", "collector_write_keys": "write_keys"}
"""Fields code reads through a method of their model, not by name."""


@cache
def _code(package: str) -> str:
    """The source text of a package (without the models' modules and the shared modules), or of
    the shared modules (`shared`)."""
    if package == "shared":
        paths = [ROOT / p for p in SHARED_CODE]
    else:
        skipped = {ROOT / p for p in (*MODEL_CODE, *SHARED_CODE)}
        paths = sorted(p for p in (ROOT / package).rglob("*.py") if p not in skipped)
    return "\n".join(p.read_text() for p in paths)


def _reads(package: str, field: str) -> bool:
    if field in {source.setting for source in SOURCES}:
        return ".webhook_secrets(" in _code(package)
    method = READ_THROUGH.get(field)
    pattern = rf"\.{field}\b" + (rf"|\.{method}\(" if method else "")
    return re.search(pattern, _code(package)) is not None


@pytest.mark.parametrize("model", PROCESS_MODELS, ids=lambda m: m.__name__)
def test_a_process_model_holds_only_what_that_process_reads(model: type[CommonSettings]) -> None:
    """Each own field of a process is read by that process's code and by no other process's
    (the type checker holds the annotated code to its model; this also finds a field left
    behind when its last reader went)."""
    own = PROCESS_CODE[model]
    others = [p for p in PROCESS_CODE.values() if p != own]
    assert [f for f in _own(model) if not _reads(own, f)] == []
    assert [(f, p) for f in _own(model) for p in (*others, "shared") if _reads(p, f)] == []


def test_a_common_field_is_read_by_the_shared_code_or_by_two_processes() -> None:
    """Read by `abm/` (the plumbing, the offline tools) or the topic contract, or by two
    processes; else it belongs to the one process that reads it."""
    lonely = []
    for field in CommonSettings.model_fields:
        processes = [p for p in PROCESS_CODE.values() if _reads(p, field)]
        shared = _reads("shared", field) or _reads("abm", field)
        if len(processes) < 2 and not shared:
            lonely.append((field, processes))
    assert lonely == []


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("ABM_PRODUCER_COMPRESSION", "brotli", "producer_compression"),
        ("ABM_PARTITIONS", "0", "partitions"),
        ("ABM_RESOLUTION_BATCH_SIZE", "many", "resolution_batch_size"),
        ("ABM_RAW_RETENTION_DAYS", "0", "raw_retention_days"),
        ("ABM_RESOLVED_RETENTION_DAYS", "forever", "resolved_retention_days"),
        ("ABM_CHANGELOG_COMPACTION_MAX_LAG_S", "10", "changelog_compaction_max_lag_s"),
        ("ABM_RESOLUTION_BATCH_WAIT_S", "0", "resolution_batch_wait_s"),
        ("ABM_SESSION_TIMEOUT_S", "1", "session_timeout_s"),
        ("ABM_ENGAGEMENT_BATCH_SIZE", "0", "engagement_batch_size"),
        ("ABM_ENGAGEMENT_BATCH_WAIT_S", "0", "engagement_batch_wait_s"),
        ("ABM_ENGAGEMENT_BATCH_WAIT_S", "0.05", "engagement_batch_wait_s"),
        ("ABM_ENGAGEMENT_FLUSH_INTERVAL_S", "0", "engagement_flush_interval_s"),
        ("ABM_ENGAGEMENT_FLUSH_INTERVAL_S", "600", "engagement_flush_interval_s"),
        ("ABM_ENGAGEMENT_CACHE_ACCOUNTS", "-1", "engagement_cache_accounts"),
        ("ABM_ENGAGEMENT_CACHE_ACCOUNTS", "2000000", "engagement_cache_accounts"),
        ("ABM_STREAM_BUFFER_RECORDS", "10", "stream_buffer_records"),
        ("ABM_STREAM_BUFFER_RECORDS", "1000000", "stream_buffer_records"),
        ("ABM_FETCH_WAIT_S", "0", "fetch_wait_s"),
        ("ABM_FETCH_WAIT_S", "2", "fetch_wait_s"),
    ],
)
def test_a_bad_variable_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, field: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError, match=field):
        Settings()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("redis://user:s3cret@cache/0", "redis://user:***@cache/0"),
        ("redis://127.0.0.1:16379/0", "redis://127.0.0.1:16379/0"),
    ],
)
def test_the_redis_password_is_never_shown(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert "s3cret" not in repr(Settings(redis_url=SecretStr(url)))


def test_an_empty_pseudonym_key_is_refused_and_a_set_one_is_never_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ABM_PSEUDONYM_KEY", "  ")
    with pytest.raises(ValidationError, match="pseudonym_key"):
        Settings()
    monkeypatch.setenv("ABM_PSEUDONYM_KEY", "k3y-of-the-deployment")
    settings = Settings()
    assert settings.pseudonym_secret() == b"k3y-of-the-deployment"
    assert "k3y" not in repr(settings) and "k3y" not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("variable", "value", "external"),
    [
        ("KAFKA_BOOTSTRAP_SERVERS", "broker:9092", "kafka"),
        ("ABM_KAFKA_BOOTSTRAP_SERVERS", "broker:9092", "kafka"),
        ("REDIS_URL", "redis://cache:6379/0", "redis"),
    ],
)
def test_a_service_named_in_env_or_dotenv_is_the_users_own(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str, external: str
) -> None:
    assert not Settings().external_kafka and not Settings().external_redis
    (tmp_path / ".env").write_text(f"{variable}={value}\n")  # the working folder's .env
    from_file = Settings()
    assert getattr(from_file, f"external_{external}")
    (tmp_path / ".env").unlink()
    monkeypatch.setenv(variable, value)
    assert getattr(Settings(), f"external_{external}")
