"""Debian's redis-server, run on loopback for the directory and alert bookkeeping."""

from __future__ import annotations

import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

from abm.infra.process import InfraError, ServiceProcess, port_open, wait_until


def _redis_server() -> str:
    binary = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if binary is None:
        raise InfraError(
            "redis-server is not installed; install it (Debian: apt-get install redis-server, "
            "or run ./dev.sh which does) or set REDIS_URL to an existing Redis."
        )
    return binary


@dataclass(frozen=True)
class LocalRedis:
    home: Path
    port: int
    persist: bool = True
    """Append-only file on disk, so the directory and alert claims survive a restart."""
    tied: bool = False
    """Stop with the process that started it (tests, benchmarks)."""

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def process(self) -> ServiceProcess:
        return ServiceProcess("redis", self.home / "redis.pid", self.home / "redis.log")

    def start(self, timeout_s: float = 20.0) -> None:
        if self.process.pid() is not None:
            return
        if port_open("127.0.0.1", self.port):
            raise InfraError(
                f"port {self.port} is taken by another program; stop it or set REDIS_URL"
            )
        binary = _redis_server()
        data = self.home / "data"
        data.mkdir(parents=True, exist_ok=True)
        self.process.start(
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(data),
             "--save", "", "--appendonly", "yes" if self.persist else "no",
             "--protected-mode", "yes", "--daemonize", "no"],
            tied=self.tied,
        )  # fmt: skip
        wait_until(
            lambda: ping(self.port),
            timeout_s,
            f"Redis on port {self.port}",
            alive=lambda: self.process.pid() is not None,
            log_tail=self.process.log_tail,
        )

    def stop(self) -> bool:
        return self.process.stop(timeout_s=10.0)

    def running(self) -> bool:
        return self.process.pid() is not None


def ping(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


__all__ = ["InfraError", "LocalRedis", "ping"]
