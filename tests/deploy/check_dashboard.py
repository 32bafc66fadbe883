#!/usr/bin/env python3
"""Checks the Grafana dashboard's and the alert rules' PromQL.

  check_dashboard.py DASHBOARD.json ALERTS.yaml [--metrics SCRAPE.txt] [--queries-out FILE]

- Every PromQL expression of the dashboard (panel targets, and the metric
  selectors inside the variables' label_values()) parses: they are written,
  with Grafana's variables substituted, into a temporary rules file of one
  recording rule each, and `promtool check rules` must accept it.
- The dashboard has the panels an on-call person needs (throughput, commit
  latency p50/p99/p99.9 and the share of commits over 1 ms from the
  histogram, flush duration, records per flush, DWB, page cache against the
  log's resident pages, durable LSN, errors by code, readiness, the daemon's
  state, the volume's free space) and the namespace and pod variables.
- With --metrics (a live daemon's /metrics): every sidewal_* name in the
  dashboard and the alert rules is a metric the daemon exports (histograms'
  _bucket/_sum/_count included), every label a sidewal_* selector filters on
  and every label the queries group sidewal metrics by exists on them, and
  every le="..." a query selects is a bucket boundary the daemon exports.
- --queries-out writes the substituted panel queries, one JSON object a line
  ({"title", "expr"}), for the end-to-end Prometheus test.
Standard library plus PyYAML; promtool must be on PATH.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
    return cond


# Values that stand in for Grafana's variables, as Grafana would substitute
# them; the end-to-end test's Prometheus labels its target with the same.
SUBSTITUTIONS = {
    "namespace": "sidewal-test",
    "pod": "sidewal-0",
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "1h",
}


def substitute(expr, subs):
    def repl(m):
        name = m.group(1) or m.group(2)
        if name not in subs:
            failures.append(f"unknown Grafana variable ${name} in: {expr}")
            return m.group(0)
        return subs[name]
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", repl, expr)


def walk_panels(panels):
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels") or [])


def dashboard_queries(dash):
    """(title, expr) for every panel target, and the variables' selectors."""
    out = []
    for p in walk_panels(dash.get("panels") or []):
        for t in p.get("targets") or []:
            if t.get("expr"):
                out.append((p.get("title", "?"), t["expr"]))
    for v in (dash.get("templating") or {}).get("list") or []:
        if v.get("type") != "query":
            continue
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\)\s*", q or "")
        if check(m, f"variable {v.get('name')}: query {q!r} is not label_values(selector, label)"):
            out.append((f"variable {v['name']}", m.group(1)))
    return out


def alert_exprs(path):
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    return [(r.get("alert") or r.get("record"), r["expr"]) for g in doc["groups"] for r in g["rules"]]


def promtool_parses(queries):
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": e} for i, (_, e) in enumerate(queries)]}]}
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(rules, f, sort_keys=False)
        path = f.name
    try:
        r = subprocess.run(["promtool", "check", "rules", path], capture_output=True, text=True)
    finally:
        os.unlink(path)
    if r.returncode != 0:
        # promtool names the rule by index; map it back to the panel.
        print(r.stdout + r.stderr)
        for i, (title, e) in enumerate(queries):
            if re.search(rf"\bdashboard:query_{i}\b", r.stdout + r.stderr):
                print(f"  query_{i} = {title}: {e}")
    check(r.returncode == 0, "promtool check rules rejected the dashboard's queries")
    check(f"SUCCESS: {len(queries)} rules found" in r.stdout,
          f"promtool did not check all {len(queries)} queries: {r.stdout.strip()}")


def parse_scrape(text):
    """Metric families {name: type}, the label names seen per family, and the
    le values of each histogram's buckets."""
    types, labels, bounds = {}, {}, {}
    for line in text.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            types[m.group(1)] = m.group(2)
            labels.setdefault(m.group(1), set())
            continue
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s", line)
        if m:
            name = m.group(1)
            family = next((name[: -len(s)] for s in ("_bucket", "_sum", "_count")
                           if name.endswith(s) and types.get(name[: -len(s)]) in ("histogram", "summary")), name)
            for lm in re.finditer(r'(\w+)="([^"]*)"', m.group(3) or ""):
                labels.setdefault(family, set()).add(lm.group(1))
                if lm.group(1) == "le" and name.endswith("_bucket"):
                    bounds.setdefault(family, set()).add(lm.group(2))
    return types, labels, bounds


def family_of(name, types):
    if name in types:
        return name
    for s in ("_bucket", "_sum", "_count"):
        if name.endswith(s) and types.get(name[: -len(s)]) in ("histogram", "summary"):
            return name[: -len(s)]
    return None


def check_against_scrape(queries, scrape_path):
    with open(scrape_path, encoding="utf-8") as f:
        types, labels, bucket_bounds = parse_scrape(f.read())
    check(types, f"{scrape_path}: no metric families (is it a /metrics scrape?)")
    used = set()
    for title, e in queries:
        for name in re.findall(r"\bsidewal_[a-z0-9_]+", e):
            used.add(name)
            fam = family_of(name, types)
            if not check(fam, f"{title}: {name} is not exported by the daemon"):
                continue
            if name.endswith("_bucket"):
                check(types[fam] == "histogram", f"{title}: {name} used as histogram buckets but {fam} is a {types[fam]}")
        # Labels a sidewal metric is grouped by (besides the ones Kubernetes
        # discovery adds and the histogram's le) must exist on it. Queries
        # naming no sidewal metric (up, kube-state-metrics) are not checked.
        names = re.findall(r"\bsidewal_[a-z0-9_]+", e)
        if names:
            for lab in set(re.findall(r"\b(?:by|on)\s*\(([^)]*)\)", e)):
                for l in (x.strip() for x in lab.split(",")):
                    if l in ("", "le", "namespace", "pod", "instance", "job"):
                        continue
                    fams = [family_of(n, types) for n in names]
                    check(any(f and l in labels.get(f, set()) for f in fams),
                          f"{title}: grouped by label {l!r}, which none of {sorted(set(names))} carries")
        # Labels a sidewal_* selector filters on must exist on that metric,
        # and an le="..." must be one of the daemon's bucket boundaries
        # (a typo like le="0.0010" would select nothing, silently).
        for name, sel in re.findall(r"\b(sidewal_[a-z0-9_]+)\s*\{([^}]*)\}", e):
            fam = family_of(name, types)
            for l, v in re.findall(r"(\w+)\s*(?:=~|!~|!=|=)\s*\"((?:\\.|[^\"\\])*)\"", sel):
                if l in ("namespace", "pod", "instance", "job") or not fam:
                    continue
                check(l in labels.get(fam, set()), f"{title}: {name} filtered on label {l!r}, which it does not carry")
                if l == "le":
                    check(v in bucket_bounds.get(fam, set()),
                          f"{title}: {name}{{le=\"{v}\"}} is not a bucket boundary the daemon exports "
                          f"({sorted(bucket_bounds.get(fam, set()))})")
    return used


REQUIRED = [
    ("appends/s", r"rate\(sidewal_append_records_total"),
    ("MB/s", r"rate\(sidewal_append_bytes_total"),
    ("commit latency p50", r"histogram_quantile\(0\.5, .*sidewal_commit_latency_seconds_bucket"),
    ("commit latency p99", r"histogram_quantile\(0\.99, .*sidewal_commit_latency_seconds_bucket"),
    ("commit latency p99.9", r"histogram_quantile\(0\.999, .*sidewal_commit_latency_seconds_bucket"),
    ("commits over 1 ms", r'sidewal_commit_latency_seconds_bucket\{le="0\.001"'),
    ("flush duration", r"sidewal_flush_duration_seconds_bucket"),
    ("records per flush", r"sidewal_group_commit_records_(sum|bucket)"),
    ("DWB bytes/s", r"rate\(sidewal_dwb_bytes_written_total"),
    ("page cache", r"sidewal_page_cache_bytes"),
    ("log resident pages", r"sidewal_wal_resident_bytes"),
    ("durable LSN", r"sidewal_durable_lsn"),
    ("errors by code", r"by \(code\) \(rate\(sidewal_errors_total"),
    ("readiness", r"sidewal_ready"),
    ("daemon state", r"sidewal_state\{"),
    ("volume free space", r"sidewal_volume_available_bytes"),
    ("volume size", r"sidewal_volume_size_bytes"),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dashboard")
    ap.add_argument("alerts")
    ap.add_argument("--metrics")
    ap.add_argument("--queries-out")
    args = ap.parse_args()

    with open(args.dashboard, encoding="utf-8") as f:
        dash = json.load(f)
    var_names = [v["name"] for v in (dash.get("templating") or {}).get("list") or []]
    for v in ("namespace", "pod"):
        check(v in var_names, f"dashboard has no ${v} variable")
    ids = [p.get("id") for p in walk_panels(dash.get("panels") or [])]
    check(len(ids) == len(set(ids)), "duplicate panel ids")

    raw = dashboard_queries(dash)
    check(len(raw) >= len(REQUIRED), f"only {len(raw)} queries in the dashboard")
    for what, pattern in REQUIRED:
        check(any(re.search(pattern, e) for _, e in raw), f"no panel query for {what} (/{pattern}/)")
    for title, e in raw:
        if "sidewal_" in e and not title.startswith("variable"):
            check('pod=~"$pod"' in e and 'namespace=~"$namespace"' in e,
                  f"{title}: query ignores the namespace/pod variables: {e}")

    queries = [(t, substitute(e, SUBSTITUTIONS)) for t, e in raw]
    promtool_parses(queries)

    if args.metrics:
        used = check_against_scrape(queries + alert_exprs(args.alerts), args.metrics)
        print(f"{len(used)} sidewal metric names used by the dashboard and alerts, all exported")
    if args.queries_out:
        with open(args.queries_out, "w", encoding="utf-8") as f:
            for t, e in queries:
                if not t.startswith("variable"):
                    f.write(json.dumps({"title": t, "expr": e}) + "\n")

    if failures:
        for m in failures:
            print("FAIL:", m)
        sys.exit(1)
    print(f"{len(queries)} dashboard queries parse")


if __name__ == "__main__":
    main()
