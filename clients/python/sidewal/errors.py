"""Exceptions of the sidewal client.

Every error the daemon sends (an ERROR frame, docs/protocol.md "0xFF ERROR")
is raised as a :class:`DaemonError` subclass whose ``code`` is the protocol's
error code, so a caller can catch a class (``except LsnTruncated``) or test
``err.code``. Codes this version does not know are raised as plain
:class:`DaemonError` with their code. Errors of the client side carry
``code = None``, except a batch the client refuses before sending because it
is over the daemon's limits: :class:`RecordTooLarge` with ``local = True``,
the same code the daemon would answer.
"""

from __future__ import annotations

from typing import Optional

# docs/protocol.md, error code table.
MALFORMED = 1
FRAME_TOO_LARGE = 2
UNKNOWN_OPCODE = 3
UNSUPPORTED_VERSION = 4
NOT_READY = 5
IO_FAILED = 6
NO_SPACE = 7
LSN_TRUNCATED = 8
UNAUTHORIZED = 9
RECORD_TOO_LARGE = 10
RESERVED_RECORD_TYPE = 11

ERROR_NAMES = {
    MALFORMED: "MALFORMED",
    FRAME_TOO_LARGE: "FRAME_TOO_LARGE",
    UNKNOWN_OPCODE: "UNKNOWN_OPCODE",
    UNSUPPORTED_VERSION: "UNSUPPORTED_VERSION",
    NOT_READY: "NOT_READY",
    IO_FAILED: "IO_FAILED",
    NO_SPACE: "NO_SPACE",
    LSN_TRUNCATED: "LSN_TRUNCATED",
    UNAUTHORIZED: "UNAUTHORIZED",
    RECORD_TOO_LARGE: "RECORD_TOO_LARGE",
    RESERVED_RECORD_TYPE: "RESERVED_RECORD_TYPE",
}


def error_name(code: int) -> Optional[str]:
    """The protocol name of an error code, or None for a code v1 does not define."""
    return ERROR_NAMES.get(code)


class SidewalError(Exception):
    """Base of every exception this package raises. ``code`` is the protocol
    error code, or None for an error of the client side."""

    code: Optional[int] = None


class DaemonError(SidewalError):
    """The daemon answered a request with ERROR ``code``.

    ``request_id`` is the request's id (0 for the unprompted UNAUTHORIZED);
    ``local`` is True when the client refused the request itself, before
    sending it, with the code the daemon would have answered.
    """

    def __init__(self, code: int, message: str, request_id: int = 0, local: bool = False):
        self.code = code
        self.name = error_name(code)
        self.message = message
        self.request_id = request_id
        self.local = local
        super().__init__(f"{self.name or 'UNKNOWN_ERROR'} ({code}): {message}")


class Malformed(DaemonError):
    """MALFORMED: the request does not match its layout (a bug of the caller or the client)."""


class FrameTooLarge(DaemonError):
    """FRAME_TOO_LARGE: the daemon closed the connection after this reply."""


class UnknownOpcode(DaemonError):
    """UNKNOWN_OPCODE."""


class UnsupportedVersion(DaemonError):
    """UNSUPPORTED_VERSION: the daemon does not speak protocol v1."""


class NotReady(DaemonError):
    """NOT_READY: the daemon is recovering the log; retry later."""


class IoFailed(DaemonError):
    """IO_FAILED: the log is fail-stopped, or this request's I/O failed."""


class NoSpace(DaemonError):
    """NO_SPACE: the disk is full; the APPEND was not made durable."""


class LsnTruncated(DaemonError):
    """LSN_TRUNCATED: the READ's next LSN is below the first LSN in the log."""


class Unauthorized(DaemonError):
    """UNAUTHORIZED: this process's UID is not on the daemon's allow-list."""


class RecordTooLarge(DaemonError):
    """RECORD_TOO_LARGE: a payload or the batch is over the daemon's limits; split it."""


class ReservedRecordType(DaemonError):
    """RESERVED_RECORD_TYPE: record types 0x8000 and up belong to the log."""


_BY_CODE = {
    MALFORMED: Malformed,
    FRAME_TOO_LARGE: FrameTooLarge,
    UNKNOWN_OPCODE: UnknownOpcode,
    UNSUPPORTED_VERSION: UnsupportedVersion,
    NOT_READY: NotReady,
    IO_FAILED: IoFailed,
    NO_SPACE: NoSpace,
    LSN_TRUNCATED: LsnTruncated,
    UNAUTHORIZED: Unauthorized,
    RECORD_TOO_LARGE: RecordTooLarge,
    RESERVED_RECORD_TYPE: ReservedRecordType,
}


def daemon_error(code: int, message: str, request_id: int = 0, local: bool = False) -> DaemonError:
    """The exception for ERROR ``code``: its class, or DaemonError for an unknown code."""
    return _BY_CODE.get(code, DaemonError)(code, message, request_id, local)


class ConnectionClosed(SidewalError):
    """The connection broke (or was closed) before the reply arrived.

    For an APPEND this means the client cannot know whether it became
    durable: do not resend it blindly; READ from the last acknowledged LSN to
    find out (docs/protocol.md "Lost connections")."""


class ProtocolViolation(SidewalError):
    """The daemon sent bytes that are not a valid v1 reply; the connection is closed."""


class MalformedFrame(ProtocolViolation):
    """A frame body does not match its opcode's layout (raised by the codec's decoders)."""
