//! Append throughput of the Rust client: N connections (one thread each),
//! each keeping M APPENDs of one record in flight, for a fixed time.
//!
//!     cargo run --release --example append_bench -- \
//!         --socket ./var/sidewal.sock --clients 16 --inflight 16 --seconds 10 --payload 100
//!
//! Prints one line: appends/s (each APPEND is one record, acknowledged only
//! once durable) and the latency from send to ACK (p50, p99, max) over the
//! measured window (after a one-second warm-up).

use std::process;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use sidewal::{AppendRecord, Client};

struct Args {
    socket: String,
    clients: usize,
    inflight: usize,
    seconds: f64,
    warmup: f64,
    payload: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        socket: "./var/sidewal.sock".to_string(),
        clients: 1,
        inflight: 1,
        seconds: 10.0,
        warmup: 1.0,
        payload: 100,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| usage(&format!("{} needs a value", flag)));
        let bad = |_| usage(&format!("bad value for {}: {}", flag, value));
        match flag.as_str() {
            "--socket" => a.socket = value.clone(),
            "--clients" => a.clients = value.parse().unwrap_or_else(bad),
            "--inflight" => a.inflight = value.parse().unwrap_or_else(bad),
            "--seconds" => a.seconds = value.parse().unwrap_or_else(|_| usage("bad --seconds")),
            "--warmup" => a.warmup = value.parse().unwrap_or_else(|_| usage("bad --warmup")),
            "--payload" => a.payload = value.parse().unwrap_or_else(bad),
            _ => usage(&format!("unknown flag {}", flag)),
        }
    }
    if a.clients == 0 || a.inflight == 0 {
        usage("--clients and --inflight must be at least 1");
    }
    a
}

fn usage(msg: &str) -> ! {
    eprintln!("append_bench: {}", msg);
    eprintln!(
        "usage: append_bench [--socket PATH] [--clients N] [--inflight M] [--seconds S] [--warmup S] [--payload BYTES]"
    );
    process::exit(2)
}

// One connection: keeps `inflight` APPENDs outstanding until `stop`; returns
// the latencies (ns) of the APPENDs sent inside the measured window.
fn run_client(args: &Args, measure_from: Instant, stop: &AtomicBool) -> Vec<u64> {
    let mut client = Client::connect(&args.socket).unwrap_or_else(|e| {
        eprintln!("append_bench: connect {}: {}", args.socket, e);
        process::exit(1)
    });
    let payload = vec![0x5au8; args.payload];
    let record = [AppendRecord::new(1, 0, &payload)];
    let mut sent_at = std::collections::VecDeque::with_capacity(args.inflight);
    let mut latencies = Vec::new();
    loop {
        while sent_at.len() < args.inflight && !stop.load(Ordering::Relaxed) {
            sent_at.push_back(Instant::now());
            client.send_append(&record).unwrap_or_else(|e| {
                eprintln!("append_bench: send: {}", e);
                process::exit(1)
            });
        }
        let (_, ack) = match client.next_ack() {
            Some(done) => done,
            None => break,
        };
        if let Err(e) = ack {
            eprintln!("append_bench: append: {}", e);
            process::exit(1);
        }
        let t0 = sent_at.pop_front().expect("sent");
        if t0 >= measure_from && !stop.load(Ordering::Relaxed) {
            latencies.push(t0.elapsed().as_nanos() as u64);
        }
    }
    latencies
}

fn main() {
    let args = Arc::new(parse_args());
    let stop = Arc::new(AtomicBool::new(false));
    let barrier = Arc::new(Barrier::new(args.clients + 1));
    let mut threads = Vec::new();
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    for _ in 0..args.clients {
        let (args, stop, barrier) = (args.clone(), stop.clone(), barrier.clone());
        threads.push(thread::spawn(move || {
            barrier.wait();
            run_client(&args, measure_from, &stop)
        }));
    }
    barrier.wait();
    thread::sleep(Duration::from_secs_f64(args.warmup + args.seconds));
    stop.store(true, Ordering::Relaxed);
    let measured = Instant::now().saturating_duration_since(measure_from).as_secs_f64();
    let mut all: Vec<u64> = Vec::new();
    for t in threads {
        all.extend(t.join().expect("client thread"));
    }
    all.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.is_empty() {
            return 0.0;
        }
        let i = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
        all[i] as f64 / 1e6
    };
    println!(
        "rust client: {} clients x {} in flight, {}-byte records, {:.1} s: {:.0} appends/s, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms ({} appends)",
        args.clients,
        args.inflight,
        args.payload,
        measured,
        all.len() as f64 / measured,
        pct(0.50),
        pct(0.99),
        all.last().map_or(0.0, |&v| v as f64 / 1e6),
        all.len()
    );
}
