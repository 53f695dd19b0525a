"""A single-node Apache Kafka broker in KRaft mode, run from the jars on Maven Central.

No Docker and no tarball: Maven resolves `org.apache.kafka:kafka_2.13` and a log4j2 SLF4J
binding into a git-ignored cache folder once; `kafka.tools.StorageTool` formats the data folder
and `kafka.Kafka` runs the broker (broker and controller in one process) on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from abm.infra.process import InfraError, ServiceProcess, port_open, wait_until

KAFKA_VERSION = "4.1.1"
# Kafka 4.1 pulls slf4j-api 1.7.x along, so the binding is log4j2's slf4j 1.x bridge.
LOG4J_VERSION = "2.24.3"

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.abm</groupId><artifactId>kafka-runtime</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version></dependency>
  </dependencies>
</project>
"""

_LOG4J2 = """Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        Pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: WARN
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka.server.KafkaServer
        level: INFO
      - name: kafka.server.BrokerServer
        level: INFO
"""


def jar_dir(cache_dir: Path, version: str = KAFKA_VERSION) -> Path:
    return cache_dir / "kafka" / version / "libs"


def ensure_jars(cache_dir: Path, version: str = KAFKA_VERSION, quiet: bool = True) -> Path:
    """The folder of broker jars, fetched with Maven on first use."""
    # Absolute: Maven runs in the fetch folder and would resolve a relative output folder there.
    libs = jar_dir(cache_dir.resolve(), version)
    if (libs / f"kafka_2.13-{version}.jar").exists():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise InfraError(
            "Maven (mvn) is needed once to fetch the Kafka jars and is not on PATH; "
            "install it (Debian: apt-get install maven) or set KAFKA_BOOTSTRAP_SERVERS."
        )
    work = libs.parent / "fetch"
    work.mkdir(parents=True, exist_ok=True)
    (work / "pom.xml").write_text(_POM.format(kafka=version, log4j=LOG4J_VERSION))
    staging = libs.parent / "libs.partial"
    shutil.rmtree(staging, ignore_errors=True)
    cmd = [
        mvn,
        "-B",
        *(["-q"] if quiet else []),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={staging}",
        "-DincludeScope=runtime",
    ]
    result = subprocess.run(cmd, cwd=work, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise InfraError(
            f"Maven could not fetch Kafka {version}:\n{(result.stdout + result.stderr)[-3000:]}"
        )
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    return libs


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise InfraError("Java 17+ is needed to run the local Kafka broker and is not on PATH.")
    return java


@dataclass(frozen=True)
class LocalKafka:
    """One broker+controller on 127.0.0.1:`port` (controller on `port + 1`)."""

    home: Path
    port: int
    cache_dir: Path
    heap: str = "768m"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def process(self) -> ServiceProcess:
        return ServiceProcess("kafka", self.home / "kafka.pid", self.home / "kafka.log")

    def _properties(self) -> str:
        controller = self.port + 1
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{controller}",
                f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{controller}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "inter.broker.listener.name=PLAINTEXT",
                f"log.dirs={self.home / 'data'}",
                "num.partitions=1",
                "auto.create.topics.enable=false",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=8",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "transaction.state.log.num.partitions=4",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "log.retention.hours=168",
                "",
            ]
        )

    def start(self, timeout_s: float = 90.0) -> None:
        if self.process.pid() is not None:
            return
        if port_open("127.0.0.1", self.port):
            raise InfraError(
                f"port {self.port} is taken by another program; stop it or point "
                "KAFKA_BOOTSTRAP_SERVERS at that broker"
            )
        libs = ensure_jars(self.cache_dir)
        self.home.mkdir(parents=True, exist_ok=True)
        config = self.home / "server.properties"
        config.write_text(self._properties())
        log_config = self.home / "log4j2.yaml"
        log_config.write_text(_LOG4J2)
        classpath = f"{libs}/*"
        java = _java()
        if not (self.home / "data" / "meta.properties").exists():
            cluster_id = uuid.uuid4().hex[:22]
            fmt = subprocess.run(
                [java, "-cp", classpath, "kafka.tools.StorageTool", "format",
                 f"--cluster-id={_kraft_cluster_id(cluster_id)}", "--config", str(config)],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if fmt.returncode != 0:
                raise InfraError(f"formatting Kafka storage failed:\n{fmt.stdout}{fmt.stderr}")
        self.process.start(
            [java, f"-Xmx{self.heap}", "-Xms256m", "-XX:+UseG1GC",
             f"-Dlog4j2.configurationFile={log_config}", "-cp", classpath,
             "kafka.Kafka", str(config)],
        )  # fmt: skip
        wait_until(
            lambda: broker_ready(self.bootstrap),
            timeout_s,
            f"Kafka on {self.bootstrap}",
            alive=lambda: self.process.pid() is not None,
            log_tail=self.process.log_tail,
        )

    def stop(self) -> bool:
        return self.process.stop(timeout_s=30.0)

    def running(self) -> bool:
        return self.process.pid() is not None


def _kraft_cluster_id(seed: str) -> str:
    """KRaft cluster ids are 16 bytes, URL-safe base64 without padding (22 characters)."""
    import base64

    raw = uuid.UUID(hex=seed.ljust(32, "0")[:32]).bytes
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def broker_ready(bootstrap: str, timeout_s: float = 5.0) -> bool:
    """True when the broker answers a metadata request (not merely accepts TCP)."""
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    if not port_open(host or "127.0.0.1", int(port)):
        return False
    outcome: list[bool] = []

    def probe() -> None:
        outcome.append(asyncio.run(_probe(bootstrap, timeout_s)))

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout_s + 2)
    return bool(outcome and outcome[0])


async def _probe(bootstrap: str, timeout_s: float) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000)
    )
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        await asyncio.wait_for(admin.list_topics(), timeout_s)
        return True
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
