// The client against the real sidewald (tests/support starts one per test on
// a temporary directory). Each test names the behaviour of docs/protocol.md
// it checks.

mod support;

use std::time::Duration;

use sidewal::wire;
use sidewal::{
    AppendRecord, Client, ClientOptions, DaemonState, Error, ErrorCode, FollowEvent, LimitsSource, ReadOptions,
};
use support::TestDaemon;

fn options() -> ClientOptions {
    ClientOptions { io_timeout: Some(Duration::from_secs(30)), ..ClientOptions::default() }
}

fn connect(daemon: &TestDaemon) -> Client {
    Client::connect_with(daemon.socket(), options()).expect("connect")
}

fn payload(i: u64, len: usize) -> Vec<u8> {
    (0..len).map(|j| (i as usize * 31 + j * 7) as u8).collect()
}

#[test]
fn hello_advertises_the_default_limits_and_the_client_adopts_them() {
    let daemon = TestDaemon::start();
    let client = connect(&daemon);
    let l = client.limits();
    assert_eq!(l.source, LimitsSource::Advertised);
    assert_eq!(l.max_frame_body, 4 << 20);
    assert_eq!(l.max_record_bytes, 1 << 20);
    assert_eq!(l.max_batch_bytes, Some(4 << 20));
    assert_eq!(l.record_extra_bytes, 0);
    assert_eq!(l.max_reply_body, 1_048_596); // max(1 MiB, 20 + max_record_bytes)
    let h = client.hello_reply();
    assert_eq!((h.version, h.first_lsn, h.durable_lsn), (1, 1, 0));
}

#[test]
fn configured_limits_are_advertised_and_enforced_before_sending() {
    let daemon = TestDaemon::start_with("wal:\n  max_record_bytes: 64KiB\nlimits:\n  max_frame_bytes: 1MiB\n");
    let mut client = connect(&daemon);
    let l = *client.limits();
    assert_eq!(l.max_record_bytes, 65536);
    assert_eq!(l.max_frame_body, 1 << 20);
    assert_eq!(l.max_reply_body, 1 << 20);
    // max(4 MiB, 2 x round_up(24 + 64 KiB, 8)), at most a segment.
    assert_eq!(l.max_batch_bytes, Some(4 << 20));

    let big = vec![1u8; 65537];
    match client.append_one(1, 0, &big) {
        Err(Error::Refused { code: ErrorCode::RecordTooLarge, .. }) => {}
        other => panic!("{:?}", other),
    }
    // 17 records of 64 KiB: each allowed, together above the 1 MiB frame.
    let full = vec![2u8; 65536];
    let batch: Vec<AppendRecord> = (0..17).map(|_| AppendRecord::new(1, 0, &full)).collect();
    match client.append(&batch) {
        Err(e @ Error::Refused { .. }) => assert_eq!(e.code(), Some(ErrorCode::FrameTooLarge)),
        other => panic!("{:?}", other),
    }
    // The largest record is accepted, and read back whole.
    let lsn = client.append_one(1, 0, &full).expect("append");
    assert_eq!(lsn, 1);
    let read = client.read(1, &ReadOptions::default()).expect("read");
    assert_eq!(read.records[0].payload, full);
}

#[test]
fn daemon_refuses_what_the_client_would_have_refused() {
    // With the local checks off, the daemon's own answers agree with the
    // limits it advertised (docs/protocol.md "Limits").
    let daemon = TestDaemon::start_with("wal:\n  max_record_bytes: 64KiB\n");
    let mut client = Client::connect_with(daemon.socket(), ClientOptions { check_limits: false, ..options() })
        .expect("connect");
    let max_batch = client.limits().max_batch_bytes.unwrap();
    match client.append_one(1, 0, &vec![0u8; 65537]) {
        Err(Error::Daemon { code: ErrorCode::RecordTooLarge, message }) => assert!(!message.is_empty()),
        other => panic!("{:?}", other),
    }
    // Empty records encode to 24 bytes each: exactly max_batch_bytes is
    // accepted, one more record is RECORD_TOO_LARGE.
    let n = (max_batch / 24) as usize;
    assert_eq!(max_batch % 24, 16); // 4 MiB = 174762 x 24 + 16
    let empties: Vec<AppendRecord> = (0..n + 1).map(|_| AppendRecord::new(1, 0, &[])).collect();
    match client.append(&empties) {
        Err(Error::Daemon { code: ErrorCode::RecordTooLarge, .. }) => {}
        other => panic!("{:?}", other),
    }
    let ack = client.append(&empties[..n]).expect("a batch within max_batch_bytes");
    assert_eq!((ack.first_lsn, ack.count), (1, n as u32));
    // Exactly at the limit: records of 8 bytes encode to 32; make the sum
    // equal max_batch_bytes with one larger record.
    let eight = [0u8; 8];
    let m = (max_batch / 32 - 1) as usize;
    let rest = max_batch - 32 * m as u64; // encodes exactly: 24 + payload, multiple of 8
    let tail = vec![0u8; (rest - 24) as usize];
    let mut exact: Vec<AppendRecord> = (0..m).map(|_| AppendRecord::new(1, 0, &eight)).collect();
    exact.push(AppendRecord::new(1, 0, &tail));
    assert_eq!(wire::encoded_batch_bytes(&exact, 0), max_batch);
    assert!(wire::append_body_len(&exact) <= u64::from(client.limits().max_frame_body));
    client.append(&exact).expect("exactly max_batch_bytes is accepted");
    let one_more = vec![0u8; (rest - 24 + 1) as usize];
    *exact.last_mut().unwrap() = AppendRecord::new(1, 0, &one_more);
    match client.append(&exact) {
        Err(Error::Daemon { code: ErrorCode::RecordTooLarge, .. }) => {}
        other => panic!("{:?}", other),
    }
}

#[test]
fn frame_above_max_frame_body_gets_frame_too_large_and_the_connection_closes() {
    let daemon = TestDaemon::start_with("wal:\n  max_record_bytes: 64KiB\nlimits:\n  max_frame_bytes: 128KiB\n");
    let mut client = Client::connect_with(daemon.socket(), ClientOptions { check_limits: false, ..options() })
        .expect("connect");
    let rec = vec![0u8; 65536];
    let id = client.send_append(&[AppendRecord::new(1, 0, &rec), AppendRecord::new(1, 0, &rec)]).expect("send");
    match client.wait_ack(id) {
        Err(e) => {
            assert_eq!(e.code(), Some(ErrorCode::FrameTooLarge), "{}", e);
            assert!(e.is_fatal());
        }
        Ok(ack) => panic!("{:?}", ack),
    }
    match client.status() {
        Err(Error::Closed { .. }) => {}
        other => panic!("{:?}", other),
    }
    // Another connection is unaffected.
    let mut other = connect(&daemon);
    assert_eq!(other.status().expect("status").state, DaemonState::Ready);
}

#[test]
fn single_and_batch_appends_get_contiguous_lsns_and_read_back_byte_for_byte() {
    let daemon = TestDaemon::start();
    let mut client = connect(&daemon);
    let mut sent = Vec::new();
    assert_eq!(client.append_one(3, 9, b"one").unwrap(), 1);
    sent.push((3u16, 9u32, b"one".to_vec()));
    let payloads: Vec<Vec<u8>> = (0..5).map(|i| payload(i, 100 * i as usize)).collect();
    let batch: Vec<AppendRecord> =
        payloads.iter().enumerate().map(|(i, p)| AppendRecord::new(i as u16, 100 + i as u32, p)).collect();
    let ack = client.append(&batch).unwrap();
    assert_eq!((ack.first_lsn, ack.count), (2, 5));
    for (i, p) in payloads.iter().enumerate() {
        sent.push((i as u16, 100 + i as u32, p.clone()));
    }
    let read = client.read(1, &ReadOptions::default()).unwrap();
    assert_eq!(read.next_lsn, 7);
    assert_eq!(read.records.len(), 6);
    for (i, r) in read.records.iter().enumerate() {
        assert_eq!(r.lsn, i as u64 + 1);
        assert_eq!((r.record_type, r.tenant, &r.payload), (sent[i].0, sent[i].1, &sent[i].2));
        assert_eq!(r.payload_len as usize, r.payload.len());
    }
    // Past the durable end: nothing, and next_lsn = from_lsn.
    let past = client.read(100, &ReadOptions::default()).unwrap();
    assert!(past.records.is_empty());
    assert_eq!(past.next_lsn, 100);
}

// Voluntary context switches of the calling thread so far (Linux /proc).
fn voluntary_switches_of_this_thread() -> u64 {
    let status = std::fs::read_to_string("/proc/thread-self/status").expect("/proc/thread-self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("voluntary_ctxt_switches")
}

#[test]
fn one_at_a_time_appends_wake_the_caller_once_per_reply() {
    // A thread blocked in read() on a Unix stream socket is also woken when
    // the daemon reads the request it sent; the client waits in poll(2) so
    // that only the reply wakes it (~1 switch per append, not ~2).
    let daemon = TestDaemon::start();
    let mut client = connect(&daemon);
    for i in 0..50 {
        client.append_one(1, 0, &payload(i, 100)).unwrap();
    }
    const COUNTED: u64 = 300;
    let before = voluntary_switches_of_this_thread();
    for i in 0..COUNTED {
        client.append_one(1, 0, &payload(i, 100)).unwrap();
    }
    let per_append = (voluntary_switches_of_this_thread() - before) as f64 / COUNTED as f64;
    assert!(per_append < 1.5, "{per_append} context switches per one-at-a-time append");
}

#[test]
fn pipelined_appends_complete_in_send_order() {
    let daemon = TestDaemon::start();
    let mut client =
        Client::connect_with(daemon.socket(), ClientOptions { max_in_flight: 64, ..options() }).unwrap();
    let mut ids = Vec::new();
    let mut acks = Vec::new();
    for i in 0..3000u64 {
        let p = payload(i, (i % 200) as usize);
        let records = vec![AppendRecord::new(1, 0, &p); 1 + (i % 3) as usize];
        ids.push((client.send_append(&records).unwrap(), records.len() as u32));
        if client.appends_in_flight() >= 48 {
            acks.push(client.next_ack().unwrap());
        }
    }
    while let Some(done) = client.next_ack() {
        acks.push(done);
    }
    assert_eq!(acks.len(), ids.len());
    let mut next = 1;
    for ((id, ack), (sent_id, count)) in acks.into_iter().zip(ids) {
        assert_eq!(id, sent_id);
        let ack = ack.unwrap();
        assert_eq!((ack.first_lsn, ack.count), (next, count));
        next += u64::from(count);
    }
    assert_eq!(client.status().unwrap().durable_lsn, next - 1);
}

#[test]
fn acks_can_be_awaited_out_of_order_and_blocking_calls_interleave() {
    let daemon = TestDaemon::start();
    let mut client = connect(&daemon);
    let a = client.send_append(&[AppendRecord::new(1, 0, b"a")]).unwrap();
    let b = client.send_append(&[AppendRecord::new(1, 0, b"b")]).unwrap();
    // STATUS is answered after both ACKs (they are filed for later), but its
    // durable_lsn is taken when the daemon receives it: it may not count them.
    let status = client.status().unwrap();
    assert!(status.durable_lsn <= 2);
    assert_eq!(client.appends_in_flight(), 2);
    assert_eq!(client.wait_ack(b).unwrap().first_lsn, 2);
    assert_eq!(client.wait_ack(a).unwrap().first_lsn, 1);
    assert!(client.next_ack().is_none());
    match client.wait_ack(a) {
        Err(Error::InvalidArgument(_)) => {}
        other => panic!("{:?}", other),
    }
}

#[test]
fn read_limits_and_header_only() {
    let daemon = TestDaemon::start();
    let mut client = connect(&daemon);
    let payloads: Vec<Vec<u8>> = (0..10).map(|i| payload(i, 1000)).collect();
    let batch: Vec<AppendRecord> = payloads.iter().map(|p| AppendRecord::new(1, 0, p)).collect();
    client.append(&batch).unwrap();

    let r = client.read(1, &ReadOptions { max_records: 3, ..ReadOptions::default() }).unwrap();
    assert_eq!((r.records.len(), r.next_lsn), (3, 4));
    // max_bytes: the record crossing the limit is still sent.
    let r = client.read(4, &ReadOptions { max_bytes: 1500, ..ReadOptions::default() }).unwrap();
    assert_eq!((r.records.len(), r.next_lsn), (2, 6));
    let h = client.read(1, &ReadOptions { header_only: true, ..ReadOptions::default() }).unwrap();
    assert_eq!(h.records.len(), 10);
    assert_eq!(h.next_lsn, 11);
    for r in &h.records {
        assert!(r.payload.is_empty());
        assert_eq!(r.payload_len, 1000);
    }
}

#[test]
fn large_reads_span_several_records_frames() {
    let daemon = TestDaemon::start();
    let mut client = connect(&daemon);
    // 3 MiB of 100 KiB records: RECORDS frames hold at most 1 MiB each.
    let payloads: Vec<Vec<u8>> = (0..30).map(|i| payload(i, 100 << 10)).collect();
    for chunk in payloads.chunks(10) {
        let batch: Vec<AppendRecord> = chunk.iter().map(|p| AppendRecord::new(1, 0, p)).collect();
        client.append(&batch).unwrap();
    }
    let r = client.read(1, &ReadOptions::default()).unwrap();
    assert_eq!(r.records.len(), 30);
    for (i, rec) in r.records.iter().enumerate() {
        assert_eq!(rec.payload, payloads[i]);
    }
}

#[test]
fn follow_streams_new_records_until_cancel() {
    let daemon = TestDaemon::start();
    let mut reader = connect(&daemon);
    let mut writer = connect(&daemon);
    writer.append_one(1, 0, b"before").unwrap();
    let mut follow = reader.follow(1, &ReadOptions::default()).unwrap();
    let mut got = Vec::new();
    let mut written = 1;
    while got.len() < 50 {
        if written < 50 {
            writer.append_one(1, 0, &payload(written, 10)).unwrap();
            written += 1;
        }
        match follow.recv_timeout(Duration::from_millis(5)).unwrap() {
            Some(FollowEvent::Records(records)) => got.extend(records),
            Some(FollowEvent::End { .. }) => panic!("ended"),
            None => {}
        }
    }
    for (i, r) in got.iter().enumerate() {
        assert_eq!(r.lsn, i as u64 + 1);
    }
    assert_eq!(follow.next_lsn(), 51);
    // Nothing new: the follower waits.
    assert_eq!(follow.recv_timeout(Duration::from_millis(50)).unwrap(), None);
    assert_eq!(follow.finish().unwrap(), 51);
    // The connection is usable again.
    assert_eq!(reader.status().unwrap().durable_lsn, 50);
}

#[test]
fn dropping_a_follow_cancels_it_and_the_client_goes_on() {
    let daemon = TestDaemon::start();
    let mut client = connect(&daemon);
    client.append_one(1, 0, b"x").unwrap();
    {
        let mut follow = client.follow(1, &ReadOptions::default()).unwrap();
        match follow.recv().unwrap() {
            FollowEvent::Records(r) => assert_eq!(r.len(), 1),
            other => panic!("{:?}", other),
        }
    }
    // The END of the dropped READ is skipped on the way to this ACK.
    assert_eq!(client.append_one(1, 0, b"y").unwrap(), 2);
    assert_eq!(client.read(1, &ReadOptions::default()).unwrap().records.len(), 2);
}

#[test]
fn follow_with_max_records_ends_by_itself() {
    let daemon = TestDaemon::start();
    let mut client = connect(&daemon);
    let mut writer = connect(&daemon);
    let mut follow = client.follow(1, &ReadOptions { max_records: 3, ..ReadOptions::default() }).unwrap();
    for i in 0..5 {
        writer.append_one(1, 0, &payload(i, 5)).unwrap();
    }
    let mut n = 0;
    loop {
        match follow.recv().unwrap() {
            FollowEvent::Records(r) => n += r.len(),
            FollowEvent::End { next_lsn } => {
                assert_eq!(next_lsn, 4);
                break;
            }
        }
    }
    assert_eq!(n, 3);
}

#[test]
fn shutdown_ends_followers_with_end() {
    let mut daemon = TestDaemon::start();
    let mut client = connect(&daemon);
    client.append_one(1, 0, b"x").unwrap();
    let mut follow = client.follow(1, &ReadOptions::default()).unwrap();
    match follow.recv().unwrap() {
        FollowEvent::Records(r) => assert_eq!(r.len(), 1),
        other => panic!("{:?}", other),
    }
    // terminate() waits for the exit, so END must come first: do it on
    // another thread.
    let stopper = std::thread::spawn(move || {
        let code = daemon.terminate();
        (daemon, code)
    });
    match follow.recv().unwrap() {
        FollowEvent::End { next_lsn } => assert_eq!(next_lsn, 2),
        other => panic!("{:?}", other),
    }
    drop(follow);
    let (_daemon, code) = stopper.join().unwrap();
    assert_eq!(code, Some(0));
}

#[test]
fn status_and_truncate_delete_whole_segments() {
    let daemon = TestDaemon::start_with("wal:\n  segment_bytes: 1MiB\n  max_record_bytes: 128KiB\n");
    let mut client = connect(&daemon);
    let s0 = client.status().unwrap();
    assert_eq!((s0.first_lsn, s0.durable_lsn, s0.state), (1, 0, DaemonState::Ready));
    let p = vec![7u8; 100 << 10];
    for _ in 0..40 {
        client.append_one(1, 0, &p).unwrap();
    }
    let s1 = client.status().unwrap();
    assert_eq!(s1.durable_lsn, 40);
    assert!(s1.segments >= 4, "{:?}", s1);
    assert!(s1.bytes_on_disk >= 40 * (100 << 10), "{:?}", s1);

    let first = client.truncate(30).unwrap();
    assert!(first > 1 && first <= 30, "first_lsn {}", first);
    let s2 = client.status().unwrap();
    assert_eq!(s2.first_lsn, first);
    assert!(s2.segments < s1.segments);
    // Below the first LSN: LSN_TRUNCATED, and the connection stays usable.
    match client.read(1, &ReadOptions::default()) {
        Err(Error::Daemon { code: ErrorCode::LsnTruncated, .. }) => {}
        other => panic!("{:?}", other),
    }
    let r = client.read(first, &ReadOptions::default()).unwrap();
    assert_eq!(r.records.first().map(|r| r.lsn), Some(first));
    assert_eq!(r.next_lsn, 41);
    // LSNs are never reused after truncation.
    assert_eq!(client.append_one(1, 0, b"after").unwrap(), 41);
}

#[test]
fn daemon_errors_carry_the_protocol_code_and_keep_the_connection() {
    let daemon = TestDaemon::start();
    let mut client = connect(&daemon);
    match client.read(0, &ReadOptions::default()) {
        Err(Error::Daemon { code: ErrorCode::Malformed, message }) => assert!(!message.is_empty()),
        other => panic!("{:?}", other),
    }
    for t in [0x8000u16, 0x8004, 0xFFFF] {
        match client.append_one(t, 0, b"x") {
            Err(e) => assert_eq!(e.code(), Some(ErrorCode::ReservedRecordType), "type {:#x}: {}", t, e),
            Ok(lsn) => panic!("{:#x} appended at {}", t, lsn),
        }
    }
    // A control record whose payload the daemon's decoder refuses.
    match client.append_one(0x8001, 0, b"\x01") {
        Err(Error::Daemon { code: ErrorCode::Malformed, message }) => assert!(message.contains('0'), "{}", message),
        other => panic!("{:?}", other),
    }
    // An APPEND that got an ERROR wrote nothing.
    assert_eq!(client.status().unwrap().durable_lsn, 0);
    assert_eq!(client.append_one(1, 0, b"ok").unwrap(), 1);
}

#[test]
fn unprompted_unauthorized_is_a_typed_error() {
    // uid 4294967294 is nobody's here; the daemon sends ERROR UNAUTHORIZED
    // with request_id 0 and closes.
    let daemon = TestDaemon::start_with("socket:\n  allowed_uids: [4294967294]\n");
    match Client::connect_with(daemon.socket(), options()) {
        Err(e) => {
            assert_eq!(e.code(), Some(ErrorCode::Unauthorized), "{}", e);
            assert!(e.is_fatal());
        }
        Ok(_) => panic!("connected"),
    }
}

#[test]
fn a_broken_connection_completes_everything_in_flight_with_closed() {
    let daemon = TestDaemon::start();
    let mut client = connect(&daemon);
    client.append_one(1, 0, b"x").unwrap();
    drop(daemon); // SIGKILL
    let sent = client.send_append(&[AppendRecord::new(1, 0, b"lost?")]);
    let outcome = match sent {
        Ok(id) => client.wait_ack(id),
        Err(e) => Err(e),
    };
    match outcome {
        Err(e @ Error::Closed { .. }) => assert!(e.is_fatal()),
        other => panic!("{:?}", other),
    }
    assert!(matches!(client.status(), Err(Error::Closed { .. })));
}
