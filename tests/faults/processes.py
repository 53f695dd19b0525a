"""The project's processes as children of a test or of the chaos run: `abm ARGS...` with the
run's settings, in a process group of its own, its output in a file; started, stopped, and killed
hard (`kill -9`: no shutdown hook, no final commit, no clean-up of any kind)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from abm_cli.settings import Settings

REPO = Path(__file__).resolve().parents[2]


class AbmProcess:
    """`abm ARGS...` in a child process with `settings` (plus `env`). Started again after a
    kill, it appends to the same log file."""

    def __init__(
        self, settings: Settings, log_path: Path, *args: str, env: Mapping[str, str] | None = None
    ) -> None:
        self.settings = settings
        self.log_path = log_path
        self.args = args
        self.env = dict(env or {})
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, **self.settings.to_env(), "PYTHONUNBUFFERED": "1", **self.env}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "abm_cli", *self.args], cwd=REPO, env=env, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def kill(self) -> None:
        """SIGKILL to the process group: a crash."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self, timeout_s: float = 40.0) -> None:
        """SIGTERM, then a kill after `timeout_s`."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.text().splitlines()[-lines:]) or "(no log)"

    async def shows(self, line: str, timeout_s: float = 60.0) -> None:
        """Until `line` is in the output; fails at once if the process exited."""
        deadline = time.monotonic() + timeout_s
        while line not in self.text():
            if not self.alive():
                raise AssertionError(f"exited ({self.proc and self.proc.returncode}) before "
                                     f"{line!r}:\n{self.log_tail()}")  # fmt: skip
            assert time.monotonic() < deadline, f"no {line!r} in:\n{self.log_tail()}"
            await asyncio.sleep(0.1)

    async def exited(self, timeout_s: float = 120.0) -> int:
        assert self.proc is not None
        deadline = time.monotonic() + timeout_s
        while self.proc.poll() is None:
            assert time.monotonic() < deadline, f"still running:\n{self.log_tail()}"
            await asyncio.sleep(0.1)
        return self.proc.returncode
