"""The protocol state of one connection, without I/O.

Both clients (blocking ``client.py`` and asyncio ``aio.py``) keep one
:class:`Session` per socket: it numbers requests (from 1, so an ERROR with
request_id 0 is never taken for a reply), encodes them, and routes every
frame the daemon sends to the request it answers. The clients only move
bytes: ``session.outgoing`` to the socket, the socket to ``session.receive``.

One-shot requests (HELLO, APPEND, TRUNCATE, STATUS) complete in the order
they were sent (docs/protocol.md "Ordering and pipelining"), and each reply
must carry the request_id of the oldest one still waiting; READ frames are
matched by id and may interleave with them (a follow READ streams while other
requests are served). Anything else is a protocol violation: the session
fails everything in flight and the client closes the socket.
"""

from __future__ import annotations

import collections
from typing import Callable, Deque, Dict, List, Optional, Sequence

from . import protocol as p
from .errors import (RECORD_TOO_LARGE, ConnectionClosed, MalformedFrame, ProtocolViolation,
                     RecordTooLarge, SidewalError, daemon_error)


class Pending:
    """A one-shot request waiting for its reply. ``result`` is the decoded
    reply (Ack, HelloOk, StatusReply, or the LSN of OK); ``error`` the exception."""

    __slots__ = ("request_id", "expect", "count", "done", "result", "error", "on_done")

    def __init__(self, request_id: int, expect: int, count: int = 0):
        self.request_id = request_id
        self.expect = expect
        self.count = count  # APPEND: records sent; the ACK must agree
        self.done = False
        self.result: object = None
        self.error: Optional[SidewalError] = None
        self.on_done: Optional[Callable[["Pending"], None]] = None

    def _finish(self, result: object = None, error: Optional[SidewalError] = None) -> None:
        self.done, self.result, self.error = True, result, error
        if self.on_done is not None:
            self.on_done(self)


class ReadStream:
    """A READ in progress: its RECORDS frames queue up in ``batches`` until
    taken; it ends with ``ended`` set and ``next_lsn`` (END) or ``error``."""

    __slots__ = ("request_id", "batches", "ended", "next_lsn", "error", "last_lsn", "cancelled",
                 "on_event")

    def __init__(self, request_id: int, from_lsn: int):
        self.request_id = request_id
        self.batches: Deque[List[p.ReadRecord]] = collections.deque()
        self.ended = False
        self.next_lsn = from_lsn
        self.last_lsn = 0  # LSN of the last record received (0: none)
        self.error: Optional[SidewalError] = None
        self.cancelled = False
        self.on_event: Optional[Callable[["ReadStream"], None]] = None

    def _event(self) -> None:
        if self.on_event is not None:
            self.on_event(self)


class Session:
    def __init__(self, max_record_bytes: int = p.DEFAULT_MAX_RECORD_BYTES):
        self.outgoing = bytearray()
        self._next_id = 1
        self._oneshots: Deque[Pending] = collections.deque()
        self._reads: Dict[int, ReadStream] = {}
        self._reader = p.FrameReader(p.max_reply_body(max_record_bytes))
        self.broken: Optional[SidewalError] = None
        # The limits in force (docs/protocol.md "Limits"): defaults until HELLO_OK says.
        self.max_frame_body = p.DEFAULT_MAX_FRAME_BODY
        self.max_record_bytes = 0        # 0: unknown, not checked here
        self.max_batch_bytes = 0         # 0: unknown, left to the daemon
        self.record_extra_bytes = 0

    # ---- Requests. Each appends its frame to `outgoing` and returns what will complete.

    def _id(self) -> int:
        rid = self._next_id
        self._next_id += 1
        return rid

    def _check_open(self) -> None:
        if self.broken is not None:
            raise ConnectionClosed(f"connection is closed: {self.broken}")

    def _oneshot(self, expect: int, frame_of: Callable[[int], bytes], count: int = 0) -> Pending:
        self._check_open()
        rid = self._id()
        self.outgoing += frame_of(rid)
        pending = Pending(rid, expect, count)
        self._oneshots.append(pending)
        return pending

    def hello(self, name: str, limits: bool = True) -> Pending:
        flags = p.HELLO_LIMITS if limits else 0
        return self._oneshot(p.HELLO_OK, lambda rid: p.encode_hello(rid, name, flags))

    def apply_hello(self, ok: p.HelloOk) -> None:
        """Takes the limits HELLO_OK advertises (or the defaults of a 24-byte one)."""
        self.max_record_bytes = ok.max_record_bytes
        if ok.limits is not None:
            self.max_frame_body = ok.limits.max_frame_body
            self.max_batch_bytes = ok.limits.max_batch_bytes
            self.record_extra_bytes = ok.limits.record_extra_bytes
            self._reader.max_body = ok.limits.max_reply_body
        else:
            self.max_frame_body = p.DEFAULT_MAX_FRAME_BODY
            self.max_batch_bytes = 0
            self._reader.max_body = p.max_reply_body(ok.max_record_bytes)

    def check_append(self, records: Sequence[p.Record]) -> None:
        """Refuses locally (RecordTooLarge, local=True) what the daemon would refuse for size."""
        if not records:
            raise ValueError("an APPEND carries at least one record")
        body = 0
        for i, r in enumerate(records):
            n = len(r.payload)
            if self.max_record_bytes and n > self.max_record_bytes:
                raise RecordTooLarge(RECORD_TOO_LARGE, f"refused by the client before sending: record {i} payload is "
                                     f"{n} bytes; the daemon's max_record_bytes is {self.max_record_bytes}",
                                     local=True)
            body += p.APPEND_RECORD_HEADER_SIZE + n
        if body > self.max_frame_body:
            raise RecordTooLarge(RECORD_TOO_LARGE, f"refused by the client before sending: the APPEND body is {body} "
                                 f"bytes; the daemon's max_frame_body is {self.max_frame_body}", local=True)
        if self.max_batch_bytes:
            encoded = p.encoded_batch_bytes((len(r.payload) for r in records), self.record_extra_bytes)
            if encoded > self.max_batch_bytes:
                raise RecordTooLarge(RECORD_TOO_LARGE, f"refused by the client before sending: the batch of "
                                     f"{len(records)} records is {encoded} bytes encoded; the daemon's "
                                     f"max_batch_bytes is {self.max_batch_bytes}", local=True)

    def append(self, records: Sequence[p.Record]) -> Pending:
        self.check_append(records)
        return self._oneshot(p.ACK, lambda rid: p.encode_append(rid, records), len(records))

    def status(self) -> Pending:
        return self._oneshot(p.STATUS_OK, p.encode_status)

    def truncate(self, before_lsn: int) -> Pending:
        return self._oneshot(p.OK, lambda rid: p.encode_truncate(rid, before_lsn))

    def read(self, req: p.ReadRequest, flags: int = 0) -> ReadStream:
        self._check_open()
        if req.from_lsn < 1:
            raise ValueError("from_lsn must be at least 1 (LSNs start at 1)")
        rid = self._id()
        self.outgoing += p.encode_read(rid, req, flags)
        stream = ReadStream(rid, req.from_lsn)
        self._reads[rid] = stream
        return stream

    def cancel(self, stream: ReadStream) -> None:
        """Sends CANCEL for a READ still open; its END arrives later."""
        if stream.ended or stream.cancelled or self.broken is not None:
            return
        stream.cancelled = True
        self.outgoing += p.encode_cancel(stream.request_id)

    def in_flight(self) -> int:
        return len(self._oneshots)

    # ---- Replies.

    def receive(self, data: bytes) -> None:
        """Routes every whole frame in `data` (plus what was buffered).
        A protocol violation fails everything and is raised."""
        if self.broken is not None:
            return
        try:
            self._reader.feed(data)
            while True:
                frame = self._reader.next()
                if frame is None:
                    return
                self._route(*frame)
        except MalformedFrame as e:
            self.fail(ProtocolViolation(f"protocol violation by the daemon: {e}"))
            raise self.broken  # type: ignore[misc]

    def _route(self, h: p.FrameHeader, body: bytes) -> None:
        if h.opcode not in p.REPLY_OPCODES:
            raise MalformedFrame(f"opcode 0x{h.opcode:02x} is not a v1 reply")
        stream = self._reads.get(h.request_id)
        if stream is not None and h.opcode in (p.RECORDS, p.END, p.ERROR):
            self._route_read(stream, h, body)
            return
        if h.opcode == p.ERROR and h.request_id == 0:
            # The unprompted UNAUTHORIZED (or any id-0 ERROR): the daemon closes next.
            err = p.decode_error(body)
            self.fail(daemon_error(err.code, err.message, 0))
            return
        if not self._oneshots:
            raise MalformedFrame(f"{p.OPCODE_NAMES[h.opcode]} with request_id {h.request_id} answers nothing "
                                 "in flight")
        pending = self._oneshots[0]
        if h.request_id != pending.request_id:
            raise MalformedFrame(f"{p.OPCODE_NAMES[h.opcode]} carries request_id {h.request_id}; the oldest "
                                 f"request in flight is {pending.request_id}")
        self._oneshots.popleft()
        if h.opcode == p.ERROR:
            err = p.decode_error(body)
            pending._finish(error=daemon_error(err.code, err.message, h.request_id))
            return
        if h.opcode != pending.expect:
            raise MalformedFrame(f"{p.OPCODE_NAMES[h.opcode]} answers a request that expects "
                                 f"{p.OPCODE_NAMES[pending.expect]}")
        if h.opcode == p.ACK:
            ack = p.decode_ack(body)
            if ack.count != pending.count:
                raise MalformedFrame(f"ACK count {ack.count} for an APPEND of {pending.count} records")
            pending._finish(ack)
        elif h.opcode == p.HELLO_OK:
            ok = p.decode_hello_ok(body)
            pending._finish(ok)
        elif h.opcode == p.STATUS_OK:
            pending._finish(p.decode_status_ok(body))
        elif h.opcode == p.OK:
            pending._finish(p.decode_ok(body))
        else:
            raise MalformedFrame(f"unexpected {p.OPCODE_NAMES[h.opcode]}")

    def _route_read(self, stream: ReadStream, h: p.FrameHeader, body: bytes) -> None:
        if h.opcode == p.RECORDS:
            records = p.decode_records(body, bool(h.flags & p.RECORDS_HEADER_ONLY))
            stream.last_lsn = records[-1].lsn
            stream.next_lsn = stream.last_lsn + 1
            stream.batches.append(records)
        else:
            del self._reads[h.request_id]
            stream.ended = True
            if h.opcode == p.END:
                stream.next_lsn = p.decode_end(body)
            else:
                err = p.decode_error(body)
                stream.error = daemon_error(err.code, err.message, h.request_id)
        stream._event()

    def fail(self, error: SidewalError) -> None:
        """Ends everything in flight with `error` (a broken or closed connection)."""
        if self.broken is not None:
            return
        self.broken = error
        while self._oneshots:
            self._oneshots.popleft()._finish(error=error)
        reads = list(self._reads.values())
        self._reads.clear()
        for stream in reads:
            stream.ended = True
            stream.error = error
            stream._event()

