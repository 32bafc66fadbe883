#!/usr/bin/env python3
"""Closed-loop APPEND throughput of the Python client against a running sidewald.

Like sidewal-bench's closed loop: C connections, each keeping P APPENDs of one
record in flight, for --duration seconds after --warmup; prints appends/s and
ACK latency percentiles. --mode asyncio runs every connection as an
AsyncClient in one event loop (append_nowait with a window of P); --mode
threads runs one blocking Client per thread (Pipeline of P).

    python3 clients/python/bench_append.py --socket ./var/sidewal.sock --connections 16 --pipeline 16
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import sys
import threading
import time
from typing import Deque, List, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import sidewal  # noqa: E402


def percentile(sorted_values: List[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def run_threads(args: argparse.Namespace, payload: bytes) -> Tuple[int, List[float], float]:
    start_at = time.monotonic() + 0.5
    measure_from = start_at + args.warmup
    stop_at = measure_from + args.duration
    counts = [0] * args.connections
    lats: List[List[float]] = [[] for _ in range(args.connections)]
    errors: List[BaseException] = []

    def worker(i: int) -> None:
        try:
            with sidewal.Client.connect(args.socket, name=f"bench-{i}") as c:
                window: Deque[Tuple[float, sidewal.AppendFuture]] = collections.deque()
                while time.monotonic() < start_at:
                    time.sleep(0.001)
                while True:
                    now = time.monotonic()
                    if now >= stop_at:
                        break
                    while len(window) >= args.pipeline:
                        sent, fut = window.popleft()
                        fut.result()
                        done = time.monotonic()
                        if sent >= measure_from and done <= stop_at:
                            counts[i] += 1
                            lats[i].append(done - sent)
                    window.append((time.monotonic(), c.append_nowait(payload, type=1, tenant=i)))
                for _, fut in window:
                    fut.result()
        except BaseException as e:  # reported after the run
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return sum(counts), sorted(x for l in lats for x in l), args.duration


async def run_asyncio(args: argparse.Namespace, payload: bytes) -> Tuple[int, List[float], float]:
    clients = [await sidewal.AsyncClient.connect(args.socket, name=f"bench-{i}") for i in range(args.connections)]
    loop = asyncio.get_running_loop()
    start = loop.time()
    measure_from = start + args.warmup
    stop_at = measure_from + args.duration
    count = 0
    lats: List[float] = []

    async def one(i: int, c: sidewal.AsyncClient) -> None:
        nonlocal count
        window: Deque[Tuple[float, "asyncio.Future[sidewal.Ack]"]] = collections.deque()
        while loop.time() < stop_at:
            while len(window) >= args.pipeline:
                sent, fut = window.popleft()
                await fut
                done = loop.time()
                if sent >= measure_from and done <= stop_at:
                    count += 1
                    lats.append(done - sent)
            window.append((loop.time(), c.append_nowait(payload, type=1, tenant=i)))
        for _, fut in window:
            await fut

    try:
        await asyncio.gather(*(one(i, c) for i, c in enumerate(clients)))
    finally:
        for c in clients:
            await c.close()
    return count, sorted(lats), args.duration


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--socket", default="./var/sidewal.sock")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--pipeline", type=int, default=16, help="APPENDs in flight per connection")
    ap.add_argument("--record-bytes", type=int, default=100)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--mode", choices=("asyncio", "threads"), default="asyncio")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    payload = b"x" * args.record_bytes
    if args.mode == "threads":
        count, lats, seconds = run_threads(args, payload)
    else:
        count, lats, seconds = asyncio.run(run_asyncio(args, payload))
    result = {
        "client": f"python-{args.mode}",
        "python": sys.version.split()[0],
        "connections": args.connections,
        "pipeline": args.pipeline,
        "record_bytes": args.record_bytes,
        "appends_per_s": round(count / seconds, 1),
        "p50_ms": round(percentile(lats, 0.50) * 1e3, 3),
        "p99_ms": round(percentile(lats, 0.99) * 1e3, 3),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['client']}: {args.connections} x {args.pipeline}, {args.record_bytes} B: "
              f"{result['appends_per_s']} appends/s, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms")


if __name__ == "__main__":
    main()
