#!/usr/bin/env python3
"""One pass of the end-to-end check against a real Prometheus's HTTP API.

  prom_check.py URL QUERIES.jsonl --records N [--verbose]

Exits 0 only when
  - sidewal_append_records_total (the target labelled pod="sidewal-0") is >= N,
  - every dashboard query in QUERIES.jsonl (from check_dashboard.py
    --queries-out) returns at least one sample, and
  - the main panels show what N acknowledged appends must produce: appends/s,
    MB/s, commit latency p50/p99/p99.9, flush duration and records per flush
    are positive and finite; readiness is 1 and the state is ready; the
    volume's size and free space are positive; the durable LSN is >= N.
Otherwise prints why (with --verbose) and exits 1; the caller polls it until a
deadline. Standard library only.
"""
import argparse
import json
import math
import sys
import urllib.parse
import urllib.request


def query(url, expr):
    q = urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(f"{url}/api/v1/query?{q}", timeout=5) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"{expr}: {body}")
    data = body["data"]
    if data["resultType"] == "vector":
        return [float(s["value"][1]) for s in data["result"]]
    if data["resultType"] == "scalar":
        return [float(data["result"][1])]
    raise RuntimeError(f"{expr}: unexpected result type {data['resultType']}")


# Panel title -> what its first value must satisfy once appends happened.
POSITIVE = lambda v: math.isfinite(v) and v > 0
EXPECT = {
    "Appends/s": POSITIVE,
    "Append MB/s": POSITIVE,
    "Commit latency (receipt to ACK)": POSITIVE,
    "Flush duration": POSITIVE,
    "Records per flush": lambda v: math.isfinite(v) and v >= 1,
    "Flushes/s": POSITIVE,
    "Ready": lambda v: v == 1,
    "State": lambda v: v == 1,
    "Volume capacity": POSITIVE,
    "Free space in segments": POSITIVE,
    "Page cache vs log's resident pages": lambda v: math.isfinite(v) and v >= 0,
    "Durable LSN progress": lambda v: math.isfinite(v),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("queries")
    ap.add_argument("--records", type=int, required=True)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    problems = []
    try:
        total = query(args.url, 'sum(sidewal_append_records_total{pod="sidewal-0"})')
        if not total or total[0] < args.records:
            problems.append(f"sidewal_append_records_total = {total}, want >= {args.records}")
        lsn = query(args.url, 'max(sidewal_durable_lsn{pod="sidewal-0"})')
        if not lsn or lsn[0] < args.records:
            problems.append(f"sidewal_durable_lsn = {lsn}, want >= {args.records}")
        states = query(args.url, 'sidewal_state{pod="sidewal-0", state="ready"} == 1')
        if len(states) != 1:
            problems.append(f'sidewal_state{{state="ready"}} == 1 gives {states}, want one series')
        with open(args.queries, encoding="utf-8") as f:
            panels = [json.loads(line) for line in f if line.strip()]
        if not panels:
            problems.append(f"{args.queries} holds no queries")
        for p in panels:
            values = query(args.url, p["expr"])
            if not values:
                problems.append(f"{p['title']}: no data for {p['expr']}")
                continue
            ok = EXPECT.get(p["title"])
            if ok and not all(ok(v) for v in values):
                problems.append(f"{p['title']}: values {values} for {p['expr']}")
        if args.verbose and not problems:
            print(f"sidewal_append_records_total = {total[0]:.0f}; {len(panels)} dashboard queries return data")
    except (OSError, RuntimeError, ValueError) as e:
        problems.append(f"query failed: {e}")

    if problems:
        if args.verbose:
            for p in problems:
                print("not yet:", p)
        sys.exit(1)


if __name__ == "__main__":
    main()
