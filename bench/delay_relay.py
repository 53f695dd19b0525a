"""A TCP relay that holds what it forwards for a while in each direction: a service on another
host, as a worker would reach it (`python -m bench throughput --redis-rtt-ms`).

The loopback Redis of the benchmarks answers in tens of microseconds; a Redis on another host
of the same network answers in a few hundred, and every round trip the worker waits for adds
that. The relay runs in a thread of the benchmark's own process (not the worker's), on its own
event loop. Each chunk read from one side is written to the other `rtt_s / 2` seconds later, in
order; asyncio's timers make that wait at least as long, often up to a millisecond longer.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from types import TracebackType

from abm.infra.process import free_port

CHUNK_BYTES = 65_536
"""Read at most this much at a time (bytes)."""


class DelayRelay:
    """`with DelayRelay(target_port, rtt_s) as port:` connections to 127.0.0.1:port reach the
    target (on `target_host`) with `rtt_s` seconds added to every round trip; with 0 a plain
    relay. Its port is chosen when it is made and listened on from `__enter__`."""

    def __init__(self, target_port: int, rtt_s: float, target_host: str = "127.0.0.1") -> None:
        if rtt_s < 0:
            raise ValueError(f"a round trip cannot take {rtt_s} s")
        self.target_host = target_host
        self.target_port = target_port
        self.rtt_s = rtt_s
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="delay-relay", daemon=True)
        self._ready = threading.Event()
        self._server: asyncio.Server | None = None
        self._error: BaseException | None = None

    def __enter__(self) -> int:
        self._thread.start()
        self._ready.wait(timeout=10)
        if self._error is not None:
            raise RuntimeError(f"the relay did not start: {self._error!r}")
        return self.port

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _shutdown(self) -> None:
        """Stop listening and end the relayed connections (their tasks cancelled)."""
        if self._server is not None:
            self._server.close()
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._relay, "127.0.0.1", self.port)
            )
        except OSError as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    async def _relay(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        try:
            target_in, target_out = await asyncio.open_connection(
                self.target_host, self.target_port
            )
        except OSError:
            client_out.close()
            return
        await asyncio.gather(self._pump(client_in, target_out), self._pump(target_in, client_out))

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        """Forward `source` to `sink`, each chunk `rtt_s / 2` after it was read, in order."""
        loop = asyncio.get_running_loop()
        held: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def forward() -> None:
            while True:
                due, chunk = await held.get()
                wait_s = due - loop.time()
                if wait_s > 0:
                    await asyncio.sleep(wait_s)
                if not chunk:  # the source ended: so does the sink
                    sink.close()
                    return
                sink.write(chunk)

        forwarding = asyncio.ensure_future(forward())
        try:
            with contextlib.suppress(ConnectionError):
                while chunk := await source.read(CHUNK_BYTES):
                    held.put_nowait((loop.time() + self.rtt_s / 2, chunk))
            held.put_nowait((loop.time() + self.rtt_s / 2, b""))
            with contextlib.suppress(ConnectionError):
                await forwarding
        finally:
            forwarding.cancel()
