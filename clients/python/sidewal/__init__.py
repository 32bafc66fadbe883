"""sidewal: a client for the sidewal write-ahead-log daemon (protocol v1).

Standard library only (Python 3.11). :class:`Client` is blocking,
:class:`AsyncClient` its asyncio twin with the same operations; both speak
docs/protocol.md directly over the daemon's Unix socket. Errors are
exceptions: :class:`DaemonError` subclasses carry the protocol's ``code``.
"""

from .aio import AsyncClient, AsyncReader
from .client import AppendFuture, Client, Pipeline, Reader, ReadResult, ServerLimits
from .errors import (ConnectionClosed, DaemonError, FrameTooLarge, IoFailed, LsnTruncated, Malformed,
                     MalformedFrame, NoSpace, NotReady, ProtocolViolation, RecordTooLarge, ReservedRecordType,
                     SidewalError, Unauthorized, UnknownOpcode, UnsupportedVersion)
from .protocol import Ack, HelloOk, Limits, ReadRecord, Record, StatusReply

__version__ = "0.1.0"

__all__ = [
    "Client", "AsyncClient", "AsyncReader", "AppendFuture", "Pipeline", "Reader", "ReadResult", "ServerLimits",
    "Ack", "HelloOk", "Limits", "ReadRecord", "Record", "StatusReply",
    "SidewalError", "DaemonError", "ConnectionClosed", "ProtocolViolation", "MalformedFrame",
    "Malformed", "FrameTooLarge", "UnknownOpcode", "UnsupportedVersion", "NotReady", "IoFailed", "NoSpace",
    "LsnTruncated", "Unauthorized", "RecordTooLarge", "ReservedRecordType",
]
