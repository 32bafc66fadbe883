// The crate's encoders, decoders and limit checks against the shared
// conformance vectors (tests/protocol_vectors/vectors.json, schema in its
// README.md), so this client and the others cannot drift apart.
//
// What a client can check (README "What a consumer checks"):
// - every vector's header decodes to `header`;
// - requests: a request whose body is given and `canonical` is encoded by
//   this crate from `body` to exactly `hex`; APPENDs' encoded_batch_bytes
//   (0 and 16 extra bytes); with a `context`, the local limit check accepts
//   what the daemon accepts and refuses what it refuses for size, with the
//   same code. Requests with no decodable body (bad layouts, stages header
//   and body) are bytes this client never produces; they are counted only.
// - replies: valid ones decode to `body` (and re-encode to `hex` when
//   canonical, with the encoder below); invalid ones are refused.
// - exchanges: frames exist, directions match, replies answer a request.
//
// The JSON is read with the small reader at the end (the crate uses no
// crates); the vector file's restrictions (README "File format") keep it small.

use std::path::PathBuf;

use sidewal::wire::{self, AppendRecord, FrameHeader, ReadRequest, Record, Reply};
use sidewal::{Client, ClientOptions, Error, ErrorCode, Limits, LimitsSource};

fn vectors_path() -> PathBuf {
    match std::env::var_os("SIDEWAL_VECTORS") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/protocol_vectors/vectors.json"),
    }
}

fn load() -> Json {
    let path = vectors_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {} (set SIDEWAL_VECTORS to the vectors file)", path.display(), e));
    let doc = parse_json(&text).unwrap_or_else(|e| panic!("{}: {}", path.display(), e));
    assert_eq!(doc.get("format").str(), "sidewal protocol conformance vectors");
    assert_eq!(doc.get("protocol_version").u64(), 1);
    doc
}

fn hex_of(v: &Json) -> Vec<u8> {
    wire::unhex(v.str()).unwrap_or_else(|| panic!("bad hex {:?}", v.str()))
}

fn check_header(name: &str, bytes: &[u8], want: &Json) -> FrameHeader {
    let h = FrameHeader::decode(bytes).unwrap_or_else(|| panic!("{}: shorter than a header", name));
    assert_eq!(u64::from(h.body_len), want.get("body_len").u64(), "{}: body_len", name);
    assert_eq!(u64::from(h.opcode), want.get("opcode").u64(), "{}: opcode", name);
    assert_eq!(u64::from(h.flags), want.get("flags").u64(), "{}: flags", name);
    assert_eq!(u64::from(h.reserved), want.get("reserved").u64(), "{}: reserved", name);
    assert_eq!(h.request_id, want.get("request_id").u64(), "{}: request_id", name);
    h
}

// ---- Requests.

// The records of an APPEND body, owning their payloads.
fn append_records(body: &Json) -> Vec<(u16, u16, u32, Vec<u8>)> {
    body.get("records")
        .arr()
        .iter()
        .map(|r| {
            let payload = hex_of(r.get("payload"));
            assert_eq!(payload.len() as u64, r.get("payload_len").u64());
            (r.get("type").u64() as u16, r.get("flags").u64() as u16, r.get("tenant_id").u64() as u32, payload)
        })
        .collect()
}

// Encodes a request from its decoded body with this crate's encoders.
fn encode_request(h: &FrameHeader, body: &Json) -> Vec<u8> {
    let id = h.request_id;
    match h.opcode {
        wire::OP_HELLO => {
            wire::encode_hello(id, h.flags, body.get("version").u64() as u16, body.get("name").str().as_bytes())
        }
        wire::OP_APPEND => {
            let owned = append_records(body);
            assert!(owned.iter().all(|r| r.1 == 0), "an APPEND record with flags is not canonical");
            let records: Vec<AppendRecord> = owned.iter().map(|r| AppendRecord::new(r.0, r.2, &r.3)).collect();
            assert_eq!(h.flags, 0);
            wire::encode_append(id, &records)
        }
        wire::OP_READ => {
            let follow = body.get("follow").u64();
            assert!(follow <= 1, "follow {} is not canonical", follow);
            wire::encode_read(
                id,
                &ReadRequest {
                    from_lsn: body.get("from_lsn").u64(),
                    max_records: body.get("max_records").u64() as u32,
                    max_bytes: body.get("max_bytes").u64() as u32,
                    follow: follow == 1,
                    flags: h.flags,
                },
            )
        }
        wire::OP_TRUNCATE => wire::encode_truncate(id, body.get("before_lsn").u64()),
        wire::OP_STATUS => wire::encode_status(id),
        wire::OP_CANCEL => wire::encode_cancel(id),
        other => panic!("no encoder for request opcode {}", other),
    }
}

// The limits a vector's context (over the file's defaults) stands for.
fn limits_for(defaults: &Json, context: &Json) -> Limits {
    let pick = |key: &str| context.try_get(key).unwrap_or_else(|| defaults.get(key)).u64();
    Limits {
        source: LimitsSource::Advertised,
        max_frame_body: pick("max_frame_body") as u32,
        max_record_bytes: pick("max_record_bytes") as u32,
        max_batch_bytes: Some(pick("max_batch_bytes")),
        record_extra_bytes: pick("record_extra_bytes") as u32,
        max_reply_body: defaults.get("max_reply_body").u64() as u32,
    }
}

#[derive(Default, Debug)]
struct Counts {
    encoded: usize,
    limit_checked: usize,
    not_producible: usize,
    decoded: usize,
    reencoded: usize,
    refused: usize,
}

fn check_request(name: &str, v: &Json, defaults: &Json, counts: &mut Counts) {
    let bytes = hex_of(v.get("hex"));
    let h = check_header(name, &bytes, v.get("header"));
    let body = v.get("body");
    if body.is_null() {
        // A layout this client's encoders cannot produce.
        assert!(!v.get("valid").bool(), "{}: valid without a body", name);
        counts.not_producible += 1;
        return;
    }
    if v.get("canonical").bool() {
        assert_eq!(wire::hex(&encode_request(&h, body)), wire::hex(&bytes), "{}: encoding", name);
        counts.encoded += 1;
    }
    if h.opcode == wire::OP_APPEND {
        let owned = append_records(body);
        let records: Vec<AppendRecord> = owned.iter().map(|r| AppendRecord::new(r.0, r.2, &r.3)).collect();
        assert_eq!(wire::append_body_len(&records), u64::from(h.body_len), "{}: body length", name);
        assert_eq!(wire::encoded_batch_bytes(&records, 0), body.get("encoded_batch_bytes").u64(), "{}", name);
        assert_eq!(wire::encoded_batch_bytes(&records, 16), body.get("encoded_batch_bytes_extra16").u64(), "{}", name);
        if let Some(context) = v.try_get("context") {
            let limits = limits_for(defaults, context);
            let verdict = limits.check_append(&records);
            let reject = v.get("reject");
            let size_code = if reject.is_null() { None } else { reject.get("error_code").opt_u64() };
            match (verdict, size_code) {
                (Ok(()), None) => {}
                (Ok(()), Some(c)) => {
                    // Refused by the daemon for what the records mean, not size.
                    assert!(c != 2 && c != 10, "{}: the client would send what the daemon refuses ({})", name, c);
                }
                (Err(Error::Refused { code, message }), Some(c)) => {
                    assert_eq!(u64::from(code.as_u16()), c, "{}: refused as {} ({})", name, code, message);
                }
                (Err(e), _) => panic!("{}: the client refuses what the daemon accepts: {}", name, e),
            }
            counts.limit_checked += 1;
        }
    }
}

// ---- Replies.

fn record_of(r: &Json, header_only: bool) -> Record {
    let payload = hex_of(r.get("payload"));
    if header_only {
        assert!(payload.is_empty());
    } else {
        assert_eq!(payload.len() as u64, r.get("payload_len").u64());
    }
    Record {
        lsn: r.get("lsn").u64(),
        record_type: r.get("type").u64() as u16,
        flags: r.get("flags").u64() as u16,
        tenant: r.get("tenant_id").u64() as u32,
        payload,
        payload_len: r.get("payload_len").u64() as u32,
    }
}

// What the vector's body says the reply is.
fn expected_reply(opcode: u8, body: &Json) -> Reply {
    match opcode {
        wire::OP_HELLO_OK => {
            let limits = body.get("limits");
            Reply::HelloOk(wire::HelloOk {
                version: body.get("version").u64() as u16,
                max_record_bytes: body.get("max_record_bytes").u64() as u32,
                first_lsn: body.get("first_lsn").u64(),
                durable_lsn: body.get("durable_lsn").u64(),
                limits: if limits.is_null() {
                    None
                } else {
                    Some(wire::LimitsBlock {
                        max_frame_body: limits.get("max_frame_body").u64() as u32,
                        max_reply_body: limits.get("max_reply_body").u64() as u32,
                        max_batch_bytes: limits.get("max_batch_bytes").u64(),
                        record_extra_bytes: limits.get("record_extra_bytes").u64() as u32,
                    })
                },
            })
        }
        wire::OP_ACK => {
            Reply::Ack(wire::Ack { first_lsn: body.get("first_lsn").u64(), count: body.get("count").u64() as u32 })
        }
        wire::OP_RECORDS => {
            let header_only = body.get("header_only").bool();
            Reply::Records {
                header_only,
                records: body.get("records").arr().iter().map(|r| record_of(r, header_only)).collect(),
            }
        }
        wire::OP_END => Reply::End { next_lsn: body.get("next_lsn").u64() },
        wire::OP_OK => Reply::Ok { first_lsn: body.get("first_lsn").u64() },
        wire::OP_STATUS_OK => Reply::StatusOk(wire::LogStatus {
            first_lsn: body.get("first_lsn").u64(),
            durable_lsn: body.get("durable_lsn").u64(),
            segments: body.get("segments").u64(),
            bytes_on_disk: body.get("bytes_on_disk").u64(),
            state: wire::DaemonState::from_u8(body.get("state").u64() as u8).expect("state"),
        }),
        wire::OP_ERROR => {
            let code = ErrorCode::from_u16(body.get("code").u64() as u16);
            let name = body.get("code_name");
            if name.is_null() {
                assert!(matches!(code, ErrorCode::Other(_)), "code_name null for {}", code);
            } else {
                assert_eq!(code.name(), name.str());
            }
            Reply::Error { code, message: body.get("message").str().to_string() }
        }
        other => panic!("no reply opcode {}", other),
    }
}

// A v1 reply encoder, here only: the client never sends replies.
fn encode_reply(h: &FrameHeader, reply: &Reply) -> Vec<u8> {
    let mut b = Vec::new();
    match reply {
        Reply::HelloOk(x) => {
            b.extend_from_slice(&x.version.to_le_bytes());
            b.extend_from_slice(&[0, 0]);
            b.extend_from_slice(&x.max_record_bytes.to_le_bytes());
            b.extend_from_slice(&x.first_lsn.to_le_bytes());
            b.extend_from_slice(&x.durable_lsn.to_le_bytes());
            if let Some(l) = &x.limits {
                b.extend_from_slice(&l.max_frame_body.to_le_bytes());
                b.extend_from_slice(&l.max_reply_body.to_le_bytes());
                b.extend_from_slice(&l.max_batch_bytes.to_le_bytes());
                b.extend_from_slice(&l.record_extra_bytes.to_le_bytes());
                b.extend_from_slice(&[0; 4]);
            }
        }
        Reply::Ack(a) => {
            b.extend_from_slice(&a.first_lsn.to_le_bytes());
            b.extend_from_slice(&a.count.to_le_bytes());
            b.extend_from_slice(&[0; 4]);
        }
        Reply::Records { header_only, records } => {
            for r in records {
                b.extend_from_slice(&r.lsn.to_le_bytes());
                b.extend_from_slice(&r.record_type.to_le_bytes());
                b.extend_from_slice(&r.flags.to_le_bytes());
                b.extend_from_slice(&r.tenant.to_le_bytes());
                b.extend_from_slice(&r.payload_len.to_le_bytes());
                if !header_only {
                    b.extend_from_slice(&r.payload);
                }
            }
        }
        Reply::End { next_lsn } => b.extend_from_slice(&next_lsn.to_le_bytes()),
        Reply::Ok { first_lsn } => b.extend_from_slice(&first_lsn.to_le_bytes()),
        Reply::StatusOk(s) => {
            for v in [s.first_lsn, s.durable_lsn, s.segments, s.bytes_on_disk] {
                b.extend_from_slice(&v.to_le_bytes());
            }
            b.push(s.state.as_u8());
            b.extend_from_slice(&[0; 7]);
        }
        Reply::Error { code, message } => {
            b.extend_from_slice(&code.as_u16().to_le_bytes());
            b.extend_from_slice(&[0, 0]);
            b.extend_from_slice(&(message.len() as u32).to_le_bytes());
            b.extend_from_slice(message.as_bytes());
        }
    }
    let mut out = Vec::new();
    FrameHeader { body_len: b.len() as u32, reserved: 0, ..*h }.encode(&mut out);
    out.extend_from_slice(&b);
    out
}

fn check_reply(name: &str, v: &Json, defaults: &Json, counts: &mut Counts) {
    let bytes = hex_of(v.get("hex"));
    let h = check_header(name, &bytes, v.get("header"));
    let reject = v.get("reject");
    if !reject.is_null() && reject.get("stage").str() == "frame_size" {
        let max = v.try_get("context").and_then(|c| c.try_get("max_reply_body")).unwrap_or_else(|| defaults.get("max_reply_body")).u64();
        assert!(u64::from(h.body_len) > max, "{}: within max_reply_body", name);
        counts.refused += 1;
        return;
    }
    let decoded = wire::split_frame(&bytes).and_then(|(h, body)| wire::decode_reply(&h, body));
    if v.get("valid").bool() {
        let got = decoded.unwrap_or_else(|e| panic!("{}: refused a valid reply: {}", name, e));
        let want = expected_reply(h.opcode, v.get("body"));
        assert_eq!(got, want, "{}: decoded body", name);
        counts.decoded += 1;
        if v.get("canonical").bool() {
            assert_eq!(wire::hex(&encode_reply(&h, &want)), wire::hex(&bytes), "{}: re-encoding", name);
            counts.reencoded += 1;
        }
    } else {
        if let Ok(r) = decoded {
            panic!("{}: accepted an invalid reply ({}): {:?}", name, v.get("description").str(), r);
        }
        counts.refused += 1;
    }
}

#[test]
fn every_vector() {
    let doc = load();
    let defaults = doc.get("defaults");
    // The crate's defaults are the file's.
    let d = Limits::defaults();
    assert_eq!(u64::from(d.max_frame_body), defaults.get("max_frame_body").u64());
    assert_eq!(u64::from(d.max_record_bytes), defaults.get("max_record_bytes").u64());
    assert_eq!(d.max_batch_bytes, Some(defaults.get("max_batch_bytes").u64()));
    assert_eq!(u64::from(d.max_reply_body), defaults.get("max_reply_body").u64());
    assert_eq!(u64::from(d.record_extra_bytes), defaults.get("record_extra_bytes").u64());
    assert_eq!(u64::from(wire::RECORDS_FRAME_BUDGET), defaults.get("records_frame_budget").u64());

    let mut counts = Counts::default();
    let mut names = std::collections::HashSet::new();
    let vectors = doc.get("vectors").arr();
    assert!(!vectors.is_empty());
    for v in vectors {
        let name = v.get("name").str();
        assert!(names.insert(name.to_string()), "duplicate vector {}", name);
        match v.get("direction").str() {
            "request" => check_request(name, v, defaults, &mut counts),
            "reply" => check_reply(name, v, defaults, &mut counts),
            other => panic!("{}: direction {}", name, other),
        }
    }
    eprintln!("{} vectors: {:?}", vectors.len(), counts);
    assert!(counts.encoded > 0 && counts.decoded > 0 && counts.refused > 0 && counts.limit_checked > 0);
}

#[test]
fn every_exchange_refers_to_vectors_in_the_right_direction() {
    let doc = load();
    let by_name: std::collections::HashMap<&str, &Json> =
        doc.get("vectors").arr().iter().map(|v| (v.get("name").str(), v)).collect();
    for x in doc.get("exchanges").arr() {
        let name = x.get("name").str();
        let mut requests = std::collections::HashSet::new();
        for f in x.get("frames").arr() {
            let v = by_name.get(f.get("vector").str()).unwrap_or_else(|| panic!("{}: no vector {}", name, f.get("vector").str()));
            let id = v.get("header").get("request_id").u64();
            match f.get("from").str() {
                "client" => {
                    assert_eq!(v.get("direction").str(), "request", "{}", name);
                    requests.insert(id);
                }
                "daemon" => {
                    assert_eq!(v.get("direction").str(), "reply", "{}", name);
                    assert!(id == 0 || requests.contains(&id), "{}: reply to {} before any such request", name, id);
                }
                other => panic!("{}: from {}", name, other),
            }
        }
    }
}

// Plays every exchange the client can take part in through the real Client
// over a socket: a scripted peer checks that each request the client sends is
// the vector's bytes (the request_id aside: the peer maps the vector's ids to
// the client's) and answers with the vector's replies; the client's results
// must be what those replies say. Exchanges whose requests a client never
// sends (invalid ones, a HELLO without LIMITS) are skipped and counted.
#[test]
fn the_client_plays_every_exchange() {
    let doc = load();
    let by_name: std::collections::HashMap<&str, &Json> =
        doc.get("vectors").arr().iter().map(|v| (v.get("name").str(), v)).collect();
    let hello_ok_limits = hex_of(by_name.get("hello_ok_limits").expect("hello_ok_limits").get("hex"));
    let (mut played, mut skipped) = (Vec::new(), Vec::new());
    for (n, x) in doc.get("exchanges").arr().iter().enumerate() {
        let name = x.get("name").str();
        let frames: Vec<(bool, &Json)> = x
            .get("frames")
            .arr()
            .iter()
            .map(|f| (f.get("from").str() == "client", *by_name.get(f.get("vector").str()).expect("vector")))
            .collect();
        let opcode = |v: &Json| v.get("header").get("opcode").u64() as u8;
        let flags = |v: &Json| v.get("header").get("flags").u64() as u8;
        // The client's first HELLO asks for LIMITS; one without it is only
        // the fallback after a refusal.
        let producible = frames.iter().enumerate().filter(|(_, f)| f.0).all(|(k, (_, v))| {
            v.get("valid").bool() && !(k == 0 && opcode(v) == wire::OP_HELLO && flags(v) != wire::HELLO_LIMITS)
        });
        if !producible {
            skipped.push(name);
            continue;
        }
        // HELLO exchanges (and an unprompted first frame) are the connect itself.
        let handshake = !frames[0].0 || opcode(frames[0].1) == wire::OP_HELLO;
        let path = PathBuf::from(format!("/tmp/swrs-vec-{}-{}.sock", std::process::id(), n));
        let _ = std::fs::remove_file(&path);
        let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        let script: Vec<(bool, Vec<u8>)> = frames.iter().map(|(c, v)| (*c, hex_of(v.get("hex")))).collect();
        let preface = if handshake { None } else { Some(hello_ok_limits.clone()) };
        let closes = x.get("connection_closed").bool();
        let exchange = name.to_string();
        let server = std::thread::spawn(move || serve_script(&exchange, listener, preface, script, closes));
        let options = ClientOptions {
            name: "db-1".to_string(),
            io_timeout: Some(std::time::Duration::from_secs(10)),
            ..ClientOptions::default()
        };
        let connected = Client::connect_with(&path, options);
        if handshake {
            let last = frames[frames.len() - 1].1;
            match (opcode(last), connected) {
                (wire::OP_HELLO_OK, Ok(client)) => {
                    let body = last.get("body");
                    assert_eq!(u64::from(client.limits().max_record_bytes), body.get("max_record_bytes").u64(), "{}", name);
                    assert_eq!(client.limits().source == LimitsSource::Advertised, !body.get("limits").is_null(), "{}", name);
                }
                (wire::OP_ERROR, Err(e)) => {
                    assert_eq!(e.code().map(|c| u64::from(c.as_u16())), Some(last.get("body").get("code").u64()), "{}", name)
                }
                (_, other) => panic!("{}: connect gave {:?}", name, other.map(|_| ())),
            }
        } else {
            let mut client = connected.unwrap_or_else(|e| panic!("{}: connect: {}", name, e));
            play(name, &mut client, &frames);
        }
        server.join().unwrap_or_else(|_| panic!("{}: the scripted peer failed", name));
        let _ = std::fs::remove_file(&path);
        played.push(name);
    }
    eprintln!("played {:?}; skipped (requests a client never sends) {:?}", played, skipped);
    assert!(played.len() >= 10, "{:?}", played);
}

// The scripted peer: an optional HELLO handshake, then the exchange's frames.
fn serve_script(
    name: &str,
    listener: std::os::unix::net::UnixListener,
    preface: Option<Vec<u8>>,
    script: Vec<(bool, Vec<u8>)>,
    closes: bool,
) {
    use std::io::{Read, Write};
    let (mut s, _) = listener.accept().expect("accept");
    let read_frame = |s: &mut std::os::unix::net::UnixStream| {
        let mut h = [0u8; 16];
        s.read_exact(&mut h).expect("header");
        let header = FrameHeader::decode(&h).unwrap();
        let mut body = vec![0u8; header.body_len as usize];
        s.read_exact(&mut body).expect("body");
        (header, body)
    };
    if let Some(mut hello_ok) = preface {
        let (h, _) = read_frame(&mut s);
        assert_eq!((h.opcode, h.flags), (wire::OP_HELLO, wire::HELLO_LIMITS));
        hello_ok[8..16].copy_from_slice(&h.request_id.to_le_bytes());
        s.write_all(&hello_ok).unwrap();
    }
    // The vector's request_id -> the client's.
    let mut ids = std::collections::HashMap::new();
    ids.insert(0u64, 0u64);
    for (from_client, bytes) in script {
        let want = FrameHeader::decode(&bytes).unwrap();
        if from_client {
            let (h, body) = read_frame(&mut s);
            assert_eq!((h.opcode, h.flags, h.reserved), (want.opcode, want.flags, want.reserved), "{}", name);
            assert_eq!(wire::hex(&body), wire::hex(&bytes[16..]), "{}: request body", name);
            ids.insert(want.request_id, h.request_id);
        } else {
            let id = *ids.get(&want.request_id).unwrap_or_else(|| panic!("{}: reply to an unknown id", name));
            let mut frame = bytes.clone();
            frame[8..16].copy_from_slice(&id.to_le_bytes());
            s.write_all(&frame).unwrap();
        }
    }
    if closes {
        let _ = s.shutdown(std::net::Shutdown::Both);
    } else {
        // Stay open until the client is done (it closes on drop).
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
    }
}

fn read_options(v: &Json) -> sidewal::ReadOptions {
    let body = v.get("body");
    let flags = v.get("header").get("flags").u64() as u8;
    sidewal::ReadOptions {
        max_records: body.get("max_records").u64() as u32,
        max_bytes: body.get("max_bytes").u64() as u32,
        skip_dead: flags & wire::READ_SKIP_DEAD != 0,
        header_only: flags & wire::READ_HEADER_ONLY != 0,
    }
}

fn daemon_code(v: &Json) -> Option<u64> {
    if v.get("header").get("opcode").u64() == u64::from(wire::OP_ERROR) {
        Some(v.get("body").get("code").u64())
    } else {
        None
    }
}

fn assert_daemon_error<T: std::fmt::Debug>(name: &str, got: sidewal::Result<T>, v: &Json) {
    match got {
        Err(Error::Daemon { code, message }) => {
            assert_eq!(Some(u64::from(code.as_u16())), daemon_code(v), "{}", name);
            assert_eq!(message, v.get("body").get("message").str(), "{}", name);
        }
        other => panic!("{}: expected the daemon's ERROR, got {:?}", name, other),
    }
}

// Drives `client` through the frames: each client frame is the call that
// sends it; each daemon frame is checked against what that call returns.
fn play(name: &str, client: &mut Client, frames: &[(bool, &Json)]) {
    let mut i = 0;
    while i < frames.len() {
        let (from_client, v) = frames[i];
        let h = v.get("header");
        let body = v.get("body");
        i += 1;
        if !from_client {
            // An ACK (or ERROR) for the oldest pipelined APPEND.
            let (_, got) = client.next_ack().unwrap_or_else(|| panic!("{}: no APPEND in flight", name));
            match daemon_code(v) {
                None => {
                    let ack = got.unwrap_or_else(|e| panic!("{}: {}", name, e));
                    assert_eq!((ack.first_lsn, u64::from(ack.count)), (body.get("first_lsn").u64(), body.get("count").u64()), "{}", name);
                }
                Some(_) => assert_daemon_error(name, got, v),
            }
            continue;
        }
        match h.get("opcode").u64() as u8 {
            wire::OP_APPEND => {
                let owned = append_records(body);
                let records: Vec<AppendRecord> = owned.iter().map(|r| AppendRecord::new(r.0, r.2, &r.3)).collect();
                client.send_append(&records).unwrap_or_else(|e| panic!("{}: {}", name, e));
            }
            wire::OP_READ if body.get("follow").u64() == 0 => {
                let got = client.read(body.get("from_lsn").u64(), &read_options(v));
                let mut records = Vec::new();
                loop {
                    let (_, r) = frames[i];
                    i += 1;
                    match r.get("header").get("opcode").u64() as u8 {
                        wire::OP_RECORDS => {
                            let rb = r.get("body");
                            let header_only = rb.get("header_only").bool();
                            records.extend(rb.get("records").arr().iter().map(|x| record_of(x, header_only)));
                        }
                        wire::OP_END => {
                            let got = got.unwrap_or_else(|e| panic!("{}: {}", name, e));
                            assert_eq!(got.records, records, "{}", name);
                            assert_eq!(got.next_lsn, r.get("body").get("next_lsn").u64(), "{}", name);
                            break;
                        }
                        _ => {
                            assert_daemon_error(name, got, r);
                            break;
                        }
                    }
                }
            }
            wire::OP_READ => {
                let mut follow = client.follow(body.get("from_lsn").u64(), &read_options(v)).expect("follow");
                loop {
                    let (c, r) = frames[i];
                    i += 1;
                    if c {
                        assert_eq!(r.get("header").get("opcode").u64() as u8, wire::OP_CANCEL, "{}", name);
                        follow.cancel().expect("cancel");
                        continue;
                    }
                    let got = follow.recv();
                    match r.get("header").get("opcode").u64() as u8 {
                        wire::OP_RECORDS => {
                            let rb = r.get("body");
                            let header_only = rb.get("header_only").bool();
                            let want: Vec<Record> = rb.get("records").arr().iter().map(|x| record_of(x, header_only)).collect();
                            assert_eq!(got.expect("records"), sidewal::FollowEvent::Records(want), "{}", name);
                        }
                        wire::OP_END => {
                            let next_lsn = r.get("body").get("next_lsn").u64();
                            assert_eq!(got.expect("end"), sidewal::FollowEvent::End { next_lsn }, "{}", name);
                            break;
                        }
                        _ => {
                            assert_daemon_error(name, got, r);
                            break;
                        }
                    }
                }
            }
            wire::OP_TRUNCATE => {
                let got = client.truncate(body.get("before_lsn").u64());
                let (_, r) = frames[i];
                i += 1;
                match daemon_code(r) {
                    None => assert_eq!(got.expect("truncate"), r.get("body").get("first_lsn").u64(), "{}", name),
                    Some(_) => assert_daemon_error(name, got, r),
                }
            }
            wire::OP_STATUS => {
                let got = client.status();
                let (_, r) = frames[i];
                i += 1;
                match daemon_code(r) {
                    None => match expected_reply(wire::OP_STATUS_OK, r.get("body")) {
                        Reply::StatusOk(want) => assert_eq!(got.expect("status"), want, "{}", name),
                        _ => unreachable!(),
                    },
                    Some(_) => assert_daemon_error(name, got, r),
                }
            }
            other => panic!("{}: no client call sends opcode {}", name, other),
        }
    }
    assert_eq!(client.appends_in_flight(), 0, "{}: ACKs missing from the exchange", name);
}

// ---- A JSON reader for the vector file's subset: objects, arrays, strings
// without escapes, unsigned integers (u64), true, false, null.

#[derive(Debug, PartialEq)]
enum Json {
    Obj(Vec<(String, Json)>),
    Arr(Vec<Json>),
    Str(String),
    Num(u64),
    Bool(bool),
    Null,
}

impl Json {
    fn try_get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            other => panic!("not an object: {:?}", other),
        }
    }
    fn get(&self, key: &str) -> &Json {
        self.try_get(key).unwrap_or_else(|| panic!("no key {:?}", key))
    }
    fn arr(&self) -> &[Json] {
        match self {
            Json::Arr(a) => a,
            other => panic!("not an array: {:?}", other),
        }
    }
    fn str(&self) -> &str {
        match self {
            Json::Str(s) => s,
            other => panic!("not a string: {:?}", other),
        }
    }
    fn u64(&self) -> u64 {
        match self {
            Json::Num(n) => *n,
            other => panic!("not an integer: {:?}", other),
        }
    }
    fn opt_u64(&self) -> Option<u64> {
        match self {
            Json::Null => None,
            other => Some(other.u64()),
        }
    }
    fn bool(&self) -> bool {
        match self {
            Json::Bool(b) => *b,
            other => panic!("not a bool: {:?}", other),
        }
    }
    fn is_null(&self) -> bool {
        *self == Json::Null
    }
}

fn parse_json(text: &str) -> Result<Json, String> {
    let mut p = Parser { b: text.as_bytes(), at: 0 };
    let v = p.value()?;
    p.ws();
    if p.at != p.b.len() {
        return Err(format!("trailing bytes at {}", p.at));
    }
    Ok(v)
}

struct Parser<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Parser<'a> {
    fn ws(&mut self) {
        while self.at < self.b.len() && matches!(self.b[self.at], b' ' | b'\n' | b'\r' | b'\t') {
            self.at += 1;
        }
    }
    fn peek(&mut self) -> Result<u8, String> {
        self.ws();
        self.b.get(self.at).copied().ok_or_else(|| "unexpected end".to_string())
    }
    fn eat(&mut self, c: u8) -> Result<(), String> {
        if self.peek()? != c {
            return Err(format!("expected {:?} at {}", c as char, self.at));
        }
        self.at += 1;
        Ok(())
    }
    fn word(&mut self, w: &str, v: Json) -> Result<Json, String> {
        if !self.b[self.at..].starts_with(w.as_bytes()) {
            return Err(format!("bad token at {}", self.at));
        }
        self.at += w.len();
        Ok(v)
    }
    fn string(&mut self) -> Result<String, String> {
        self.eat(b'"')?;
        let start = self.at;
        while self.at < self.b.len() && self.b[self.at] != b'"' {
            if self.b[self.at] == b'\\' || self.b[self.at] < 0x20 {
                return Err(format!("escape or control character at {} (not in the vector format)", self.at));
            }
            self.at += 1;
        }
        if self.at == self.b.len() {
            return Err("unterminated string".to_string());
        }
        self.at += 1;
        String::from_utf8(self.b[start..self.at - 1].to_vec()).map_err(|e| e.to_string())
    }
    fn value(&mut self) -> Result<Json, String> {
        match self.peek()? {
            b'{' => {
                self.at += 1;
                let mut fields = Vec::new();
                if self.peek()? == b'}' {
                    self.at += 1;
                    return Ok(Json::Obj(fields));
                }
                loop {
                    let k = self.string()?;
                    self.eat(b':')?;
                    fields.push((k, self.value()?));
                    match self.peek()? {
                        b',' => self.at += 1,
                        b'}' => {
                            self.at += 1;
                            return Ok(Json::Obj(fields));
                        }
                        _ => return Err(format!("expected , or }} at {}", self.at)),
                    }
                }
            }
            b'[' => {
                self.at += 1;
                let mut items = Vec::new();
                if self.peek()? == b']' {
                    self.at += 1;
                    return Ok(Json::Arr(items));
                }
                loop {
                    items.push(self.value()?);
                    match self.peek()? {
                        b',' => self.at += 1,
                        b']' => {
                            self.at += 1;
                            return Ok(Json::Arr(items));
                        }
                        _ => return Err(format!("expected , or ] at {}", self.at)),
                    }
                }
            }
            b'"' => self.string().map(Json::Str),
            b't' => self.word("true", Json::Bool(true)),
            b'f' => self.word("false", Json::Bool(false)),
            b'n' => self.word("null", Json::Null),
            b'0'..=b'9' => {
                let mut n: u64 = 0;
                while self.at < self.b.len() && self.b[self.at].is_ascii_digit() {
                    n = n
                        .checked_mul(10)
                        .and_then(|n| n.checked_add(u64::from(self.b[self.at] - b'0')))
                        .ok_or_else(|| format!("integer above u64 at {}", self.at))?;
                    self.at += 1;
                }
                if self.at < self.b.len() && matches!(self.b[self.at], b'.' | b'e' | b'E') {
                    return Err(format!("not an unsigned integer at {}", self.at));
                }
                Ok(Json::Num(n))
            }
            c => Err(format!("unexpected {:?} at {}", c as char, self.at)),
        }
    }
}

#[test]
fn the_json_reader_reads_the_vector_subset_and_refuses_the_rest() {
    let v = parse_json(r#" {"a": [1, 18446744073709551615, true, false, null, "x é"], "b": {}, "c": []} "#).unwrap();
    assert_eq!(v.get("a").arr()[1].u64(), u64::MAX);
    assert_eq!(v.get("a").arr()[5].str(), "x é");
    assert!(v.get("a").arr()[4].is_null());
    assert_eq!(v.get("b"), &Json::Obj(vec![]));
    assert_eq!(v.get("c").arr().len(), 0);
    for bad in [r#"{"a": 1.5}"#, r#"{"a": -1}"#, r#"["a\"b"]"#, "18446744073709551616", r#"{"a" 1}"#, "[1,]", "[1] 2", "tru"] {
        assert!(parse_json(bad).is_err(), "{}", bad);
    }
}
