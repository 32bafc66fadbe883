"""The asyncio client: the operations of :class:`sidewal.Client`, awaitable.

One task reads the socket and routes every frame to the request it answers,
so any number of coroutines can share one AsyncClient: each ``await
append(...)`` is in flight at once (pipelining for free), and a follow READ
streams while others append. :meth:`AsyncClient.append_nowait` sends without
waiting and returns a future, for a window kept by the caller.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import AsyncIterator, List, Optional, Sequence

from . import protocol as p
from ._session import Pending, ReadStream, Session
from .client import Records, ReadResult, ServerLimits, as_records, read_flags
from .errors import ConnectionClosed, Malformed, NotReady, SidewalError

_RECV_BYTES = 1 << 20


class AsyncClient:
    """An asyncio connection to sidewald. Create it with :meth:`connect`."""

    def __init__(self, sock: socket.socket):
        self._sock = sock
        self._loop = asyncio.get_running_loop()
        self._session = Session()
        self.hello_ok: Optional[p.HelloOk] = None
        # Bytes go out in session order: _flush() sends directly while no
        # write is pending, else leaves them to the writer task (`_sending`).
        self._sending = False
        self._flush_scheduled = False
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks = [self._loop.create_task(self._read_loop()), self._loop.create_task(self._write_loop())]

    @classmethod
    async def connect(cls, path: str, *, name: str = "sidewal-python", timeout: Optional[float] = 10.0,
                      ask_limits: bool = True) -> "AsyncClient":
        """Connects and sends HELLO with the LIMITS flag (plain HELLO for a
        daemon that predates it); retries the connection and NOT_READY until
        `timeout`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                await asyncio.get_running_loop().sock_connect(sock, path)
            except (FileNotFoundError, ConnectionRefusedError) as e:
                sock.close()
                if deadline is not None and time.monotonic() >= deadline:
                    raise ConnectionClosed(f"cannot connect to {path}: {e}") from e
                await asyncio.sleep(0.02)
                continue
            client = cls(sock)
            try:
                await client._discover(name, ask_limits)
                return client
            except NotReady:
                await client.close()
                if deadline is not None and time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(0.05)
            except BaseException:
                await client.close()
                raise

    async def _discover(self, name: str, ask_limits: bool) -> None:
        try:
            ok = await self._result(self._session.hello(name, limits=ask_limits))
        except Malformed:
            if not ask_limits:
                raise
            ok = await self._result(self._session.hello(name, limits=False))
        self._session.apply_hello(ok)  # type: ignore[arg-type]
        self.hello_ok = ok  # type: ignore[assignment]

    @property
    def limits(self) -> ServerLimits:
        s = self._session
        return ServerLimits(s.max_frame_body, s.max_record_bytes, s.max_batch_bytes, s.record_extra_bytes)

    async def close(self) -> None:
        """Closes the socket; requests in flight end with ConnectionClosed."""
        self._session.fail(ConnectionClosed("closed by the client"))
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._break(ConnectionClosed("closed by the client"))  # closes the socket once no task waits on it

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- Operations.

    async def hello(self, name: str = "sidewal-python") -> p.HelloOk:
        return await self._result(self._session.hello(name, limits=True))  # type: ignore[return-value]

    async def append(self, payload: bytes, *, type: int = 0, tenant: int = 0) -> int:
        """Appends one record; returns its LSN once durable."""
        ack = await self.append_batch((p.Record(bytes(payload), type, tenant),))
        return ack.first_lsn

    async def append_batch(self, records: Sequence[p.Record]) -> p.Ack:
        """Appends records atomically; returns the ACK once durable."""
        return await self._result(self._session.append(records))  # type: ignore[return-value]

    def append_nowait(self, records: Records, *, type: int = 0, tenant: int = 0) -> "asyncio.Future[p.Ack]":
        """Sends an APPEND now and returns a future of its ACK (pipelining).
        Await ``drain()`` now and then when sending many without awaiting."""
        return self._future(self._session.append(as_records(records, type, tenant)))

    async def drain(self) -> None:
        """Waits until every request made so far has left for the socket."""
        self._flush_now()
        await self._idle.wait()

    async def status(self) -> p.StatusReply:
        return await self._result(self._session.status())  # type: ignore[return-value]

    async def truncate(self, before_lsn: int) -> int:
        return await self._result(self._session.truncate(before_lsn))  # type: ignore[return-value]

    async def read(self, from_lsn: int, *, max_records: int = 0, max_bytes: int = 0, skip_dead: bool = False,
                   header_only: bool = False) -> ReadResult:
        """One plain READ (see Client.read)."""
        reader = self.open_read(from_lsn, max_records=max_records, max_bytes=max_bytes, skip_dead=skip_dead,
                                header_only=header_only)
        records = [r async for r in reader]
        return ReadResult(records, reader.next_lsn)

    def open_read(self, from_lsn: int, *, follow: bool = False, max_records: int = 0, max_bytes: int = 0,
                  skip_dead: bool = False, header_only: bool = False) -> "AsyncReader":
        req = p.ReadRequest(from_lsn, max_records, max_bytes, 1 if follow else 0)
        stream = self._session.read(req, read_flags(skip_dead, header_only))
        reader = AsyncReader(self, stream)
        self._flush()
        return reader

    def follow(self, from_lsn: int, **kwargs: object) -> "AsyncReader":
        """A follow READ; end it with ``await reader.cancel()`` or ``async with``."""
        return self.open_read(from_lsn, follow=True, **kwargs)  # type: ignore[arg-type]

    # ---- I/O.

    def _flush(self) -> None:
        # Requests made in the same turn of the event loop leave in one
        # send(): the first schedules the send, the others join its bytes.
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush_now)

    def _flush_now(self) -> None:
        self._flush_scheduled = False
        s = self._session
        if not s.outgoing or s.broken is not None:
            return
        if not self._sending:
            try:
                del s.outgoing[:self._sock.send(s.outgoing)]
            except (BlockingIOError, InterruptedError):
                pass
            except OSError as e:
                self._send_failed(e)
                return
            if not s.outgoing:
                return
            self._sending = True
            self._idle.clear()
        self._wake.set()

    def _future(self, pending: Pending) -> "asyncio.Future[object]":
        fut: asyncio.Future[object] = self._loop.create_future()

        def done(pd: Pending) -> None:
            if fut.done():
                return
            if pd.error is not None:
                fut.set_exception(pd.error)
            else:
                fut.set_result(pd.result)

        pending.on_done = done
        self._flush()
        return fut

    async def _result(self, pending: Pending) -> object:
        return await self._future(pending)

    async def _write_loop(self) -> None:
        s = self._session
        while s.broken is None:
            if not s.outgoing:
                self._sending = False
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            data = bytes(s.outgoing)
            s.outgoing.clear()
            try:
                await self._loop.sock_sendall(self._sock, data)
            except OSError as e:
                self._send_failed(e)
        self._idle.set()

    async def _read_loop(self) -> None:
        s = self._session
        while s.broken is None:
            try:
                data = await self._loop.sock_recv(self._sock, _RECV_BYTES)
            except OSError as e:
                self._break(ConnectionClosed(f"recv failed: {e}"))
                return
            if not data:
                self._break(ConnectionClosed("the daemon closed the connection"))
                return
            try:
                s.receive(data)
            except SidewalError:
                self._break(s.broken or ConnectionClosed("protocol violation"))
                return

    def _send_failed(self, e: OSError) -> None:
        # The daemon may have said why before closing (the unprompted
        # UNAUTHORIZED): route what it sent before failing the rest.
        s = self._session
        while s.broken is None:
            try:
                data = self._sock.recv(_RECV_BYTES)
            except OSError:
                break
            if not data:
                break
            try:
                s.receive(data)
            except SidewalError:
                break
        self._break(ConnectionClosed(f"send failed: {e}"))

    def _break(self, error: SidewalError) -> None:
        self._session.fail(error)
        self._sending = False
        self._idle.set()
        self._wake.set()
        try:
            self._sock.close()
        except OSError:
            pass


class AsyncReader:
    """The records of one READ as an async iterator (see sidewal.Reader)."""

    def __init__(self, client: AsyncClient, stream: ReadStream):
        self._client = client
        self._stream = stream
        self._event = asyncio.Event()
        stream.on_event = lambda _s: self._event.set()
        self._batch: List[p.ReadRecord] = []
        self._at = 0

    @property
    def request_id(self) -> int:
        return self._stream.request_id

    @property
    def next_lsn(self) -> int:
        return self._stream.next_lsn

    @property
    def ended(self) -> bool:
        return self._stream.ended

    def __aiter__(self) -> AsyncIterator[p.ReadRecord]:
        return self

    async def __anext__(self) -> p.ReadRecord:
        if self._at >= len(self._batch):
            batch = await self.next_batch()
            if batch is None:
                raise StopAsyncIteration
            self._batch, self._at = batch, 0
        rec = self._batch[self._at]
        self._at += 1
        return rec

    async def next_batch(self) -> Optional[List[p.ReadRecord]]:
        """The next RECORDS frame's records; None once ended (raises its error)."""
        st = self._stream
        while not st.batches and not st.ended:
            self._event.clear()
            await self._event.wait()
        if st.batches:
            return st.batches.popleft()
        if st.error is not None:
            raise st.error
        return None

    async def cancel(self) -> int:
        """CANCEL, then waits for END; returns next_lsn."""
        st = self._stream
        if not st.ended:
            self._client._session.cancel(st)
            self._client._flush()
            while not st.ended:
                self._event.clear()
                await self._event.wait()
        return st.next_lsn

    async def __aenter__(self) -> "AsyncReader":
        return self

    async def __aexit__(self, *exc: object) -> None:
        if not self._stream.ended and self._client._session.broken is None:
            try:
                await self.cancel()
            except SidewalError:
                pass


__all__ = ["AsyncClient", "AsyncReader"]
