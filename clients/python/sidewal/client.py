"""The blocking client: one Unix socket, no threads.

Every call sends its request and reads replies until its own has arrived;
replies to other requests that arrive meanwhile (pipelined APPENDs, the
frames of an open READ) are routed to them and kept. So one thread can keep
many APPENDs in flight (:meth:`Client.append_nowait`, :class:`Pipeline`)
and follow the log while it appends. A Client is not thread-safe: use one
per thread (or the asyncio client).
"""

from __future__ import annotations

import select
import socket
import time
from dataclasses import dataclass
from typing import Callable, Iterator, List, Optional, Sequence, Union

from . import protocol as p
from ._session import Pending, ReadStream, Session
from .errors import ConnectionClosed, Malformed, NotReady, SidewalError

Records = Union[bytes, bytearray, memoryview, p.Record, Sequence[p.Record]]

_RECV_BYTES = 1 << 20


def as_records(records: Records, type: int = 0, tenant: int = 0) -> Sequence[p.Record]:
    """A payload (with type and tenant), one Record, or a sequence of Records."""
    if isinstance(records, (bytes, bytearray, memoryview)):
        return (p.Record(bytes(records), type, tenant),)
    if isinstance(records, p.Record):
        return (records,)
    return records


@dataclass(frozen=True)
class ServerLimits:
    """The limits in force on a connection (docs/protocol.md "Limits").
    ``max_batch_bytes`` is 0 when the daemon predates the limits block (the
    daemon then checks batches alone)."""
    max_frame_body: int
    max_record_bytes: int
    max_batch_bytes: int
    record_extra_bytes: int


@dataclass(frozen=True)
class ReadResult:
    """What one plain READ returned: its records, and where to resume."""
    records: List[p.ReadRecord]
    next_lsn: int


def read_flags(skip_dead: bool, header_only: bool) -> int:
    return (p.READ_SKIP_DEAD if skip_dead else 0) | (p.READ_HEADER_ONLY if header_only else 0)


class Client:
    """A blocking connection to sidewald. Create it with :meth:`connect`."""

    def __init__(self, sock: socket.socket, timeout: Optional[float]):
        self._sock = sock
        self._sock.setblocking(False)
        self._poll = select.poll()
        self._fd = sock.fileno()
        self.timeout = timeout
        self._session = Session()
        self.hello_ok: Optional[p.HelloOk] = None

    # ---- Connecting.

    @classmethod
    def connect(cls, path: str, *, name: str = "sidewal-python", timeout: Optional[float] = 10.0,
                ask_limits: bool = True) -> "Client":
        """Connects to the daemon's socket and sends HELLO with the LIMITS flag
        (falling back to a plain HELLO when the daemon predates the flag), so
        the client refuses oversized APPENDs before sending them. Retries the
        connection and NOT_READY (a recovering daemon) until `timeout`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(path)
            except (FileNotFoundError, ConnectionRefusedError) as e:
                sock.close()
                if deadline is not None and time.monotonic() >= deadline:
                    raise ConnectionClosed(f"cannot connect to {path}: {e}") from e
                time.sleep(0.02)
                continue
            client = cls(sock, timeout)
            try:
                client._discover(name, ask_limits, deadline)
                return client
            except NotReady:
                client.close()
                if deadline is not None and time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)
            except BaseException:
                client.close()
                raise

    def _discover(self, name: str, ask_limits: bool, deadline: Optional[float]) -> None:
        try:
            ok = self._result(self._session.hello(name, limits=ask_limits), deadline)
        except Malformed:
            if not ask_limits:
                raise
            # A daemon that predates the LIMITS flag: plain HELLO, default limits.
            ok = self._result(self._session.hello(name, limits=False), deadline)
        self._session.apply_hello(ok)  # type: ignore[arg-type]
        self.hello_ok = ok  # type: ignore[assignment]

    @property
    def limits(self) -> ServerLimits:
        s = self._session
        return ServerLimits(s.max_frame_body, s.max_record_bytes, s.max_batch_bytes, s.record_extra_bytes)

    def close(self) -> None:
        """Closes the socket. Requests still in flight end with ConnectionClosed."""
        self._session.fail(ConnectionClosed("closed by the client"))
        try:
            self._sock.close()
        except OSError:
            pass

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- Operations.

    def hello(self, name: str = "sidewal-python") -> p.HelloOk:
        """HELLO with the LIMITS flag: the daemon's LSNs and limits now."""
        return self._result(self._session.hello(name, limits=True))  # type: ignore[return-value]

    def append(self, payload: bytes, *, type: int = 0, tenant: int = 0) -> int:
        """Appends one record and returns its LSN once it is durable."""
        return self.append_batch((p.Record(bytes(payload), type, tenant),)).first_lsn

    def append_batch(self, records: Sequence[p.Record]) -> p.Ack:
        """Appends records atomically (contiguous LSNs); returns the ACK once durable."""
        return self._result(self._session.append(records))  # type: ignore[return-value]

    def append_nowait(self, records: Records, *, type: int = 0, tenant: int = 0) -> "AppendFuture":
        """Sends an APPEND without waiting for its ACK (pipelining). ACKs
        arrive in request order; ``result()`` waits for this one."""
        pending = self._session.append(as_records(records, type, tenant))
        self._io(lambda: True, None, once=True)  # send what the socket takes now; route what arrived
        return AppendFuture(self, pending)

    def pipeline(self, max_in_flight: int = 16) -> "Pipeline":
        """A window of at most `max_in_flight` APPENDs awaiting their ACKs."""
        return Pipeline(self, max_in_flight)

    def status(self) -> p.StatusReply:
        return self._result(self._session.status())  # type: ignore[return-value]

    def truncate(self, before_lsn: int) -> int:
        """Deletes whole segments below `before_lsn`; returns the first LSN still in the log."""
        return self._result(self._session.truncate(before_lsn))  # type: ignore[return-value]

    def read(self, from_lsn: int, *, max_records: int = 0, max_bytes: int = 0, skip_dead: bool = False,
             header_only: bool = False) -> ReadResult:
        """One plain READ: durable records from `from_lsn` up to the limits
        (max_bytes 0 = the daemon's default, 16 MiB) or the durable end. To
        read everything, repeat from ``next_lsn`` until no records come."""
        with self.open_read(from_lsn, max_records=max_records, max_bytes=max_bytes, skip_dead=skip_dead,
                            header_only=header_only) as reader:
            records = list(reader)
            return ReadResult(records, reader.next_lsn)

    def open_read(self, from_lsn: int, *, follow: bool = False, max_records: int = 0, max_bytes: int = 0,
                  skip_dead: bool = False, header_only: bool = False) -> "Reader":
        """Starts a READ and returns an iterator over its records."""
        req = p.ReadRequest(from_lsn, max_records, max_bytes, 1 if follow else 0)
        stream = self._session.read(req, read_flags(skip_dead, header_only))
        self._io(lambda: True, None, once=True)
        return Reader(self, stream)

    def follow(self, from_lsn: int, **kwargs: object) -> "Reader":
        """A follow READ: what is durable, then new records as they become
        durable, until :meth:`Reader.cancel` (or a max_records/max_bytes limit)."""
        return self.open_read(from_lsn, follow=True, **kwargs)  # type: ignore[arg-type]

    # ---- I/O.

    def _deadline(self) -> Optional[float]:
        return None if self.timeout is None else time.monotonic() + self.timeout

    def _result(self, pending: Pending, deadline: Optional[float] = None) -> object:
        self._io(lambda: pending.done, deadline if deadline is not None else self._deadline())
        if pending.error is not None:
            raise pending.error
        return pending.result

    def _io(self, done: Callable[[], bool], deadline: Optional[float], once: bool = False) -> None:
        """Sends queued bytes and routes received frames until done() holds
        and nothing is left to send. With `once`, makes a single
        non-blocking pass. Raises TimeoutError at the deadline (the
        connection stays usable: the reply is routed by a later call), and
        the connection's error when it broke before done()."""
        s = self._session
        while True:
            if s.outgoing and s.broken is None:
                try:
                    del s.outgoing[:self._sock.send(s.outgoing)]
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError as e:
                    # The daemon may have said why before closing (the
                    # unprompted UNAUTHORIZED): route what it sent first.
                    self._drain_socket()
                    self._break(ConnectionClosed(f"send failed: {e}"))
            self._drain_socket()
            if s.broken is not None:
                s.outgoing.clear()
                if done() or once:
                    return
                raise s.broken
            if once or (done() and not s.outgoing):
                return
            wait_ms: Optional[int] = None
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no reply from the daemon before the timeout")
                wait_ms = int(left * 1000) + 1
            self._poll.register(self._fd, select.POLLIN | (select.POLLOUT if s.outgoing else 0))
            self._poll.poll(wait_ms)

    def _drain_socket(self) -> None:
        """Reads and routes everything the socket holds now."""
        s = self._session
        while s.broken is None:
            try:
                data = self._sock.recv(_RECV_BYTES)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                self._break(ConnectionClosed(f"recv failed: {e}"))
                return
            if not data:
                self._break(ConnectionClosed("the daemon closed the connection"))
                return
            try:
                s.receive(data)
            except SidewalError:
                self._sock.close()
                return

    def _break(self, error: SidewalError) -> None:
        self._session.fail(error)
        try:
            self._sock.close()
        except OSError:
            pass


class AppendFuture:
    """A pipelined APPEND: ``result()`` waits for its ACK (or raises its error)."""

    def __init__(self, client: Client, pending: Pending):
        self._client = client
        self._pending = pending

    @property
    def request_id(self) -> int:
        return self._pending.request_id

    def done(self) -> bool:
        return self._pending.done

    def result(self, timeout: Optional[float] = None) -> p.Ack:
        deadline = None if timeout is None else time.monotonic() + timeout
        return self._client._result(self._pending, deadline)  # type: ignore[return-value]


class Pipeline:
    """Keeps up to `max_in_flight` APPENDs in flight on one Client.

    ``append()`` sends at once, first waiting for the oldest ACK when the
    window is full; ``drain()`` waits for the rest and returns every ACK in
    request order. An APPEND refused by the daemon does not stop the others
    (the connection stays usable): its error is raised by ``drain()`` (the
    first one), or by ``append()`` when the window slides past it.
    """

    def __init__(self, client: Client, max_in_flight: int):
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self._client = client
        self._max = max_in_flight
        self._futures: List[AppendFuture] = []
        self._acks: List[p.Ack] = []

    def append(self, records: Records, *, type: int = 0, tenant: int = 0) -> AppendFuture:
        while len(self._futures) >= self._max:
            self._acks.append(self._futures.pop(0).result())
        fut = self._client.append_nowait(records, type=type, tenant=tenant)
        self._futures.append(fut)
        return fut

    def drain(self) -> List[p.Ack]:
        """Waits for every APPEND in flight; returns all ACKs since the last drain."""
        try:
            while self._futures:
                self._acks.append(self._futures.pop(0).result())
            return self._acks
        finally:
            self._acks = []

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.drain()


class Reader:
    """The records of one READ, in LSN order, as an iterator.

    Iterating blocks until records arrive; it ends at END (``next_lsn`` is
    then where to resume) and raises the READ's ERROR if it ends with one
    (records before it were delivered; resume from ``next_lsn``). For a
    follow READ, :meth:`cancel` sends CANCEL and waits for END; the records
    that arrived before it are still iterated. Leaving a ``with`` block
    cancels a READ that has not ended.
    """

    def __init__(self, client: Client, stream: ReadStream):
        self._client = client
        self._stream = stream
        self._batch: List[p.ReadRecord] = []
        self._at = 0

    @property
    def request_id(self) -> int:
        return self._stream.request_id

    @property
    def next_lsn(self) -> int:
        """The LSN after the last record received (END's next_lsn once ended)."""
        return self._stream.next_lsn

    @property
    def ended(self) -> bool:
        return self._stream.ended

    def __iter__(self) -> Iterator[p.ReadRecord]:
        return self

    def __next__(self) -> p.ReadRecord:
        if self._at >= len(self._batch):
            batch = self.next_batch()
            if batch is None:
                raise StopIteration
            self._batch, self._at = batch, 0
        rec = self._batch[self._at]
        self._at += 1
        return rec

    def next_batch(self, timeout: Optional[float] = None) -> Optional[List[p.ReadRecord]]:
        """The next RECORDS frame's records; None once the READ has ended
        (raises its error if it ended with one). With `timeout`, raises
        TimeoutError when nothing arrives in time."""
        st = self._stream
        if not st.batches and not st.ended:
            deadline = None if timeout is None else time.monotonic() + timeout
            self._client._io(lambda: bool(st.batches) or st.ended, deadline)
        if st.batches:
            return st.batches.popleft()
        if st.error is not None:
            raise st.error
        return None

    def cancel(self) -> int:
        """Ends the READ (CANCEL, then waits for END); returns next_lsn."""
        st = self._stream
        if not st.ended:
            self._client._session.cancel(st)
            self._client._io(lambda: st.ended, self._client._deadline())
        return st.next_lsn

    def __enter__(self) -> "Reader":
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._stream.ended and self._client._session.broken is None:
            try:
                self.cancel()
            except (SidewalError, TimeoutError):
                pass  # leaving the block anyway; the error is the connection's


__all__ = ["Client", "AppendFuture", "Pipeline", "Reader", "ReadResult", "ServerLimits", "as_records"]
