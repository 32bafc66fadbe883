// The client against a scripted peer, for what the real daemon of this tree
// never does: a daemon that predates the LIMITS flag, one still recovering,
// and replies that break docs/protocol.md.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use sidewal::wire::{self, FrameHeader};
use sidewal::{Client, ClientOptions, Error, ErrorCode, LimitsSource, ReadOptions};

struct Fake {
    path: PathBuf,
    server: Option<thread::JoinHandle<()>>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            let _ = s.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

// Serves `connections` connections one after another, each with `script`
// (given the connection's index).
fn fake<F>(connections: usize, script: F) -> Fake
where
    F: Fn(usize, &mut UnixStream) + Send + 'static,
{
    static N: AtomicUsize = AtomicUsize::new(0);
    let path = PathBuf::from(format!("/tmp/swrs-fake-{}-{}.sock", std::process::id(), N.fetch_add(1, Ordering::SeqCst)));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).expect("bind");
    let server = thread::spawn(move || {
        for i in 0..connections {
            let (mut stream, _) = listener.accept().expect("accept");
            script(i, &mut stream);
        }
    });
    Fake { path, server: Some(server) }
}

fn read_frame(s: &mut UnixStream) -> (FrameHeader, Vec<u8>) {
    let mut h = [0u8; wire::HEADER_SIZE];
    s.read_exact(&mut h).expect("header");
    let header = FrameHeader::decode(&h).unwrap();
    let mut body = vec![0u8; header.body_len as usize];
    s.read_exact(&mut body).expect("body");
    (header, body)
}

fn send(s: &mut UnixStream, opcode: u8, flags: u8, id: u64, body: &[u8]) {
    let mut out = Vec::new();
    FrameHeader { body_len: body.len() as u32, opcode, flags, reserved: 0, request_id: id }.encode(&mut out);
    out.extend_from_slice(body);
    s.write_all(&out).expect("send");
}

fn error_body(code: u16, msg: &str) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&code.to_le_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(&(msg.len() as u32).to_le_bytes());
    b.extend_from_slice(msg.as_bytes());
    b
}

fn hello_ok_body(max_record_bytes: u32, limits: Option<(u32, u32, u64)>) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(&max_record_bytes.to_le_bytes());
    b.extend_from_slice(&1u64.to_le_bytes());
    b.extend_from_slice(&0u64.to_le_bytes());
    if let Some((frame, reply, batch)) = limits {
        b.extend_from_slice(&frame.to_le_bytes());
        b.extend_from_slice(&reply.to_le_bytes());
        b.extend_from_slice(&batch.to_le_bytes());
        b.extend_from_slice(&[0u8; 8]);
    }
    b
}

// Answers the HELLO with the limits block.
fn greet(s: &mut UnixStream) {
    let (h, _) = read_frame(s);
    assert_eq!((h.opcode, h.flags), (wire::OP_HELLO, wire::HELLO_LIMITS));
    send(s, wire::OP_HELLO_OK, 0, h.request_id, &hello_ok_body(1 << 20, Some((4 << 20, 1_048_596, 4 << 20))));
}

fn options() -> ClientOptions {
    ClientOptions { io_timeout: Some(Duration::from_secs(20)), ..ClientOptions::default() }
}

#[test]
fn an_older_daemon_refusing_the_limits_flag_is_asked_again_without_it() {
    let f = fake(1, |_, s| {
        let (h, body) = read_frame(s);
        assert_eq!((h.opcode, h.flags, h.request_id), (wire::OP_HELLO, wire::HELLO_LIMITS, 1));
        assert_eq!(&body[8..], b"sidewal-rust");
        send(s, wire::OP_ERROR, 0, h.request_id, &error_body(1, "HELLO flags 0x01"));
        let (h, _) = read_frame(s);
        assert_eq!((h.opcode, h.flags), (wire::OP_HELLO, 0));
        send(s, wire::OP_HELLO_OK, 0, h.request_id, &hello_ok_body(65536, None));
        let (h, _) = read_frame(s);
        assert_eq!(h.opcode, wire::OP_APPEND);
    });
    let mut client = Client::connect_with(&f.path, options()).expect("connect");
    let l = *client.limits();
    assert_eq!(l.source, LimitsSource::OlderDaemon);
    assert_eq!(l.max_record_bytes, 65536);
    assert_eq!(l.max_frame_body, wire::DEFAULT_MAX_FRAME_BODY);
    assert_eq!(l.max_batch_bytes, None);
    assert_eq!(l.max_reply_body, 1 << 20);
    match client.append_one(1, 0, &vec![0u8; 65537]) {
        Err(Error::Refused { code: ErrorCode::RecordTooLarge, .. }) => {}
        other => panic!("{:?}", other),
    }
    let id = client.send_append(&[sidewal::AppendRecord::new(1, 0, b"x")]).unwrap();
    assert_eq!(id, 3); // ids 1 and 2 were the HELLOs
}

#[test]
fn connect_retries_while_the_daemon_answers_not_ready() {
    let f = fake(3, |i, s| {
        let (h, _) = read_frame(s);
        if i < 2 {
            send(s, wire::OP_ERROR, 0, h.request_id, &error_body(5, "recovering"));
        } else {
            send(s, wire::OP_HELLO_OK, 0, h.request_id, &hello_ok_body(1 << 20, Some((4 << 20, 1_048_596, 4 << 20))));
        }
    });
    let client = Client::connect_with(&f.path, options()).expect("connect");
    assert_eq!(client.limits().source, LimitsSource::Advertised);
}

#[test]
fn not_ready_past_the_connect_timeout_is_returned() {
    let f = fake(1, |_, s| {
        let (h, _) = read_frame(s);
        send(s, wire::OP_ERROR, 0, h.request_id, &error_body(5, "recovering"));
    });
    let opts = ClientOptions { connect_timeout: Duration::from_millis(0), ..options() };
    match Client::connect_with(&f.path, opts) {
        Err(e) => assert_eq!(e.code(), Some(ErrorCode::NotReady), "{}", e),
        Ok(_) => panic!("connected"),
    }
}

#[test]
fn a_reply_above_max_reply_body_is_a_protocol_violation() {
    let f = fake(1, |_, s| {
        greet(s);
        let (h, _) = read_frame(s);
        assert_eq!(h.opcode, wire::OP_READ);
        // Only the header: the client must refuse before reading the body.
        let mut out = Vec::new();
        FrameHeader { body_len: 1_048_597, opcode: wire::OP_RECORDS, flags: 0, reserved: 0, request_id: h.request_id }
            .encode(&mut out);
        s.write_all(&out).unwrap();
    });
    let mut client = Client::connect_with(&f.path, options()).unwrap();
    match client.read(1, &ReadOptions::default()) {
        Err(Error::Protocol(m)) => assert!(m.contains("max_reply_body"), "{}", m),
        other => panic!("{:?}", other),
    }
    assert!(matches!(client.status(), Err(Error::Protocol(_))));
}

#[test]
fn a_reply_to_no_request_and_a_wrong_reply_type_are_violations() {
    let f = fake(2, |i, s| {
        greet(s);
        let (h, _) = read_frame(s);
        if i == 0 {
            send(s, wire::OP_ACK, 0, h.request_id + 100, &[0u8; 16]);
        } else {
            send(s, wire::OP_END, 0, h.request_id, &[0u8; 8]); // END for a STATUS
        }
    });
    for _ in 0..2 {
        let mut client = Client::connect_with(&f.path, options()).unwrap();
        match client.status() {
            Err(e @ Error::Protocol(_)) => assert!(e.is_fatal()),
            other => panic!("{:?}", other),
        }
    }
}

#[test]
fn an_unknown_error_code_is_kept() {
    let f = fake(1, |_, s| {
        greet(s);
        let (h, _) = read_frame(s);
        send(s, wire::OP_ERROR, 0, h.request_id, &error_body(77, "from the future"));
        let (h, _) = read_frame(s);
        send(s, wire::OP_OK, 0, h.request_id, &5u64.to_le_bytes());
    });
    let mut client = Client::connect_with(&f.path, options()).unwrap();
    match client.status() {
        Err(Error::Daemon { code, message }) => {
            assert_eq!(code, ErrorCode::Other(77));
            assert_eq!(code.as_u16(), 77);
            assert_eq!(message, "from the future");
        }
        other => panic!("{:?}", other),
    }
    assert_eq!(client.truncate(5).unwrap(), 5);
}

#[test]
fn no_reply_within_io_timeout_is_a_timeout_and_the_reply_is_dropped_later() {
    let f = fake(1, |_, s| {
        greet(s);
        let (first, _) = read_frame(s);
        let (second, _) = read_frame(s); // sent after the first timed out
        send(s, wire::OP_OK, 0, first.request_id, &1u64.to_le_bytes());
        send(s, wire::OP_OK, 0, second.request_id, &2u64.to_le_bytes());
    });
    let mut client =
        Client::connect_with(&f.path, ClientOptions { io_timeout: Some(Duration::from_millis(50)), ..options() })
            .unwrap();
    assert!(matches!(client.truncate(1), Err(Error::Timeout)));
    // The late OK of the first TRUNCATE is dropped; the second gets its own.
    client.set_io_timeout(Some(Duration::from_secs(20)));
    assert_eq!(client.truncate(2).unwrap(), 2);
}
