"""A TCP forwarder on loopback that a fault scenario can cut and restore: an outage of what is behind it.

The PostgreSQL cluster on the development machines is shared, so the outage scenarios never stop
it: the worker (or scheduler, or dashboard) connects through this proxy, and ``cut()`` drops every
open connection and refuses new ones, which is what a client sees when the server goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, field

from finsent.stream.broker import free_port

__all__ = ["TcpProxy"]


@dataclass
class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``target_host``:``target_port`` in its own event-loop thread."""

    target_host: str
    target_port: int
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = field(default=None, init=False, repr=False)
    _server: asyncio.base_events.Server | None = field(default=None, init=False, repr=False)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)

    def start(self) -> TcpProxy:
        self.port = self.port or free_port()
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="fault-proxy", daemon=True)
        self._thread.start()
        ready.wait()
        self.restore()
        return self

    def _call(self, coro):  # type: ignore[no-untyped-def]
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def restore(self) -> None:
        """Listen again: new connections reach the target."""
        self._call(self._listen())

    def cut(self) -> None:
        """Stop listening (new connections are refused) and reset every open connection."""
        self._call(self._cut())

    @property
    def up(self) -> bool:
        return self._server is not None

    def stop(self) -> None:
        if self._loop is None:
            return
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        self._loop = None

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)

    async def _cut(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            # Abort, not close: the client sees a reset, as when the server process dies.
            writer.transport.abort()
        self._writers.clear()
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while chunk := await src.read(65536):
                    dst.write(chunk)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                dst.transport.abort() if dst.transport is not None else None
                self._writers.discard(dst)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
