"""Protocol v1 codec (docs/protocol.md), standard library only.

Every message is a 16-byte header (u32 body_len, u8 opcode, u8 flags,
u16 reserved, u64 request_id; little-endian) and ``body_len`` bytes of body.
``encode_*`` return a whole frame; ``decode_*`` take a body and raise
:class:`~sidewal.errors.MalformedFrame` naming what was wrong. The decoders
check lengths exactly and reserved fields, like src/proto's, so a peer that
drifts from the spec is caught at its first frame. Checked against
tests/protocol_vectors/vectors.json by tests/test_vectors.py.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence

from .errors import MalformedFrame, error_name

VERSION = 1
HEADER_SIZE = 16

# Opcodes.
HELLO = 0x01
APPEND = 0x02
READ = 0x03
TRUNCATE = 0x04
STATUS = 0x05
CANCEL = 0x06
HELLO_OK = 0x81
ACK = 0x82
RECORDS = 0x83
END = 0x84
OK = 0x85
STATUS_OK = 0x86
ERROR = 0xFF

OPCODE_NAMES = {
    HELLO: "HELLO", APPEND: "APPEND", READ: "READ", TRUNCATE: "TRUNCATE", STATUS: "STATUS",
    CANCEL: "CANCEL", HELLO_OK: "HELLO_OK", ACK: "ACK", RECORDS: "RECORDS", END: "END",
    OK: "OK", STATUS_OK: "STATUS_OK", ERROR: "ERROR",
}
REQUEST_OPCODES = frozenset((HELLO, APPEND, READ, TRUNCATE, STATUS, CANCEL))
REPLY_OPCODES = frozenset((HELLO_OK, ACK, RECORDS, END, OK, STATUS_OK, ERROR))

# Header flags (protocol v1 additions).
HELLO_LIMITS = 0x01        # HELLO: ask for the limits block in HELLO_OK
READ_SKIP_DEAD = 0x01      # READ: omit records dead by collection tombstone
READ_HEADER_ONLY = 0x02    # READ: RECORDS entries without payload bytes
RECORDS_HEADER_ONLY = 0x02  # RECORDS: this frame's entries carry no payload
ALLOWED_REQUEST_FLAGS = {HELLO: HELLO_LIMITS, READ: READ_SKIP_DEAD | READ_HEADER_ONLY}

# Default limits (docs/protocol.md "Limits").
DEFAULT_MAX_FRAME_BODY = 4 << 20
DEFAULT_MAX_RECORD_BYTES = 1 << 20
DEFAULT_MAX_BATCH_BYTES = 4 << 20
RECORDS_FRAME_BUDGET = 1 << 20
APPEND_RECORD_HEADER_SIZE = 12
READ_RECORD_HEADER_SIZE = 20

FIRST_CONTROL_TYPE = 0x8000

_HEADER = struct.Struct("<IBBHQ")
_APPEND_REC = struct.Struct("<HHII")
_READ_REC = struct.Struct("<QHHII")
_HELLO_FIXED = struct.Struct("<HHI")
_HELLO_OK = struct.Struct("<HHIQQ")
_LIMITS = struct.Struct("<IIQII")
_ACK = struct.Struct("<QII")
_READ = struct.Struct("<QIIB7s")
_U64 = struct.Struct("<Q")
_STATUS_OK = struct.Struct("<QQQQB7s")
_ERROR_FIXED = struct.Struct("<HHI")


def max_reply_body(max_record_bytes: int) -> int:
    """The largest reply body a daemon with this max_record_bytes sends."""
    return max(RECORDS_FRAME_BUDGET, READ_RECORD_HEADER_SIZE + max_record_bytes)


def encoded_record_bytes(payload_len: int, record_extra_bytes: int = 0) -> int:
    """The on-disk size the daemon measures one record by: round_up(24 + n + extra, 8)."""
    return (24 + payload_len + record_extra_bytes + 7) // 8 * 8


def encoded_batch_bytes(payload_lens: Iterable[int], record_extra_bytes: int = 0) -> int:
    """The size an APPEND is checked against max_batch_bytes by (docs/protocol.md "Limits")."""
    return sum(encoded_record_bytes(n, record_extra_bytes) for n in payload_lens)


# ---- Messages.

@dataclass(frozen=True)
class FrameHeader:
    body_len: int
    opcode: int
    flags: int = 0
    reserved: int = 0
    request_id: int = 0


@dataclass(frozen=True)
class Record:
    """A record to APPEND: an application type (0x0000-0x7FFF, or a control
    record 0x8001-0x8003 with a valid payload), an opaque tenant id and payload."""
    payload: bytes
    type: int = 0
    tenant: int = 0
    flags: int = 0  # must be 0 on the wire; kept so decode_append can report it


@dataclass(frozen=True)
class ReadRecord:
    """A record of a RECORDS reply. ``flags`` are the log's own bits
    (BATCH_END 0x1, FLUSH_START 0x2). In a header-only frame ``payload`` is
    empty and ``payload_len`` the stored length."""
    lsn: int
    type: int
    flags: int
    tenant: int
    payload: bytes
    payload_len: int


@dataclass(frozen=True)
class Hello:
    version: int
    name: str


@dataclass(frozen=True)
class ReadRequest:
    from_lsn: int
    max_records: int = 0
    max_bytes: int = 0
    follow: int = 0


@dataclass(frozen=True)
class Limits:
    """The daemon's limits (HELLO_OK's limits block, docs/protocol.md "Limits")."""
    max_frame_body: int
    max_reply_body: int
    max_batch_bytes: int
    record_extra_bytes: int


@dataclass(frozen=True)
class HelloOk:
    version: int
    max_record_bytes: int
    first_lsn: int
    durable_lsn: int
    limits: Optional[Limits]  # None: a 24-byte reply without the block


@dataclass(frozen=True)
class Ack:
    """An APPEND's acknowledgement: record i of the batch has LSN first_lsn + i."""
    first_lsn: int
    count: int

    @property
    def last_lsn(self) -> int:
        return self.first_lsn + self.count - 1


@dataclass(frozen=True)
class StatusReply:
    first_lsn: int
    durable_lsn: int
    segments: int
    bytes_on_disk: int
    state: int  # 0 recovering, 1 ready, 2 failed


@dataclass(frozen=True)
class ErrorReply:
    code: int
    message: str

    @property
    def name(self) -> Optional[str]:
        return error_name(self.code)


# ---- Header.

def encode_header(h: FrameHeader) -> bytes:
    return _HEADER.pack(h.body_len, h.opcode, h.flags, h.reserved, h.request_id)


def decode_header(data: bytes) -> FrameHeader:
    if len(data) < HEADER_SIZE:
        raise MalformedFrame(f"frame header needs {HEADER_SIZE} bytes, got {len(data)}")
    return FrameHeader(*_HEADER.unpack_from(data, 0))


def check_request_header(h: FrameHeader) -> None:
    """What the daemon checks first: a v1 request opcode, only the flags it defines, reserved 0."""
    if h.opcode not in REQUEST_OPCODES:
        raise MalformedFrame(f"opcode 0x{h.opcode:02x} is not a v1 request")
    unknown = h.flags & ~ALLOWED_REQUEST_FLAGS.get(h.opcode, 0)
    if unknown:
        raise MalformedFrame(f"{OPCODE_NAMES[h.opcode]} header: flag bits 0x{unknown:02x} not defined")
    if h.reserved != 0:
        raise MalformedFrame(f"{OPCODE_NAMES[h.opcode]} header: reserved must be 0, got {h.reserved}")


def _frame(opcode: int, request_id: int, body: bytes, flags: int = 0) -> bytes:
    return _HEADER.pack(len(body), opcode, flags, 0, request_id) + body


# ---- Requests.

def encode_hello(request_id: int, name: str, flags: int = 0, version: int = VERSION) -> bytes:
    nb = name.encode()
    return _frame(HELLO, request_id, _HELLO_FIXED.pack(version, 0, len(nb)) + nb, flags)


def encode_append_body(records: Sequence[Record]) -> bytes:
    parts = []
    for r in records:
        payload = bytes(r.payload)
        parts.append(_APPEND_REC.pack(r.type, r.flags, r.tenant, len(payload)))
        parts.append(payload)
    return b"".join(parts)


def encode_append(request_id: int, records: Sequence[Record]) -> bytes:
    return _frame(APPEND, request_id, encode_append_body(records))


def encode_read(request_id: int, req: ReadRequest, flags: int = 0) -> bytes:
    body = _READ.pack(req.from_lsn, req.max_records, req.max_bytes, req.follow, bytes(7))
    return _frame(READ, request_id, body, flags)


def encode_truncate(request_id: int, before_lsn: int) -> bytes:
    return _frame(TRUNCATE, request_id, _U64.pack(before_lsn))


def encode_status(request_id: int) -> bytes:
    return _frame(STATUS, request_id, b"")


def encode_cancel(read_request_id: int) -> bytes:
    return _frame(CANCEL, read_request_id, b"")


def _exact(what: str, body: bytes, size: int) -> None:
    if len(body) != size:
        raise MalformedFrame(f"{what} body: expected {size} bytes, got {len(body)}")


def decode_hello(body: bytes) -> Hello:
    if len(body) < _HELLO_FIXED.size:
        raise MalformedFrame(f"HELLO body: expected at least 8 bytes, got {len(body)}")
    version, reserved, name_len = _HELLO_FIXED.unpack_from(body, 0)
    if reserved != 0:
        raise MalformedFrame("HELLO body: reserved u16 at offset 2 must be 0")
    if len(body) - 8 != name_len:
        raise MalformedFrame(f"HELLO body: name_len {name_len} but {len(body) - 8} bytes follow")
    return Hello(version, body[8:].decode("utf-8", errors="replace"))


def decode_append(body: bytes) -> List[Record]:
    if not body:
        raise MalformedFrame("APPEND body: no records (an APPEND carries at least one)")
    out: List[Record] = []
    at = 0
    while at < len(body):
        if len(body) - at < _APPEND_REC.size:
            raise MalformedFrame(f"APPEND body: record {len(out)} at offset {at}: header needs 12 bytes, "
                                 f"{len(body) - at} left")
        type_, flags, tenant, n = _APPEND_REC.unpack_from(body, at)
        if flags != 0:
            raise MalformedFrame(f"APPEND body: record {len(out)} at offset {at}: flags must be 0, got {flags}")
        start = at + _APPEND_REC.size
        if len(body) - start < n:
            raise MalformedFrame(f"APPEND body: record {len(out)} at offset {at}: payload_len {n} "
                                 f"runs past the body ({len(body) - start} bytes left)")
        out.append(Record(payload=bytes(body[start:start + n]), type=type_, tenant=tenant))
        at = start + n
    return out


def decode_read(body: bytes) -> ReadRequest:
    _exact("READ", body, _READ.size)
    from_lsn, max_records, max_bytes, follow, reserved = _READ.unpack(body)
    if follow > 1:
        raise MalformedFrame(f"READ body: follow must be 0 or 1, got {follow}")
    if any(reserved):
        raise MalformedFrame("READ body: reserved bytes 17..23 must be 0")
    return ReadRequest(from_lsn, max_records, max_bytes, follow)


def decode_truncate(body: bytes) -> int:
    _exact("TRUNCATE", body, 8)
    return _U64.unpack(body)[0]


def decode_empty(body: bytes) -> None:
    _exact("STATUS/CANCEL", body, 0)


# ---- Replies.

def encode_hello_ok(request_id: int, m: HelloOk) -> bytes:
    body = _HELLO_OK.pack(m.version, 0, m.max_record_bytes, m.first_lsn, m.durable_lsn)
    if m.limits is not None:
        lim = m.limits
        body += _LIMITS.pack(lim.max_frame_body, lim.max_reply_body, lim.max_batch_bytes,
                             lim.record_extra_bytes, 0)
    return _frame(HELLO_OK, request_id, body)


def encode_ack(request_id: int, m: Ack) -> bytes:
    return _frame(ACK, request_id, _ACK.pack(m.first_lsn, m.count, 0))


def encode_records(request_id: int, records: Sequence[ReadRecord], header_only: bool = False) -> bytes:
    parts = []
    for r in records:
        if header_only:
            parts.append(_READ_REC.pack(r.lsn, r.type, r.flags, r.tenant, r.payload_len))
        else:
            parts.append(_READ_REC.pack(r.lsn, r.type, r.flags, r.tenant, len(r.payload)))
            parts.append(bytes(r.payload))
    return _frame(RECORDS, request_id, b"".join(parts), RECORDS_HEADER_ONLY if header_only else 0)


def encode_end(request_id: int, next_lsn: int) -> bytes:
    return _frame(END, request_id, _U64.pack(next_lsn))


def encode_ok(request_id: int, first_lsn: int) -> bytes:
    return _frame(OK, request_id, _U64.pack(first_lsn))


def encode_status_ok(request_id: int, m: StatusReply) -> bytes:
    body = _STATUS_OK.pack(m.first_lsn, m.durable_lsn, m.segments, m.bytes_on_disk, m.state, bytes(7))
    return _frame(STATUS_OK, request_id, body)


def encode_error(request_id: int, code: int, message: str) -> bytes:
    mb = message.encode()
    return _frame(ERROR, request_id, _ERROR_FIXED.pack(code, 0, len(mb)) + mb)


def decode_hello_ok(body: bytes) -> HelloOk:
    if len(body) != _HELLO_OK.size and len(body) < _HELLO_OK.size + _LIMITS.size:
        raise MalformedFrame(f"HELLO_OK body: expected 24 bytes, or at least 48 with the limits block, "
                             f"got {len(body)}")
    version, reserved, mrb, first, durable = _HELLO_OK.unpack_from(body, 0)
    if reserved != 0:
        raise MalformedFrame("HELLO_OK body: reserved u16 at offset 2 must be 0")
    limits = None
    if len(body) >= 48:
        # Offset 44 is reserved and ignored; bytes after 48 belong to a later version.
        frame_body, reply_body, batch, extra, _ = _LIMITS.unpack_from(body, 24)
        if frame_body == 0 or reply_body == 0 or batch == 0:
            raise MalformedFrame(f"HELLO_OK body: limits block with a zero limit (max_frame_body "
                                 f"{frame_body}, max_reply_body {reply_body}, max_batch_bytes {batch})")
        limits = Limits(frame_body, reply_body, batch, extra)
    return HelloOk(version, mrb, first, durable, limits)


def decode_ack(body: bytes) -> Ack:
    _exact("ACK", body, _ACK.size)
    first, count, reserved = _ACK.unpack(body)
    if reserved != 0:
        raise MalformedFrame("ACK body: reserved u32 at offset 12 must be 0")
    return Ack(first, count)


def decode_records(body: bytes, header_only: bool = False) -> List[ReadRecord]:
    if not body:
        raise MalformedFrame("RECORDS body: no records (a RECORDS frame carries at least one)")
    out: List[ReadRecord] = []
    at = 0
    mv = memoryview(body)
    while at < len(body):
        if len(body) - at < _READ_REC.size:
            raise MalformedFrame(f"RECORDS body: record {len(out)} at offset {at}: header needs 20 bytes, "
                                 f"{len(body) - at} left")
        lsn, type_, flags, tenant, n = _READ_REC.unpack_from(body, at)
        start = at + _READ_REC.size
        if header_only:
            out.append(ReadRecord(lsn, type_, flags, tenant, b"", n))
            at = start
            continue
        if len(body) - start < n:
            raise MalformedFrame(f"RECORDS body: record {len(out)} at offset {at}: payload_len {n} "
                                 f"runs past the body ({len(body) - start} bytes left)")
        out.append(ReadRecord(lsn, type_, flags, tenant, bytes(mv[start:start + n]), n))
        at = start + n
    return out


def decode_end(body: bytes) -> int:
    _exact("END", body, 8)
    return _U64.unpack(body)[0]


def decode_ok(body: bytes) -> int:
    _exact("OK", body, 8)
    return _U64.unpack(body)[0]


def decode_status_ok(body: bytes) -> StatusReply:
    _exact("STATUS_OK", body, _STATUS_OK.size)
    first, durable, segments, size, state, reserved = _STATUS_OK.unpack(body)
    if state > 2:
        raise MalformedFrame(f"STATUS_OK body: state must be 0, 1 or 2, got {state}")
    if any(reserved):
        raise MalformedFrame("STATUS_OK body: reserved bytes 33..39 must be 0")
    return StatusReply(first, durable, segments, size, state)


def decode_error(body: bytes) -> ErrorReply:
    if len(body) < _ERROR_FIXED.size:
        raise MalformedFrame(f"ERROR body: expected at least 8 bytes, got {len(body)}")
    code, reserved, n = _ERROR_FIXED.unpack_from(body, 0)
    if code == 0:
        raise MalformedFrame("ERROR body: code 0 is not an error code")
    if reserved != 0:
        raise MalformedFrame("ERROR body: reserved u16 at offset 2 must be 0")
    if len(body) - 8 != n:
        raise MalformedFrame(f"ERROR body: msg_len {n} but {len(body) - 8} bytes follow")
    return ErrorReply(code, bytes(body[8:]).decode("utf-8", errors="replace"))


class FrameReader:
    """Splits a byte stream into frames.

    ``feed(data)`` buffers bytes; ``next()`` returns ``(header, body)`` for
    the next whole frame, or None when fewer bytes than a frame are buffered.
    A header announcing a body above ``max_body`` raises MalformedFrame at
    once, before its body arrives (the stream cannot be resynchronised).
    """

    def __init__(self, max_body: int):
        self.max_body = max_body
        self._buf = bytearray()
        self._pos = 0

    def feed(self, data: bytes) -> None:
        if self._pos and self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
        self._buf += data

    def next(self) -> Optional[tuple]:
        avail = len(self._buf) - self._pos
        if avail < HEADER_SIZE:
            self._compact()
            return None
        body_len, opcode, flags, reserved, rid = _HEADER.unpack_from(self._buf, self._pos)
        if body_len > self.max_body:
            raise MalformedFrame(f"{OPCODE_NAMES.get(opcode, 'UNKNOWN')} frame announces body_len "
                                 f"{body_len}, above the limit {self.max_body}")
        if avail - HEADER_SIZE < body_len:
            self._compact()
            return None
        start = self._pos + HEADER_SIZE
        body = bytes(self._buf[start:start + body_len])
        self._pos = start + body_len
        return FrameHeader(body_len, opcode, flags, reserved, rid), body

    def _compact(self) -> None:
        if self._pos:
            del self._buf[:self._pos]
            self._pos = 0
