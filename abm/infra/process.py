"""Detached local service processes, tracked by pid files, so `abm infra` can start them in one
command and find them again in the next."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


class InfraError(RuntimeError):
    """A local service could not be prepared or started; the message says what to do."""


@dataclass(frozen=True)
class ServiceProcess:
    name: str
    pid_file: Path
    log_file: Path

    def pid(self) -> int | None:
        """The pid of the running service, or None (a stale pid file is removed)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        if not _alive(pid):
            self.pid_file.unlink(missing_ok=True)
            return None
        return pid

    def start(
        self, argv: Sequence[str], env: dict[str, str] | None = None, tied: bool = False
    ) -> int:
        """Start detached. `tied`: the service gets SIGTERM when the process that started it
        dies, even by SIGKILL (for services owned by a test or benchmark run)."""
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,
                preexec_fn=_die_with_parent if tied else None,
            )
        self.pid_file.write_text(str(proc.pid))
        return proc.pid

    def stop(self, timeout_s: float = 20.0) -> bool:
        """SIGTERM, then SIGKILL after `timeout_s`. True if a process was stopped."""
        pid = self.pid()
        if pid is None:
            return False
        _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
        if _alive(pid):
            _signal(pid, signal.SIGKILL)
            time.sleep(0.2)
        self.pid_file.unlink(missing_ok=True)
        return True

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _die_with_parent() -> None:
    """In the child before exec: ask Linux for SIGTERM when the parent goes away."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours still answers kill(0); reap it if it is ours.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return _not_zombie(pid)


def _not_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _signal(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bindable(port: int, host: str = "127.0.0.1") -> bool:
    """True when a server could listen on `port` now. Unlike `port_open`, this also says no for
    a port that is the local end of some outgoing connection: it accepts no connection, yet
    cannot be bound either."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port_pair(attempts: int = 100) -> int:
    """A loopback port `p` such that `p` and `p + 1` can both be bound now (a broker and its
    controller)."""
    for _ in range(attempts):
        port = free_port()
        if port < 65535 and bindable(port + 1):
            return port
    raise InfraError("no two consecutive free loopback ports")


def wait_until(
    ready: Callable[[], bool],
    timeout_s: float,
    what: str,
    alive: Callable[[], bool] | None = None,
    log_tail: Callable[[], str] | None = None,
) -> None:
    """Poll `ready` until true; fail early if the process died, with its log tail."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return
        if alive is not None and not alive():
            tail = log_tail() if log_tail else ""
            raise InfraError(f"{what} exited during start-up. Last log lines:\n{tail}")
        time.sleep(0.2)
    tail = log_tail() if log_tail else ""
    raise InfraError(f"{what} was not ready after {timeout_s:.0f} s. Last log lines:\n{tail}")
