//! Protocol v1 frames as bytes (docs/protocol.md): encoders for every request,
//! a decoder for every reply, and the size rules of "Limits".
//!
//! Pure functions over byte slices, no I/O: [`crate::Client`] is built on
//! them, and the conformance vectors (tests/protocol_vectors) check them byte
//! for byte. All integers are little-endian; nothing is padded.
//!
//! ```
//! use sidewal::wire::{self, AppendRecord, Reply};
//!
//! // The example at the end of docs/protocol.md: APPEND request_id 7 of one
//! // record (type 1, tenant 2, payload "hi"), and its ACK assigning LSN 42.
//! let request = wire::encode_append(7, &[AppendRecord::new(1, 2, b"hi")]);
//! assert_eq!(wire::hex(&request),
//!            "0e000000020000000700000000000000010000000200000002000000\
//!             6869");
//! let reply = wire::unhex("10000000820000000700000000000000\
//!                          2a000000000000000100000000000000").unwrap();
//! let (header, body) = wire::split_frame(&reply).unwrap();
//! assert_eq!(header.request_id, 7);
//! match wire::decode_reply(&header, body).unwrap() {
//!     Reply::Ack(ack) => assert_eq!((ack.first_lsn, ack.count), (42, 1)),
//!     other => panic!("not an ACK: {:?}", other),
//! }
//! ```

use std::fmt;

/// The protocol version this crate speaks.
pub const VERSION: u16 = 1;
/// Bytes of the frame header that starts every message.
pub const HEADER_SIZE: usize = 16;
/// Bytes of an APPEND record's header (type, flags, tenant, payload_len).
pub const APPEND_RECORD_HEADER_SIZE: usize = 12;
/// Bytes of a RECORDS entry's header (lsn and the 12 above).
pub const READ_RECORD_HEADER_SIZE: usize = 20;

/// Request opcodes.
pub const OP_HELLO: u8 = 0x01;
pub const OP_APPEND: u8 = 0x02;
pub const OP_READ: u8 = 0x03;
pub const OP_TRUNCATE: u8 = 0x04;
pub const OP_STATUS: u8 = 0x05;
pub const OP_CANCEL: u8 = 0x06;
/// Reply opcodes.
pub const OP_HELLO_OK: u8 = 0x81;
pub const OP_ACK: u8 = 0x82;
pub const OP_RECORDS: u8 = 0x83;
pub const OP_END: u8 = 0x84;
pub const OP_OK: u8 = 0x85;
pub const OP_STATUS_OK: u8 = 0x86;
pub const OP_ERROR: u8 = 0xFF;

/// HELLO header flag: ask for the limits block in HELLO_OK.
pub const HELLO_LIMITS: u8 = 0x01;
/// READ header flag: omit records dead by collection tombstone.
pub const READ_SKIP_DEAD: u8 = 0x01;
/// READ header flag (and RECORDS frame flag): entries without payload bytes.
pub const READ_HEADER_ONLY: u8 = 0x02;

/// Defaults a client assumes until the daemon advertises its limits
/// (docs/protocol.md "Limits").
pub const DEFAULT_MAX_FRAME_BODY: u32 = 4 << 20;
pub const DEFAULT_MAX_RECORD_BYTES: u32 = 1 << 20;
pub const DEFAULT_MAX_BATCH_BYTES: u64 = 4 << 20;
/// A RECORDS frame's body stays within this unless one entry alone is bigger.
pub const RECORDS_FRAME_BUDGET: u32 = 1 << 20;

/// The protocol's error codes (the ERROR reply's `code`). Codes this crate
/// does not know are kept as [`ErrorCode::Other`]: a later version may add codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    Malformed,
    FrameTooLarge,
    UnknownOpcode,
    UnsupportedVersion,
    NotReady,
    IoFailed,
    NoSpace,
    LsnTruncated,
    Unauthorized,
    RecordTooLarge,
    ReservedRecordType,
    Other(u16),
}

impl ErrorCode {
    pub fn from_u16(code: u16) -> ErrorCode {
        match code {
            1 => ErrorCode::Malformed,
            2 => ErrorCode::FrameTooLarge,
            3 => ErrorCode::UnknownOpcode,
            4 => ErrorCode::UnsupportedVersion,
            5 => ErrorCode::NotReady,
            6 => ErrorCode::IoFailed,
            7 => ErrorCode::NoSpace,
            8 => ErrorCode::LsnTruncated,
            9 => ErrorCode::Unauthorized,
            10 => ErrorCode::RecordTooLarge,
            11 => ErrorCode::ReservedRecordType,
            other => ErrorCode::Other(other),
        }
    }

    /// The code as it travels on the wire.
    pub fn as_u16(self) -> u16 {
        match self {
            ErrorCode::Malformed => 1,
            ErrorCode::FrameTooLarge => 2,
            ErrorCode::UnknownOpcode => 3,
            ErrorCode::UnsupportedVersion => 4,
            ErrorCode::NotReady => 5,
            ErrorCode::IoFailed => 6,
            ErrorCode::NoSpace => 7,
            ErrorCode::LsnTruncated => 8,
            ErrorCode::Unauthorized => 9,
            ErrorCode::RecordTooLarge => 10,
            ErrorCode::ReservedRecordType => 11,
            ErrorCode::Other(code) => code,
        }
    }

    /// The name docs/protocol.md gives the code ("MALFORMED", ...), or "UNKNOWN".
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::Malformed => "MALFORMED",
            ErrorCode::FrameTooLarge => "FRAME_TOO_LARGE",
            ErrorCode::UnknownOpcode => "UNKNOWN_OPCODE",
            ErrorCode::UnsupportedVersion => "UNSUPPORTED_VERSION",
            ErrorCode::NotReady => "NOT_READY",
            ErrorCode::IoFailed => "IO_FAILED",
            ErrorCode::NoSpace => "NO_SPACE",
            ErrorCode::LsnTruncated => "LSN_TRUNCATED",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::RecordTooLarge => "RECORD_TOO_LARGE",
            ErrorCode::ReservedRecordType => "RESERVED_RECORD_TYPE",
            ErrorCode::Other(_) => "UNKNOWN",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.as_u16())
    }
}

/// The 16-byte header of every frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FrameHeader {
    pub body_len: u32,
    pub opcode: u8,
    pub flags: u8,
    pub reserved: u16,
    pub request_id: u64,
}

impl FrameHeader {
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_u32(out, self.body_len);
        out.push(self.opcode);
        out.push(self.flags);
        put_u16(out, self.reserved);
        put_u64(out, self.request_id);
    }

    /// Decodes the first 16 bytes of `bytes`; None when there are fewer.
    pub fn decode(bytes: &[u8]) -> Option<FrameHeader> {
        if bytes.len() < HEADER_SIZE {
            return None;
        }
        Some(FrameHeader {
            body_len: get_u32(bytes, 0),
            opcode: bytes[4],
            flags: bytes[5],
            reserved: get_u16(bytes, 6),
            request_id: get_u64(bytes, 8),
        })
    }
}

/// One record of an APPEND: views into the caller's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendRecord<'a> {
    /// 0x0000-0x7FFF for the application; 0x8001-0x8003 are the log's control
    /// records (docs/control-records.md); other types from 0x8000 are refused.
    pub record_type: u16,
    pub tenant: u32,
    pub payload: &'a [u8],
}

impl<'a> AppendRecord<'a> {
    pub fn new(record_type: u16, tenant: u32, payload: &'a [u8]) -> AppendRecord<'a> {
        AppendRecord { record_type, tenant, payload }
    }
}

/// A READ request's body (and its header flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ReadRequest {
    /// First LSN wanted, >= 1.
    pub from_lsn: u64,
    /// Records in total; 0 = no limit.
    pub max_records: u32,
    /// Payload bytes in total; 0 = the daemon's default.
    pub max_bytes: u32,
    pub follow: bool,
    /// READ_SKIP_DEAD | READ_HEADER_ONLY.
    pub flags: u8,
}

/// HELLO_OK: the log's bounds and, when asked for, the daemon's limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HelloOk {
    pub version: u16,
    pub max_record_bytes: u32,
    pub first_lsn: u64,
    pub durable_lsn: u64,
    /// Present when the body carried the limits block (48 bytes or more).
    pub limits: Option<LimitsBlock>,
}

/// The limits block of HELLO_OK (offsets 24-47).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitsBlock {
    pub max_frame_body: u32,
    pub max_reply_body: u32,
    pub max_batch_bytes: u64,
    pub record_extra_bytes: u32,
}

/// ACK: record i of the APPEND has LSN `first_lsn + i`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ack {
    pub first_lsn: u64,
    pub count: u32,
}

/// A record read back.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Record {
    pub lsn: u64,
    pub record_type: u16,
    /// The log's own flag bits, passed through.
    pub flags: u16,
    pub tenant: u32,
    /// Empty in a header-only READ.
    pub payload: Vec<u8>,
    /// The stored payload length (== payload.len() unless header-only).
    pub payload_len: u32,
}

/// STATUS_OK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogStatus {
    pub first_lsn: u64,
    /// 0 = empty log.
    pub durable_lsn: u64,
    pub segments: u64,
    pub bytes_on_disk: u64,
    pub state: DaemonState,
}

/// STATUS_OK's `state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DaemonState {
    Recovering,
    Ready,
    Failed,
}

impl DaemonState {
    /// None for a value v1 does not define (a protocol violation).
    pub fn from_u8(v: u8) -> Option<DaemonState> {
        match v {
            0 => Some(DaemonState::Recovering),
            1 => Some(DaemonState::Ready),
            2 => Some(DaemonState::Failed),
            _ => None,
        }
    }

    pub fn as_u8(self) -> u8 {
        match self {
            DaemonState::Recovering => 0,
            DaemonState::Ready => 1,
            DaemonState::Failed => 2,
        }
    }
}

/// A decoded reply body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    HelloOk(HelloOk),
    Ack(Ack),
    /// One RECORDS frame; `header_only` is the frame's flag 0x02.
    Records { header_only: bool, records: Vec<Record> },
    End { next_lsn: u64 },
    Ok { first_lsn: u64 },
    StatusOk(LogStatus),
    Error { code: ErrorCode, message: String },
}

// ---- Encoders: each returns one whole frame, header and body.

fn frame(opcode: u8, flags: u8, request_id: u64, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_SIZE + body.len());
    FrameHeader { body_len: body.len() as u32, opcode, flags, reserved: 0, request_id }.encode(&mut out);
    out.extend_from_slice(body);
    out
}

/// HELLO with `flags` (0, or HELLO_LIMITS) and the client's name.
pub fn encode_hello(request_id: u64, flags: u8, version: u16, name: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(8 + name.len());
    put_u16(&mut body, version);
    put_u16(&mut body, 0);
    put_u32(&mut body, name.len() as u32);
    body.extend_from_slice(name);
    frame(OP_HELLO, flags, request_id, &body)
}

/// Bytes of an APPEND body holding `records`: sum of (12 + payload_len).
pub fn append_body_len(records: &[AppendRecord<'_>]) -> u64 {
    records.iter().map(|r| (APPEND_RECORD_HEADER_SIZE + r.payload.len()) as u64).sum()
}

/// APPEND of `records`, packed back to back. The caller keeps the body within
/// the frame limit (body_len is a u32).
pub fn encode_append(request_id: u64, records: &[AppendRecord<'_>]) -> Vec<u8> {
    let body_len = append_body_len(records);
    let mut out = Vec::with_capacity(HEADER_SIZE + body_len as usize);
    encode_append_into(request_id, records, &mut out);
    out
}

/// encode_append, appended to `out` (saves an allocation per request).
pub fn encode_append_into(request_id: u64, records: &[AppendRecord<'_>], out: &mut Vec<u8>) {
    let body_len = append_body_len(records);
    FrameHeader { body_len: body_len as u32, opcode: OP_APPEND, flags: 0, reserved: 0, request_id }.encode(out);
    for r in records {
        put_u16(out, r.record_type);
        put_u16(out, 0);
        put_u32(out, r.tenant);
        put_u32(out, r.payload.len() as u32);
        out.extend_from_slice(r.payload);
    }
}

pub fn encode_read(request_id: u64, read: &ReadRequest) -> Vec<u8> {
    let mut body = Vec::with_capacity(24);
    put_u64(&mut body, read.from_lsn);
    put_u32(&mut body, read.max_records);
    put_u32(&mut body, read.max_bytes);
    body.push(u8::from(read.follow));
    body.extend_from_slice(&[0u8; 7]);
    frame(OP_READ, read.flags, request_id, &body)
}

pub fn encode_truncate(request_id: u64, before_lsn: u64) -> Vec<u8> {
    frame(OP_TRUNCATE, 0, request_id, &before_lsn.to_le_bytes())
}

pub fn encode_status(request_id: u64) -> Vec<u8> {
    frame(OP_STATUS, 0, request_id, &[])
}

/// CANCEL of the READ whose request_id is `read_id`.
pub fn encode_cancel(read_id: u64) -> Vec<u8> {
    frame(OP_CANCEL, 0, read_id, &[])
}

// ---- Decoders.

/// Splits one whole frame into its header and body; an error when `bytes` is
/// not exactly one frame.
pub fn split_frame(bytes: &[u8]) -> Result<(FrameHeader, &[u8]), String> {
    let header = match FrameHeader::decode(bytes) {
        Some(h) => h,
        None => return Err(format!("{} bytes: shorter than a frame header", bytes.len())),
    };
    let body = &bytes[HEADER_SIZE..];
    if body.len() != header.body_len as usize {
        return Err(format!("body_len {} but {} body bytes", header.body_len, body.len()));
    }
    Ok((header, body))
}

fn want_len(name: &str, body: &[u8], len: usize) -> Result<(), String> {
    if body.len() != len {
        return Err(format!("{} body is {} bytes, expected {}", name, body.len(), len));
    }
    Ok(())
}

fn want_zero(name: &str, bytes: &[u8]) -> Result<(), String> {
    if bytes.iter().any(|&b| b != 0) {
        return Err(format!("{} must be 0", name));
    }
    Ok(())
}

/// Decodes a reply frame's body by its opcode, checking every length the
/// protocol fixes and that reserved fields are 0 (except the limits block's,
/// which clients ignore), STATUS_OK's state is 0-2 and ERROR's code is not 0,
/// as the conformance vectors require. An error here is a protocol violation
/// by the daemon.
pub fn decode_reply(header: &FrameHeader, body: &[u8]) -> Result<Reply, String> {
    if body.len() != header.body_len as usize {
        return Err(format!("body_len {} but {} body bytes", header.body_len, body.len()));
    }
    if header.reserved != 0 {
        return Err(format!("reply header reserved is {}, must be 0", header.reserved));
    }
    let flags_ok = match header.opcode {
        OP_RECORDS => header.flags == 0 || header.flags == READ_HEADER_ONLY,
        _ => header.flags == 0,
    };
    if !flags_ok {
        return Err(format!("reply opcode 0x{:02x} with flags 0x{:02x}", header.opcode, header.flags));
    }
    match header.opcode {
        OP_HELLO_OK => decode_hello_ok(body).map(Reply::HelloOk),
        OP_ACK => {
            want_len("ACK", body, 16)?;
            want_zero("ACK reserved", &body[12..16])?;
            Ok(Reply::Ack(Ack { first_lsn: get_u64(body, 0), count: get_u32(body, 8) }))
        }
        OP_RECORDS => {
            let header_only = header.flags == READ_HEADER_ONLY;
            decode_records(body, header_only).map(|records| Reply::Records { header_only, records })
        }
        OP_END => {
            want_len("END", body, 8)?;
            Ok(Reply::End { next_lsn: get_u64(body, 0) })
        }
        OP_OK => {
            want_len("OK", body, 8)?;
            Ok(Reply::Ok { first_lsn: get_u64(body, 0) })
        }
        OP_STATUS_OK => {
            want_len("STATUS_OK", body, 40)?;
            want_zero("STATUS_OK reserved", &body[33..40])?;
            if body[32] > 2 {
                return Err(format!("STATUS_OK state {} (0 recovering, 1 ready, 2 failed)", body[32]));
            }
            Ok(Reply::StatusOk(LogStatus {
                first_lsn: get_u64(body, 0),
                durable_lsn: get_u64(body, 8),
                segments: get_u64(body, 16),
                bytes_on_disk: get_u64(body, 24),
                state: DaemonState::from_u8(body[32]).expect("checked above"),
            }))
        }
        OP_ERROR => {
            if body.len() < 8 {
                return Err(format!("ERROR body is {} bytes, expected at least 8", body.len()));
            }
            want_zero("ERROR reserved", &body[2..4])?;
            if get_u16(body, 0) == 0 {
                return Err("ERROR code 0".to_string());
            }
            let msg_len = get_u32(body, 4) as usize;
            if msg_len != body.len() - 8 {
                return Err(format!("ERROR msg_len {} but {} message bytes", msg_len, body.len() - 8));
            }
            Ok(Reply::Error {
                code: ErrorCode::from_u16(get_u16(body, 0)),
                message: String::from_utf8_lossy(&body[8..]).into_owned(),
            })
        }
        other => Err(format!("unknown reply opcode 0x{:02x}", other)),
    }
}

/// HELLO_OK: 24 bytes without the limits block, 48 or more with it (bytes
/// after offset 48 are ignored); any other length is malformed, and so is a
/// limits block with a zero limit.
pub fn decode_hello_ok(body: &[u8]) -> Result<HelloOk, String> {
    if body.len() != 24 && body.len() < 48 {
        return Err(format!("HELLO_OK body is {} bytes, expected 24 or at least 48", body.len()));
    }
    want_zero("HELLO_OK reserved", &body[2..4])?;
    let limits = if body.len() >= 48 {
        let block = LimitsBlock {
            max_frame_body: get_u32(body, 24),
            max_reply_body: get_u32(body, 28),
            max_batch_bytes: get_u64(body, 32),
            record_extra_bytes: get_u32(body, 40),
        };
        if block.max_frame_body == 0 || block.max_reply_body == 0 || block.max_batch_bytes == 0 {
            return Err(format!("HELLO_OK limits block with a zero limit: {:?}", block));
        }
        Some(block)
    } else {
        None
    };
    Ok(HelloOk {
        version: get_u16(body, 0),
        max_record_bytes: get_u32(body, 4),
        first_lsn: get_u64(body, 8),
        durable_lsn: get_u64(body, 16),
        limits,
    })
}

/// A RECORDS body: one or more entries packed back to back, each 20 header
/// bytes plus (unless header-only) payload_len payload bytes.
pub fn decode_records(body: &[u8], header_only: bool) -> Result<Vec<Record>, String> {
    let mut records = Vec::new();
    let mut at = 0usize;
    while at < body.len() {
        if body.len() - at < READ_RECORD_HEADER_SIZE {
            return Err(format!("RECORDS entry header at offset {} runs past the body ({} bytes)", at, body.len()));
        }
        let payload_len = get_u32(body, at + 16);
        let start = at + READ_RECORD_HEADER_SIZE;
        let carried = if header_only { 0 } else { payload_len as usize };
        if body.len() - start < carried {
            return Err(format!(
                "RECORDS entry at offset {}: payload_len {} runs past the body ({} bytes)",
                at,
                payload_len,
                body.len()
            ));
        }
        records.push(Record {
            lsn: get_u64(body, at),
            record_type: get_u16(body, at + 8),
            flags: get_u16(body, at + 10),
            tenant: get_u32(body, at + 12),
            payload: body[start..start + carried].to_vec(),
            payload_len,
        });
        at = start + carried;
    }
    if records.is_empty() {
        return Err("RECORDS frame with no records".to_string());
    }
    Ok(records)
}

// ---- Limits.

/// The largest reply body a daemon with this max_record_bytes sends:
/// max(1 MiB, 20 + max_record_bytes).
pub fn max_reply_body(max_record_bytes: u32) -> u32 {
    let one = READ_RECORD_HEADER_SIZE as u64 + u64::from(max_record_bytes);
    if one > u64::from(RECORDS_FRAME_BUDGET) {
        one.min(u64::from(u32::MAX)) as u32
    } else {
        RECORDS_FRAME_BUDGET
    }
}

/// One record's share of encoded_batch_bytes: round_up(24 + payload_len + extra, 8).
pub fn encoded_record_bytes(payload_len: u64, record_extra_bytes: u32) -> u64 {
    (24 + payload_len + u64::from(record_extra_bytes) + 7) / 8 * 8
}

/// What the daemon measures an APPEND by against max_batch_bytes.
pub fn encoded_batch_bytes(records: &[AppendRecord<'_>], record_extra_bytes: u32) -> u64 {
    records.iter().map(|r| encoded_record_bytes(r.payload.len() as u64, record_extra_bytes)).sum()
}

// ---- Little-endian helpers and hex (for tests and debugging).

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}
// Callers check the length first.
fn get_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn get_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}
fn get_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Lower-case hex of `bytes`, no separators.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push_str(&format!("{:02x}", b));
    }
    s
}

/// Parses hex (either case); whitespace is skipped. None on any other
/// character or an odd number of digits.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    if digits.len() % 2 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(digits.len() / 2);
    for pair in digits.chunks(2) {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out.push((hi * 16 + lo) as u8);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(hex_frame: &str) -> Result<Reply, String> {
        let bytes = unhex(hex_frame).expect("hex");
        let (h, body) = split_frame(&bytes)?;
        decode_reply(&h, body)
    }

    #[test]
    fn header_round_trips_little_endian() {
        let h = FrameHeader { body_len: 0x0102_0304, opcode: 0x83, flags: 2, reserved: 0, request_id: 0x1122_3344_5566_7788 };
        let mut out = Vec::new();
        h.encode(&mut out);
        assert_eq!(hex(&out), "04030201830200008877665544332211");
        assert_eq!(FrameHeader::decode(&out), Some(h));
        assert_eq!(FrameHeader::decode(&out[..15]), None);
    }

    #[test]
    fn requests_match_the_layouts() {
        assert_eq!(hex(&encode_hello(1, HELLO_LIMITS, 1, b"rs")), "0a00000001010000010000000000000001000000020000007273");
        assert_eq!(
            hex(&encode_read(3, &ReadRequest { from_lsn: 5, max_records: 2, max_bytes: 9, follow: true, flags: READ_HEADER_ONLY })),
            "18000000030200000300000000000000050000000000000002000000090000000100000000000000"
        );
        assert_eq!(hex(&encode_truncate(4, 0x10)), "08000000040000000400000000000000" .to_string() + "1000000000000000");
        assert_eq!(hex(&encode_status(5)), "00000000050000000500000000000000");
        assert_eq!(hex(&encode_cancel(6)), "00000000060000000600000000000000");
    }

    #[test]
    fn hello_ok_is_24_bytes_or_48_and_more() {
        let base = "0100000000001000" .to_string() + "0100000000000000" + "0900000000000000";
        let block = "00004000" .to_string() + "14001000" + "0000400000000000" + "00000000" + "00000000";
        match reply(&format!("18000000810000000100000000000000{}", base)).unwrap() {
            Reply::HelloOk(h) => {
                assert_eq!((h.version, h.max_record_bytes, h.first_lsn, h.durable_lsn), (1, 1 << 20, 1, 9));
                assert_eq!(h.limits, None);
            }
            other => panic!("{:?}", other),
        }
        match reply(&format!("30000000810000000100000000000000{}{}", base, block)).unwrap() {
            Reply::HelloOk(h) => assert_eq!(
                h.limits,
                Some(LimitsBlock { max_frame_body: 4 << 20, max_reply_body: 1_048_596, max_batch_bytes: 4 << 20, record_extra_bytes: 0 })
            ),
            other => panic!("{:?}", other),
        }
        // Later versions may append fields after offset 48.
        assert!(reply(&format!("32000000810000000100000000000000{}{}abcd", base, block)).is_ok());
        // 25..47 bytes: neither form.
        assert!(reply(&format!("1c000000810000000100000000000000{}00000000", base)).is_err());
    }

    #[test]
    fn records_decode_full_and_header_only_entries() {
        let full = "0500000000000000" .to_string() + "0100" + "0000" + "02000000" + "02000000" + "6869";
        match reply(&format!("16000000830000000900000000000000{}", full)).unwrap() {
            Reply::Records { header_only, records } => {
                assert!(!header_only);
                assert_eq!(records, vec![Record { lsn: 5, record_type: 1, flags: 0, tenant: 2, payload: b"hi".to_vec(), payload_len: 2 }]);
            }
            other => panic!("{:?}", other),
        }
        let head = "0500000000000000" .to_string() + "0100" + "0000" + "02000000" + "00100000";
        match reply(&format!("14000000830200000900000000000000{}", head)).unwrap() {
            Reply::Records { header_only, records } => {
                assert!(header_only);
                assert_eq!(records[0].payload_len, 4096);
                assert!(records[0].payload.is_empty());
            }
            other => panic!("{:?}", other),
        }
        // Empty frame, a payload running past the body, an unknown frame flag.
        assert!(reply("00000000830000000900000000000000").is_err());
        assert!(reply(&format!("15000000830000000900000000000000{}", &full[..full.len() - 2])).is_err());
        assert!(reply(&format!("14000000830100000900000000000000{}", head)).is_err());
    }

    #[test]
    fn error_carries_any_code_and_its_message() {
        match reply("0b000000ff00000002000000000000000a00000003000000626967").unwrap() {
            Reply::Error { code, message } => {
                assert_eq!(code, ErrorCode::RecordTooLarge);
                assert_eq!(message, "big");
            }
            other => panic!("{:?}", other),
        }
        match reply("08000000ff00000002000000000000006300000000000000").unwrap_or_else(|e| panic!("{}", e)) {
            Reply::Error { code, .. } => assert_eq!(code.as_u16(), 99),
            other => panic!("{:?}", other),
        }
        assert!(reply("09000000ff000000020000000000000001000000020000006b").is_err());
    }

    #[test]
    fn replies_with_reserved_bits_or_undefined_values_are_refused() {
        assert!(reply("10000000820000000700000000000000 2a00000000000000 01000000 01000000").is_err());
        assert!(reply("10000000820001000700000000000000 2a00000000000000 01000000 00000000").is_err());
        assert!(reply("10000000820100000700000000000000 2a00000000000000 01000000 00000000").is_err());
        let status = |state: &str, reserved: &str| {
            reply(&format!(
                "28000000860000000100000000000000 0100000000000000 0200000000000000 0300000000000000 0400000000000000 {} {}",
                state, reserved
            ))
        };
        assert!(status("02", "00000000000000").is_ok());
        assert!(status("03", "00000000000000").is_err());
        assert!(status("01", "00000000000001").is_err());
        assert!(reply("08000000ff00000001000000000000000000000000000000").is_err()); // code 0
        assert!(reply("08000000ff00000001000000000000000100010000000000").is_err()); // reserved
    }

    #[test]
    fn encoded_batch_bytes_rounds_each_record_to_eight() {
        assert_eq!(encoded_record_bytes(0, 0), 24);
        assert_eq!(encoded_record_bytes(1, 0), 32);
        assert_eq!(encoded_record_bytes(8, 16), 48);
        let recs = [AppendRecord::new(1, 0, b"hi"), AppendRecord::new(1, 0, &[])];
        assert_eq!(encoded_batch_bytes(&recs, 0), 32 + 24);
        assert_eq!(max_reply_body(1 << 20), 1_048_596);
        assert_eq!(max_reply_body(65536), 1 << 20);
    }

    #[test]
    fn unhex_rejects_odd_and_non_hex() {
        assert_eq!(unhex("0a FF"), Some(vec![10, 255]));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
    }
}
