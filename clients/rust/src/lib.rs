//! Client for sidewald, the sidewal write-ahead-log daemon, speaking protocol
//! v1 (docs/protocol.md) over its Unix socket. Standard library only.
//!
//! ```
//! # include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/mod.rs"));
//! # fn main() -> Result<(), sidewal::Error> {
//! # let daemon = TestDaemon::start();
//! # let socket_path = daemon.socket();
//! use sidewal::{AppendRecord, Client, ReadOptions};
//!
//! let mut client = Client::connect(&socket_path)?; // HELLO, learns the limits
//! let lsn = client.append_one(1, 7, b"first")?; // durable when it returns
//! let ack = client.append(&[AppendRecord::new(1, 7, b"second"), AppendRecord::new(1, 7, b"third")])?;
//! assert_eq!(ack.first_lsn, lsn + 1); // one atomic batch, contiguous LSNs
//!
//! let read = client.read(lsn, &ReadOptions::default())?;
//! assert_eq!(read.records.len(), 3);
//! assert_eq!(read.records[2].payload, b"third");
//! assert_eq!(read.next_lsn, lsn + 3);
//! # Ok(()) }
//! ```
//!
//! Errors are [`Error`] values; [`Error::code`] gives the protocol's code for
//! the daemon's ERROR replies and for APPENDs the client refuses because the
//! daemon would ([`Error::Refused`]):
//!
//! ```
//! # include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/mod.rs"));
//! # fn main() -> Result<(), sidewal::Error> {
//! # let daemon = TestDaemon::start();
//! use sidewal::{Client, Error, ErrorCode, ReadOptions};
//!
//! let mut client = Client::connect(daemon.socket())?;
//! // Type 0x9000 belongs to the log and is not a control record.
//! match client.append_one(0x9000, 1, b"x") {
//!     Err(e) => assert_eq!(e.code(), Some(ErrorCode::ReservedRecordType)),
//!     Ok(lsn) => panic!("appended at {}", lsn),
//! }
//! // A payload above max_record_bytes never leaves the client.
//! let big = vec![0u8; client.limits().max_record_bytes as usize + 1];
//! assert!(matches!(client.append_one(1, 1, &big),
//!                  Err(Error::Refused { code: ErrorCode::RecordTooLarge, .. })));
//! // The connection stays usable after both.
//! assert_eq!(client.read(1, &ReadOptions::default())?.records.len(), 0);
//! # Ok(()) }
//! ```
//!
//! Pipelining: [`Client::send_append`] sends without waiting and
//! [`Client::next_ack`] collects ACKs in send order; one fdatasync of the
//! daemon then acknowledges every APPEND that arrived meanwhile.
//!
//! ```
//! # include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/mod.rs"));
//! # fn main() -> Result<(), sidewal::Error> {
//! # let daemon = TestDaemon::start();
//! use sidewal::{AppendRecord, Client};
//!
//! let mut client = Client::connect(daemon.socket())?;
//! let mut last_lsn = 0;
//! for i in 0..1000u32 {
//!     if client.appends_in_flight() == 16 {
//!         let (_id, ack) = client.next_ack().expect("one in flight");
//!         last_lsn = ack?.first_lsn;
//!     }
//!     client.send_append(&[AppendRecord::new(1, 0, &i.to_le_bytes())])?;
//! }
//! while let Some((_id, ack)) = client.next_ack() {
//!     let lsn = ack?.first_lsn;
//!     assert_eq!(lsn, last_lsn + 1); // in order
//!     last_lsn = lsn;
//! }
//! assert_eq!(last_lsn, 1000);
//! # Ok(()) }
//! ```
//!
//! Following the log (a second connection appends meanwhile):
//!
//! ```
//! # include!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/mod.rs"));
//! # fn main() -> Result<(), sidewal::Error> {
//! # let daemon = TestDaemon::start();
//! use sidewal::{Client, FollowEvent, ReadOptions};
//!
//! let mut reader = Client::connect(daemon.socket())?;
//! let mut writer = Client::connect(daemon.socket())?;
//! let mut follow = reader.follow(1, &ReadOptions::default())?;
//! writer.append_one(1, 0, b"news")?;
//! match follow.recv()? {
//!     FollowEvent::Records(records) => assert_eq!(records[0].payload, b"news"),
//!     FollowEvent::End { .. } => panic!("ended early"),
//! }
//! assert_eq!(follow.finish()?, 2); // CANCEL, then END with the LSN to resume from
//! # Ok(()) }
//! ```

mod client;
mod error;
pub mod wire;

pub use client::{Client, ClientOptions, Follow, FollowEvent, Limits, LimitsSource, ReadOptions, ReadResult};
pub use error::{Error, ErrorCode, Result};
pub use wire::{Ack, AppendRecord, DaemonState, HelloOk, LogStatus, Record};
