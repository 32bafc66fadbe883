//! Errors of the client: the daemon's ERROR replies with their protocol code,
//! and the client's own (connection lost, protocol violation, bad argument).

use std::fmt;
use std::io;

pub use crate::wire::ErrorCode;

/// Every failure a [`crate::Client`] call can return.
#[derive(Debug)]
pub enum Error {
    /// The daemon answered ERROR. `code` is the protocol's code (codes this
    /// crate does not know are `ErrorCode::Other`). The connection stays
    /// usable, except after `FrameTooLarge` and the unprompted `Unauthorized`.
    Daemon { code: ErrorCode, message: String },
    /// Refused by the client before anything was sent, because the daemon
    /// would refuse it with `code` (RECORD_TOO_LARGE or FRAME_TOO_LARGE) under
    /// the limits it advertised. Nothing was written; split the batch.
    Refused { code: ErrorCode, message: String },
    /// The connection is gone (or broke while this request was in flight).
    /// An APPEND that ends this way may or may not be durable: never resend
    /// it blindly, READ from the last acknowledged LSN to find out.
    Closed { reason: String },
    /// The daemon sent something docs/protocol.md does not allow; the
    /// connection is closed.
    Protocol(String),
    /// Connecting or talking to the socket failed.
    Io(io::Error),
    /// No reply within the client's io_timeout. The request is still in
    /// flight; the connection stays usable.
    Timeout,
    /// A call the client refuses on its own (from_lsn 0 is left to the daemon).
    InvalidArgument(String),
}

impl Error {
    /// The protocol error code: the daemon's, or the one a local refusal
    /// stands for. None for connection, protocol and argument errors.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Daemon { code, .. } | Error::Refused { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// True for errors after which the connection cannot be used again.
    pub fn is_fatal(&self) -> bool {
        match self {
            Error::Closed { .. } | Error::Protocol(_) | Error::Io(_) => true,
            Error::Daemon { code, .. } => matches!(code, ErrorCode::FrameTooLarge | ErrorCode::Unauthorized),
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Daemon { code, message } => write!(f, "daemon error {}: {}", code, message),
            Error::Refused { code, message } => write!(f, "refused by the client ({}): {}", code, message),
            Error::Closed { reason } => write!(f, "connection closed: {}", reason),
            Error::Protocol(m) => write!(f, "protocol violation: {}", m),
            Error::Io(e) => write!(f, "i/o error: {}", e),
            Error::Timeout => write!(f, "timed out waiting for the daemon"),
            Error::InvalidArgument(m) => write!(f, "invalid argument: {}", m),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(e)
    }
}

pub type Result<T> = std::result::Result<T, Error>;
