//! A blocking, pipelining client on one Unix socket connection.
//!
//! One `Client` is one connection, used from one thread at a time (it is
//! `Send`; open one per thread for parallelism). There is no reader thread:
//! replies are read when a call waits for one, and every frame read on the
//! way is filed under its request id, so pipelined APPENDs complete in the
//! order they were sent whatever the caller waits for first.
//!
//! Backpressure: [`Client::send_append`] first reads replies when the
//! requests in flight would pass `ClientOptions::max_in_flight` or
//! `max_in_flight_bytes`. Because the client never writes while replies it
//! does not read could fill the socket (those bounds keep the replies of what
//! is in flight within the kernel's buffer), it cannot deadlock against the
//! daemon's own backpressure (docs/protocol.md "Ordering and pipelining").

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::os::raw::{c_int, c_short, c_ulong};
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorCode, Result};
use crate::wire::{self, Ack, AppendRecord, FrameHeader, HelloOk, LogStatus, ReadRequest, Record, Reply};

/// How a [`Client`] connects and how much it keeps in flight.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Sent in HELLO, for the daemon's logs.
    pub name: String,
    /// Connecting retries (socket missing or refusing, daemon answering
    /// NOT_READY while it recovers the log) for this long; HELLO_OK is
    /// waited for this long too, but at least one second.
    pub connect_timeout: Duration,
    /// Longest wait for the daemon's next bytes while a call waits for a
    /// reply; then the call returns `Error::Timeout` and the request stays in
    /// flight. None: wait as long as it takes (the default).
    pub io_timeout: Option<Duration>,
    /// Pipelined requests in flight before `send_append` waits for the oldest.
    pub max_in_flight: usize,
    /// Request bytes in flight before `send_append` waits for the oldest.
    pub max_in_flight_bytes: usize,
    /// Refuse APPENDs the daemon would refuse for their size, before sending
    /// (`Error::Refused`). Off only to test the daemon's own checks.
    pub check_limits: bool,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            name: "sidewal-rust".to_string(),
            connect_timeout: Duration::from_secs(5),
            io_timeout: None,
            max_in_flight: 1024,
            max_in_flight_bytes: 8 << 20,
            check_limits: true,
        }
    }
}

/// Where the limits in force came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitsSource {
    /// HELLO_OK carried the limits block.
    Advertised,
    /// A daemon that predates the block (it refused the LIMITS flag): its
    /// max_record_bytes, the default frame limit, no batch check here.
    OlderDaemon,
}

/// The limits the client enforces on its connection (docs/protocol.md "Limits").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub source: LimitsSource,
    /// Largest APPEND body_len.
    pub max_frame_body: u32,
    /// Largest payload of one record.
    pub max_record_bytes: u32,
    /// Largest encoded_batch_bytes of one APPEND; None: left to the daemon.
    pub max_batch_bytes: Option<u64>,
    /// The per-record term of encoded_batch_bytes (16 when encrypting).
    pub record_extra_bytes: u32,
    /// Largest reply body accepted; a bigger one is a protocol violation.
    pub max_reply_body: u32,
}

impl Limits {
    /// The limits a daemon with the defaults of docs/protocol.md "Limits"
    /// advertises.
    pub fn defaults() -> Limits {
        Limits {
            source: LimitsSource::Advertised,
            max_frame_body: wire::DEFAULT_MAX_FRAME_BODY,
            max_record_bytes: wire::DEFAULT_MAX_RECORD_BYTES,
            max_batch_bytes: Some(wire::DEFAULT_MAX_BATCH_BYTES),
            record_extra_bytes: 0,
            max_reply_body: wire::max_reply_body(wire::DEFAULT_MAX_RECORD_BYTES),
        }
    }

    /// Ok when a daemon with these limits accepts the APPEND for its size;
    /// else `Error::Refused` with the code it would answer, checked in the
    /// daemon's order: the frame (FRAME_TOO_LARGE), each payload, the batch
    /// (both RECORD_TOO_LARGE).
    pub fn check_append(&self, records: &[AppendRecord<'_>]) -> Result<()> {
        let body = wire::append_body_len(records);
        if body > u64::from(self.max_frame_body) {
            return Err(Error::Refused {
                code: ErrorCode::FrameTooLarge,
                message: format!("APPEND body of {} bytes; max_frame_body is {}", body, self.max_frame_body),
            });
        }
        for (i, r) in records.iter().enumerate() {
            if r.payload.len() as u64 > u64::from(self.max_record_bytes) {
                return Err(Error::Refused {
                    code: ErrorCode::RecordTooLarge,
                    message: format!(
                        "record {} has a {}-byte payload; max_record_bytes is {}",
                        i,
                        r.payload.len(),
                        self.max_record_bytes
                    ),
                });
            }
        }
        if let Some(max) = self.max_batch_bytes {
            let encoded = wire::encoded_batch_bytes(records, self.record_extra_bytes);
            if encoded > max {
                return Err(Error::Refused {
                    code: ErrorCode::RecordTooLarge,
                    message: format!("APPEND encodes to {} bytes; max_batch_bytes is {}", encoded, max),
                });
            }
        }
        Ok(())
    }
}

/// A READ's limits and flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Records in total; 0 = no limit.
    pub max_records: u32,
    /// Payload bytes in total (the record crossing it is still sent); 0 = the
    /// daemon's default (16 MiB for a plain READ, no limit when following).
    pub max_bytes: u32,
    /// Omit application records dead by collection tombstone (READ flag 0x01).
    pub skip_dead: bool,
    /// Records without payload bytes; `payload_len` keeps the stored length
    /// (READ flag 0x02).
    pub header_only: bool,
}

impl ReadOptions {
    fn request(&self, from_lsn: u64, follow: bool) -> ReadRequest {
        let mut flags = 0;
        if self.skip_dead {
            flags |= wire::READ_SKIP_DEAD;
        }
        if self.header_only {
            flags |= wire::READ_HEADER_ONLY;
        }
        ReadRequest { from_lsn, max_records: self.max_records, max_bytes: self.max_bytes, follow, flags }
    }
}

/// What one plain READ returned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadResult {
    pub records: Vec<Record>,
    /// Resume a later READ here.
    pub next_lsn: u64,
}

/// An event of a follow READ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FollowEvent {
    /// One RECORDS frame's records, in LSN order.
    Records(Vec<Record>),
    /// The READ ended (after CANCEL, a limit, or the daemon shutting down).
    End { next_lsn: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Hello,
    Append,
    Status,
    Truncate,
}

// One request answered by a single frame.
struct Slot {
    id: u64,
    kind: Kind,
    bytes: usize,
    // The caller gave up waiting (timeout): drop the reply when it comes.
    abandoned: bool,
    result: Option<Result<Reply>>,
}

// A READ in progress: frames queued until the caller takes them.
#[derive(Default)]
struct ReadState {
    frames: VecDeque<Vec<Record>>,
    end: Option<Result<u64>>,
}

// Why the connection is unusable.
#[derive(Clone)]
struct Broken {
    // The unprompted ERROR that ended it (UNAUTHORIZED), if any.
    daemon: Option<(ErrorCode, String)>,
    // The daemon broke the protocol (reason says how).
    violation: bool,
    reason: String,
}

impl Broken {
    fn error(&self) -> Error {
        match &self.daemon {
            Some((code, message)) => Error::Daemon { code: *code, message: message.clone() },
            None if self.violation => Error::Protocol(self.reason.clone()),
            None => Error::Closed { reason: self.reason.clone() },
        }
    }
}

/// A connection to sidewald. See the crate documentation for an example.
pub struct Client {
    stream: UnixStream,
    options: ClientOptions,
    socket_path: PathBuf,
    next_id: u64,
    hello: HelloOk,
    limits: Limits,
    // Reply bytes buffered in rbuf[rstart..rend].
    rbuf: Vec<u8>,
    rstart: usize,
    rend: usize,
    // One-shot requests in flight, in send order (ids increase).
    slots: VecDeque<Slot>,
    in_flight_bytes: usize,
    reads: HashMap<u64, ReadState>,
    // READs whose Follow was dropped: frames dropped until END or ERROR.
    discard: HashSet<u64>,
    broken: Option<Broken>,
}

const READ_CHUNK: usize = 256 << 10;

impl Client {
    /// Connects with the default options (see [`Client::connect_with`]).
    pub fn connect<P: AsRef<Path>>(socket_path: P) -> Result<Client> {
        Client::connect_with(socket_path, ClientOptions::default())
    }

    /// Connects and sends HELLO with the LIMITS flag, waiting for HELLO_OK;
    /// from then on the daemon's advertised limits are enforced. A daemon
    /// that predates the flag (MALFORMED) is asked again without it. Retries
    /// for `connect_timeout` while the socket is missing or refuses and while
    /// the daemon answers NOT_READY (then that error is returned).
    pub fn connect_with<P: AsRef<Path>>(socket_path: P, options: ClientOptions) -> Result<Client> {
        let path = socket_path.as_ref().to_path_buf();
        let deadline = Instant::now() + options.connect_timeout;
        let mut backoff = Duration::from_millis(2);
        loop {
            match Client::try_connect(&path, &options) {
                Ok(client) => return Ok(client),
                Err(e) => {
                    let retry = match &e {
                        Error::Io(io) => matches!(io.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused),
                        Error::Daemon { code, .. } => *code == ErrorCode::NotReady,
                        _ => false,
                    };
                    if !retry || Instant::now() + backoff > deadline {
                        return Err(e);
                    }
                    thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_millis(100));
                }
            }
        }
    }

    fn try_connect(path: &Path, options: &ClientOptions) -> Result<Client> {
        let stream = UnixStream::connect(path)?;
        let limits = Limits {
            source: LimitsSource::OlderDaemon,
            max_frame_body: wire::DEFAULT_MAX_FRAME_BODY,
            max_record_bytes: wire::DEFAULT_MAX_RECORD_BYTES,
            max_batch_bytes: None,
            record_extra_bytes: 0,
            // Until HELLO_OK says otherwise: the largest a v1 daemon's
            // max_record_bytes (16 MiB) allows.
            max_reply_body: wire::max_reply_body(16 << 20),
        };
        let mut client = Client {
            stream,
            options: options.clone(),
            socket_path: path.to_path_buf(),
            next_id: 1,
            hello: HelloOk { version: 0, max_record_bytes: 0, first_lsn: 0, durable_lsn: 0, limits: None },
            limits,
            rbuf: vec![0; READ_CHUNK],
            rstart: 0,
            rend: 0,
            slots: VecDeque::new(),
            in_flight_bytes: 0,
            reads: HashMap::new(),
            discard: HashSet::new(),
            broken: None,
        };
        client.stream.set_write_timeout(options.io_timeout)?;
        // HELLO_OK is waited for up to connect_timeout, but at least a second
        // (a loaded machine may take that long to schedule the daemon).
        let saved = client.options.io_timeout;
        client.options.io_timeout = Some(options.connect_timeout.max(Duration::from_secs(1)));
        let hello = client.hello_exchange(&options.name);
        client.options.io_timeout = saved;
        let hello = hello?;
        client.hello = hello;
        client.limits = match hello.limits {
            Some(block) => Limits {
                source: LimitsSource::Advertised,
                max_frame_body: block.max_frame_body,
                max_record_bytes: hello.max_record_bytes,
                max_batch_bytes: Some(block.max_batch_bytes),
                record_extra_bytes: block.record_extra_bytes,
                max_reply_body: block.max_reply_body,
            },
            None => Limits {
                source: LimitsSource::OlderDaemon,
                max_record_bytes: hello.max_record_bytes,
                max_reply_body: wire::max_reply_body(hello.max_record_bytes),
                ..client.limits
            },
        };
        Ok(client)
    }

    fn hello_exchange(&mut self, name: &str) -> Result<HelloOk> {
        let id = self.take_id();
        let frame = wire::encode_hello(id, wire::HELLO_LIMITS, wire::VERSION, name.as_bytes());
        let reply = match self.request(id, Kind::Hello, frame) {
            Err(Error::Daemon { code: ErrorCode::Malformed, .. }) => {
                // A daemon from before the LIMITS flag: ask without it.
                let id = self.take_id();
                let frame = wire::encode_hello(id, 0, wire::VERSION, name.as_bytes());
                self.request(id, Kind::Hello, frame)?
            }
            other => other?,
        };
        let hello = match reply {
            Reply::HelloOk(h) => h,
            _ => unreachable!("checked by dispatch"),
        };
        if hello.version != wire::VERSION {
            return Err(Error::Protocol(format!("HELLO_OK with version {}", hello.version)));
        }
        Ok(hello)
    }

    /// The limits in force on this connection.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The daemon's HELLO_OK at connect (first and durable LSN then).
    pub fn hello_reply(&self) -> &HelloOk {
        &self.hello
    }

    /// Changes `ClientOptions::io_timeout` for the calls that follow.
    pub fn set_io_timeout(&mut self, timeout: Option<Duration>) {
        self.options.io_timeout = timeout;
    }

    /// The socket this client connected to.
    pub fn socket_path(&self) -> &Path {
        &self.socket_path
    }

    // ---- APPEND.

    /// Appends `records` atomically (one APPEND) and waits until they are
    /// durable. Record i gets LSN `ack.first_lsn + i`.
    pub fn append(&mut self, records: &[AppendRecord<'_>]) -> Result<Ack> {
        let id = self.send_append(records)?;
        self.wait_ack(id)
    }

    /// Appends one record and returns its LSN once it is durable.
    pub fn append_one(&mut self, record_type: u16, tenant: u32, payload: &[u8]) -> Result<u64> {
        self.append(&[AppendRecord::new(record_type, tenant, payload)]).map(|ack| ack.first_lsn)
    }

    /// Sends one APPEND without waiting for its ACK and returns its request
    /// id. Collect the ACKs in send order with [`Client::next_ack`] or one by
    /// id with [`Client::wait_ack`]. Waits for the oldest first when the
    /// in-flight bounds of [`ClientOptions`] are reached. An APPEND the daemon
    /// would refuse for its size is refused here (`Error::Refused`).
    pub fn send_append(&mut self, records: &[AppendRecord<'_>]) -> Result<u64> {
        self.check_append(records)?;
        let id = self.take_id();
        let mut frame = Vec::with_capacity(wire::HEADER_SIZE + wire::append_body_len(records) as usize);
        wire::encode_append_into(id, records, &mut frame);
        self.make_room(frame.len())?;
        self.send_slot(id, Kind::Append, frame)?;
        Ok(id)
    }

    fn check_append(&self, records: &[AppendRecord<'_>]) -> Result<()> {
        if let Some(b) = &self.broken {
            return Err(b.error());
        }
        let body = wire::append_body_len(records);
        if body > u64::from(u32::MAX) {
            return Err(Error::InvalidArgument(format!("APPEND body of {} bytes", body)));
        }
        if self.options.check_limits {
            self.limits.check_append(records)?;
        }
        Ok(())
    }

    /// Waits for the oldest APPEND still in flight and returns its request id
    /// and outcome: ACKs come back in the order the APPENDs were sent. None
    /// when no APPEND is in flight.
    pub fn next_ack(&mut self) -> Option<(u64, Result<Ack>)> {
        let id = self.slots.iter().find(|s| s.kind == Kind::Append && !s.abandoned)?.id;
        Some((id, self.wait_ack(id)))
    }

    /// Waits for the ACK of the APPEND `id` (from [`Client::send_append`]).
    pub fn wait_ack(&mut self, id: u64) -> Result<Ack> {
        match self.wait_slot(id, Kind::Append)? {
            Reply::Ack(ack) => Ok(ack),
            _ => unreachable!("checked by dispatch"),
        }
    }

    /// APPENDs sent and not yet collected.
    pub fn appends_in_flight(&self) -> usize {
        self.slots.iter().filter(|s| s.kind == Kind::Append && !s.abandoned).count()
    }

    // ---- READ.

    /// One READ of durable records from `from_lsn` (>= 1). It stops at
    /// `max_records`, at `max_bytes` of payload, or at the durable end of the
    /// log. Read everything by calling again from `next_lsn` until no
    /// records come back. A READ that ends in ERROR returns that error (the
    /// records already received are dropped; read again from the last LSN
    /// you have).
    pub fn read(&mut self, from_lsn: u64, options: &ReadOptions) -> Result<ReadResult> {
        let id = self.start_read(options.request(from_lsn, false))?;
        let mut records = Vec::new();
        loop {
            let state = self.reads.get_mut(&id).expect("read state");
            while let Some(frame) = state.frames.pop_front() {
                records.extend(frame);
            }
            if let Some(end) = state.end.take() {
                self.reads.remove(&id);
                let next_lsn = end?;
                return Ok(ReadResult { records, next_lsn });
            }
            if let Err(e) = self.pump() {
                // Timeout: the READ stays in flight; drop what it still sends.
                self.reads.remove(&id);
                self.discard.insert(id);
                return Err(e);
            }
        }
    }

    /// Starts a follow READ from `from_lsn`: durable records now, then new
    /// ones as they become durable, until [`Follow::cancel`] (or a limit in
    /// `options`). The client is borrowed while it lasts; append on another
    /// Client. Dropping the Follow cancels it.
    pub fn follow(&mut self, from_lsn: u64, options: &ReadOptions) -> Result<Follow<'_>> {
        let id = self.start_read(options.request(from_lsn, true))?;
        Ok(Follow { client: self, id, next_lsn: from_lsn, cancelled: false, ended: false })
    }

    fn start_read(&mut self, request: ReadRequest) -> Result<u64> {
        if let Some(b) = &self.broken {
            return Err(b.error());
        }
        let id = self.take_id();
        self.reads.insert(id, ReadState::default());
        if let Err(e) = self.write_frame(&wire::encode_read(id, &request)) {
            self.reads.remove(&id);
            return Err(e);
        }
        Ok(id)
    }

    // ---- STATUS and TRUNCATE.

    /// The log's bounds and the daemon's state. Answered while the daemon
    /// still recovers (state Recovering).
    pub fn status(&mut self) -> Result<LogStatus> {
        let id = self.take_id();
        match self.request(id, Kind::Status, wire::encode_status(id))? {
            Reply::StatusOk(s) => Ok(s),
            _ => unreachable!("checked by dispatch"),
        }
    }

    /// Tells the daemon records below `before_lsn` are no longer needed; it
    /// deletes whole segments holding only such records. Returns the first
    /// LSN still in the log.
    pub fn truncate(&mut self, before_lsn: u64) -> Result<u64> {
        let id = self.take_id();
        match self.request(id, Kind::Truncate, wire::encode_truncate(id, before_lsn))? {
            Reply::Ok { first_lsn } => Ok(first_lsn),
            _ => unreachable!("checked by dispatch"),
        }
    }

    // ---- Plumbing.

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    // Sends a one-shot request and waits for its reply. The outer Result is
    // the request's outcome; the Reply's kind matches `kind`.
    fn request(&mut self, id: u64, kind: Kind, frame: Vec<u8>) -> Result<Reply> {
        if let Some(b) = &self.broken {
            return Err(b.error());
        }
        self.send_slot(id, kind, frame)?;
        self.wait_slot(id, kind)
    }

    fn make_room(&mut self, bytes: usize) -> Result<()> {
        loop {
            if let Some(b) = &self.broken {
                return Err(b.error());
            }
            // Requests whose reply has not arrived (a reply read but not yet
            // collected no longer counts).
            let outstanding = self.slots.iter().filter(|s| s.result.is_none()).count();
            if outstanding == 0
                || (outstanding < self.options.max_in_flight.max(1)
                    && self.in_flight_bytes + bytes <= self.options.max_in_flight_bytes)
            {
                return Ok(());
            }
            self.pump()?;
        }
    }

    fn send_slot(&mut self, id: u64, kind: Kind, frame: Vec<u8>) -> Result<()> {
        self.slots.push_back(Slot { id, kind, bytes: frame.len(), abandoned: false, result: None });
        self.in_flight_bytes += frame.len();
        let sent = self.write_frame(&frame);
        if sent.is_err() && self.slots.back().map(|s| s.id) == Some(id) {
            // Never sent: the caller gets the error, not a slot to collect.
            self.slots.pop_back();
        }
        sent
    }

    fn slot_index(&self, id: u64) -> Option<usize> {
        self.slots.binary_search_by_key(&id, |s| s.id).ok()
    }

    fn wait_slot(&mut self, id: u64, kind: Kind) -> Result<Reply> {
        loop {
            let i = match self.slot_index(id) {
                Some(i) if self.slots[i].kind == kind && !self.slots[i].abandoned => i,
                _ => return Err(Error::InvalidArgument(format!("no {:?} request {} in flight", kind, id))),
            };
            if self.slots[i].result.is_some() {
                let slot = self.slots.remove(i).expect("slot");
                return slot.result.expect("result");
            }
            if let Err(e) = self.pump() {
                if let Some(i) = self.slot_index(id) {
                    self.slots[i].abandoned = true;
                }
                return Err(e);
            }
        }
    }

    fn write_frame(&mut self, frame: &[u8]) -> Result<()> {
        if let Some(b) = &self.broken {
            return Err(b.error());
        }
        match self.stream.write_all(frame) {
            Ok(()) => Ok(()),
            Err(e) => {
                // The daemon may have said why before closing (UNAUTHORIZED).
                let reason = format!("write failed: {}", e);
                self.salvage_replies();
                if self.broken.is_none() {
                    self.fail(Broken { daemon: None, violation: false, reason });
                }
                Err(self.broken.as_ref().expect("broken").error())
            }
        }
    }

    // After a failed write: reads what the daemon sent before it closed.
    fn salvage_replies(&mut self) {
        while self.broken.is_none() {
            if self.pump_with(Some(Duration::from_millis(200))).is_err() {
                break;
            }
        }
    }

    // Reads once from the socket (waiting up to io_timeout) and files every
    // whole frame now buffered. Err(Timeout) when nothing came in time; a
    // broken connection is recorded in self.broken (and every waiting
    // request completed with it), not returned.
    fn pump(&mut self) -> Result<()> {
        let t = self.options.io_timeout;
        self.pump_with(t)
    }

    fn pump_with(&mut self, timeout: Option<Duration>) -> Result<()> {
        if let Some(b) = &self.broken {
            return Err(b.error());
        }
        // Wait in poll(2), never inside read(): a thread blocked in read() on
        // a Unix stream socket is also woken each time the daemon reads one
        // of our requests (the kernel wakes the sending socket's waiters when
        // it frees the bytes), a second wake-up per one-at-a-time commit.
        match wait_readable(self.stream.as_raw_fd(), timeout) {
            Ok(true) => {}
            Ok(false) => return Err(Error::Timeout),
            Err(e) if e.kind() == ErrorKind::Interrupted => return Ok(()),
            Err(e) => {
                self.fail(Broken { daemon: None, violation: false, reason: format!("poll failed: {}", e) });
                return Ok(());
            }
        }
        self.reserve_read_space();
        match self.stream.read(&mut self.rbuf[self.rend..]) {
            Ok(0) => {
                self.fail(Broken { daemon: None, violation: false, reason: "the daemon closed the connection".to_string() });
                Ok(())
            }
            Ok(n) => {
                self.rend += n;
                self.parse_frames();
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(()),
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => Err(Error::Timeout),
            Err(e) => {
                self.fail(Broken { daemon: None, violation: false, reason: format!("read failed: {}", e) });
                Ok(())
            }
        }
    }

    // Makes room after rend for the rest of the frame being received (or a
    // chunk), moving the buffered bytes to the front first.
    fn reserve_read_space(&mut self) {
        let buffered = self.rend - self.rstart;
        let mut want = buffered + READ_CHUNK;
        if let Some(h) = FrameHeader::decode(&self.rbuf[self.rstart..self.rend]) {
            // parse_frames refused a body above max_reply_body already.
            let frame = wire::HEADER_SIZE + h.body_len.min(self.limits.max_reply_body) as usize;
            want = want.max(frame);
        }
        if self.rbuf.len() - self.rstart < want || self.rbuf.len() - self.rend < READ_CHUNK / 4 {
            self.rbuf.copy_within(self.rstart..self.rend, 0);
            self.rstart = 0;
            self.rend = buffered;
        }
        if self.rbuf.len() < want {
            self.rbuf.resize(want, 0);
        }
    }

    fn parse_frames(&mut self) {
        while self.broken.is_none() {
            let header = match FrameHeader::decode(&self.rbuf[self.rstart..self.rend]) {
                Some(h) => h,
                None => return,
            };
            if header.body_len > self.limits.max_reply_body {
                let reason = format!(
                    "reply body_len {} is above max_reply_body {}",
                    header.body_len, self.limits.max_reply_body
                );
                self.violation(reason);
                return;
            }
            let end = self.rstart + wire::HEADER_SIZE + header.body_len as usize;
            if end > self.rend {
                return;
            }
            let decoded = wire::decode_reply(&header, &self.rbuf[self.rstart + wire::HEADER_SIZE..end]);
            self.rstart = end;
            if self.rstart == self.rend {
                self.rstart = 0;
                self.rend = 0;
            }
            match decoded {
                Ok(reply) => self.dispatch(header, reply),
                Err(m) => self.violation(m),
            }
        }
    }

    // Files one reply under its request.
    fn dispatch(&mut self, header: FrameHeader, reply: Reply) {
        let id = header.request_id;
        if self.discard.contains(&id) {
            if matches!(reply, Reply::End { .. } | Reply::Error { .. }) {
                self.discard.remove(&id);
            }
            return;
        }
        if let Some(state) = self.reads.get_mut(&id) {
            match reply {
                Reply::Records { records, .. } => state.frames.push_back(records),
                Reply::End { next_lsn } => state.end = Some(Ok(next_lsn)),
                Reply::Error { code, message } => state.end = Some(Err(Error::Daemon { code, message })),
                other => self.violation(format!("READ {} answered with {:?}", id, other)),
            }
            return;
        }
        if let Some(i) = self.slot_index(id) {
            if self.slots[i].result.is_none() {
                let kind = self.slots[i].kind;
                let result = match (kind, reply) {
                    (_, Reply::Error { code, message }) => Err(Error::Daemon { code, message }),
                    (Kind::Hello, r @ Reply::HelloOk(_))
                    | (Kind::Append, r @ Reply::Ack(_))
                    | (Kind::Status, r @ Reply::StatusOk(_))
                    | (Kind::Truncate, r @ Reply::Ok { .. }) => Ok(r),
                    (kind, other) => {
                        self.violation(format!("{:?} request {} answered with {:?}", kind, id, other));
                        return;
                    }
                };
                self.in_flight_bytes -= self.slots[i].bytes;
                if self.slots[i].abandoned {
                    self.slots.remove(i);
                } else {
                    self.slots[i].result = Some(result);
                }
                return;
            }
        }
        if let Reply::Error { code, message } = reply {
            if id == 0 {
                // Unprompted (UNAUTHORIZED): the daemon closes the connection.
                let reason = format!("daemon error {}: {}", code, message);
                self.fail(Broken { daemon: Some((code, message)), violation: false, reason });
                return;
            }
        }
        self.violation(format!("reply opcode 0x{:02x} for request {}, which is not in flight", header.opcode, id));
    }

    fn violation(&mut self, message: String) {
        self.fail(Broken { daemon: None, violation: true, reason: message });
    }

    // The connection is unusable: completes everything in flight with the
    // cause and shuts the socket.
    fn fail(&mut self, broken: Broken) {
        if self.broken.is_some() {
            return;
        }
        for slot in self.slots.iter_mut() {
            if slot.result.is_none() {
                slot.result = Some(Err(broken.error()));
            }
        }
        self.slots.retain(|s| !s.abandoned);
        self.in_flight_bytes = 0;
        for state in self.reads.values_mut() {
            if state.end.is_none() {
                state.end = Some(Err(broken.error()));
            }
        }
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        self.broken = Some(broken);
    }
}

/// A follow READ in progress (from [`Client::follow`]).
pub struct Follow<'a> {
    client: &'a mut Client,
    id: u64,
    next_lsn: u64,
    cancelled: bool,
    ended: bool,
}

impl<'a> Follow<'a> {
    /// The READ's request id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// One past the last record returned so far (the READ's from_lsn before
    /// any): where to resume after an error.
    pub fn next_lsn(&self) -> u64 {
        self.next_lsn
    }

    /// Waits for the next RECORDS frame or the END (up to io_timeout).
    pub fn recv(&mut self) -> Result<FollowEvent> {
        let t = self.client.options.io_timeout;
        match self.next_within(t)? {
            Some(event) => Ok(event),
            None => Err(Error::Timeout),
        }
    }

    /// Like [`Follow::recv`], but gives up after `timeout` with Ok(None); the
    /// READ goes on.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<FollowEvent>> {
        self.next_within(Some(timeout.max(Duration::from_millis(1))))
    }

    fn next_within(&mut self, timeout: Option<Duration>) -> Result<Option<FollowEvent>> {
        if self.ended {
            return Ok(Some(FollowEvent::End { next_lsn: self.next_lsn }));
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let state = self.client.reads.get_mut(&self.id).expect("read state");
            if let Some(records) = state.frames.pop_front() {
                if let Some(last) = records.last() {
                    self.next_lsn = last.lsn + 1;
                }
                return Ok(Some(FollowEvent::Records(records)));
            }
            if let Some(end) = state.end.take() {
                self.ended = true;
                self.client.reads.remove(&self.id);
                let next_lsn = end?;
                self.next_lsn = next_lsn;
                return Ok(Some(FollowEvent::End { next_lsn }));
            }
            let wait = match deadline {
                None => None,
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Ok(None);
                    }
                    Some(d - now)
                }
            };
            match self.client.pump_with(wait) {
                Ok(()) => {}
                Err(Error::Timeout) => return Ok(None),
                Err(e) => {
                    // Broken: the read state holds the error; loop to return it.
                    if !self.client.reads.contains_key(&self.id) {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Asks the daemon to end the READ. Records already on their way still
    /// come; keep calling [`Follow::recv`] until `FollowEvent::End`.
    pub fn cancel(&mut self) -> Result<()> {
        if self.cancelled || self.ended {
            return Ok(());
        }
        self.cancelled = true;
        self.client.write_frame(&wire::encode_cancel(self.id))
    }

    /// Cancels and waits for the END; returns the LSN to resume from (one
    /// past the last record the daemon sent, including those dropped here).
    pub fn finish(mut self) -> Result<u64> {
        self.cancel()?;
        loop {
            if let FollowEvent::End { next_lsn } = self.recv()? {
                return Ok(next_lsn);
            }
        }
    }
}

impl<'a> Drop for Follow<'a> {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        let state = self.client.reads.remove(&self.id);
        let end_arrived = state.map_or(false, |s| s.end.is_some());
        if self.client.broken.is_none() && !end_arrived {
            let _ = self.cancel();
            self.client.discard.insert(self.id);
        }
    }
}

// poll(2), declared here: std has no wrapper and the crate takes no
// dependencies.
#[repr(C)]
struct PollFd {
    fd: c_int,
    events: c_short,
    revents: c_short,
}
const POLLIN: c_short = 0x1;
extern "C" {
    fn poll(fds: *mut PollFd, nfds: c_ulong, timeout: c_int) -> c_int;
}

// Waits until `fd` has bytes to read, end of file or an error, for at most
// `timeout` (None: no limit; rounded up to whole milliseconds). Ok(false)
// when the time ran out first.
fn wait_readable(fd: RawFd, timeout: Option<Duration>) -> std::io::Result<bool> {
    let ms: c_int = match timeout {
        None => -1,
        Some(t) => t.as_micros().div_ceil(1000).min(c_int::MAX as u128) as c_int,
    };
    let mut p = PollFd { fd, events: POLLIN, revents: 0 };
    // SAFETY: `p` is one valid pollfd, exclusively borrowed for the call, and
    // nfds says one.
    let n = unsafe { poll(&mut p, 1, ms) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(n > 0)
}
