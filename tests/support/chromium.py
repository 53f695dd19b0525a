"""Headless Chromium (Debian's, installed by ./dev.sh setup) driven through the Chrome DevTools
Protocol over its WebSocket, with aiohttp: open a page, evaluate JavaScript, read the console."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

from tests.support.ops_tools import CHROMIUM_FLAGS, need

START_GUARD_S = 60.0
"""How long Chromium may take to open its DevTools port before the test fails."""


class Chromium:
    """One headless Chromium with a new profile in `profile`, and its first page."""

    def __init__(self, profile: Path) -> None:
        self.profile = profile
        self.console: list[str] = []
        """Console messages and uncaught exceptions of the page, for failure messages."""
        self._proc: asyncio.subprocess.Process | None = None
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self._calls: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._waiting: dict[str, list[asyncio.Future[dict[str, Any]]]] = {}

    async def __aenter__(self) -> Chromium:
        self.profile.mkdir(parents=True, exist_ok=True)
        log = (self.profile / "chromium.log").open("ab")
        self._proc = await asyncio.create_subprocess_exec(
            need("chromium"),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={self.profile}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "about:blank",
            stdout=log,
            stderr=log,
        )
        log.close()
        port = await self._devtools_port()
        self._http = aiohttp.ClientSession()
        async with self._http.get(f"http://127.0.0.1:{port}/json/list") as r:
            targets = await r.json()
        page = next(t for t in targets if t.get("type") == "page")
        self._ws = await self._http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)
        self._reader = asyncio.create_task(self._read())
        await self.call("Runtime.enable")
        await self.call("Page.enable")
        return self

    async def _devtools_port(self) -> int:
        active = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + START_GUARD_S
        while True:
            if active.is_file():
                lines = active.read_text().split()
                if lines:
                    return int(lines[0])
            assert self._proc is not None
            if self._proc.returncode is not None or time.monotonic() > deadline:
                tail = (self.profile / "chromium.log").read_bytes()[-2000:].decode(errors="replace")
                raise AssertionError(f"Chromium opened no DevTools port: {tail}")
            await asyncio.sleep(0.05)

    async def _read(self) -> None:
        assert self._ws is not None
        async for message in self._ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            doc = message.json()
            if "id" in doc:
                future = self._calls.pop(doc["id"], None)
                if future is not None and not future.done():
                    future.set_result(doc)
                continue
            method, params = doc.get("method", ""), doc.get("params", {})
            if method == "Runtime.consoleAPICalled":
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in
                                params.get("args", []))  # fmt: skip
                self.console.append(f"console.{params.get('type')}: {text}")
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                text = details.get("exception", {}).get("description") or details.get("text")
                self.console.append(f"exception: {text}")
            for future in self._waiting.pop(method, []):
                if not future.done():
                    future.set_result(params)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        assert self._ws is not None
        call_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._calls[call_id] = future
        await self._ws.send_json({"id": call_id, "method": method, "params": params})
        answer = await future
        if "error" in answer:
            raise AssertionError(f"{method}: {answer['error']}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    def event(self, method: str) -> asyncio.Future[dict[str, Any]]:
        """A future of the next `method` event (ask before causing it)."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(method, []).append(future)
        return future

    async def open(self, url: str) -> None:
        loaded = self.event("Page.loadEventFired")
        answer = await self.call("Page.navigate", url=url)
        assert "errorText" not in answer, answer
        await loaded

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (a promise is awaited); a thrown error fails."""
        answer = await self.call(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in answer:
            raise AssertionError(f"{answer['exceptionDetails']}; console: {self.console}")
        return answer["result"].get("value")

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._http is not None:
            await self._http.close()
        if self._proc is not None and self._proc.returncode is None:
            self._proc.terminate()
            try:
                await asyncio.wait_for(self._proc.wait(), 30)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()
