#!/usr/bin/env python3
"""The tables at the end of scripts/bench-peers.sh: one line per measurement
and the ratios sidewal/peer, each as the median over the runs of --repeat N
with the spread (min-max) beside it when N > 1.

    bench-peers-report.py ROWS RATIOS

ROWS: one measured line per line, `run|label|value|unit|p50 ms|p99 ms|cache
MiB|wake p99 ms` (wake empty when the line ran without the wake-up probe).
RATIOS: one per line, `kind|title|numerator label|denominator label[|...]`
(labels hold commas, semicolons and pluses, never a bar):
  rate  value(numerator) / value(denominator), per run;
  p50   p50(numerator) / sum of the denominators' p50s, per run (a floor
        made of parts, e.g. fio's write and fdatasync plus a socket round
        trip: the sum of the parts' medians);
  p99   p99(numerator) / sum of the denominators' p99s, per run;
  serial  the rate of the denominators done one after another (1 / the sum
        of 1/rate) / value(numerator), per run: how far a floor made of
        serial parts (fio's write + fdatasync cycle, then a socket round
        trip) is above a peer; the numerator is the peer here.
A ratio is taken within each run (the figures of one run saw the same
machine) and then summarised like the lines. Standard library only.
"""
import statistics
import sys


def number(text):
    """The float in a field, or None for '', '-' or anything else."""
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def read_rows(lines):
    """Rows as dicts, in file order."""
    rows = []
    for line in lines:
        line = line.rstrip("\n")
        if not line:
            continue
        f = line.split("|")
        f += [""] * (8 - len(f))
        rows.append({"run": int(f[0]), "label": f[1], "value": number(f[2]), "unit": f[3],
                     "p50": number(f[4]), "p99": number(f[5]), "cache": number(f[6]),
                     "wake": number(f[7])})
    return rows


def summary(values):
    """(median, min, max) of the numbers among values, or None if none."""
    v = [x for x in values if x is not None]
    if not v:
        return None
    return statistics.median(v), min(v), max(v)


def fmt_rate(v):
    return f"{v:,.0f}" if v >= 1000 else f"{v:g}"


def fmt_ms(v):
    return f"{v:.3f}"


def fmt_stat(values, fmt):
    """'median' alone, or 'median (min–max)' when the runs differ."""
    s = summary(values)
    if s is None:
        return "-"
    med, lo, hi = s
    if lo == hi:
        return fmt(med)
    return f"{fmt(med)} ({fmt(lo)}–{fmt(hi)})"


def labels_in_order(rows):
    seen = []
    for r in rows:
        if r["label"] not in seen:
            seen.append(r["label"])
    return seen


def lines_table(rows):
    runs = max((r["run"] for r in rows), default=0)
    out = []
    if runs > 1:
        out.append(f"Median of {runs} runs (min–max when they differ).")
        out.append("")
    out.append("| system | rate | p50 ms | p99 ms | wake p99 ms | cache Δ MiB |")
    out.append("|---|---:|---:|---:|---:|---:|")
    for label in labels_in_order(rows):
        mine = [r for r in rows if r["label"] == label]
        unit = mine[0]["unit"]
        rate = fmt_stat([r["value"] for r in mine], fmt_rate)
        out.append("| %s | %s | %s | %s | %s | %s |" % (
            label, rate if rate == "-" else f"{rate} {unit}",
            fmt_stat([r["p50"] for r in mine], fmt_ms),
            fmt_stat([r["p99"] for r in mine], fmt_ms),
            fmt_stat([r["wake"] for r in mine], fmt_ms),
            fmt_stat([r["cache"] for r in mine], lambda v: f"{v:+.0f}")))
    return out


def ratio_in_run(rows, run, kind, numerator, denominators):
    """One run's ratio, or None when a line it needs is missing."""
    def find(label):
        for r in rows:
            if r["run"] == run and r["label"] == label:
                return r
        return None
    num = find(numerator)
    dens = [find(d) for d in denominators]
    if num is None or any(d is None for d in dens):
        return None
    field = {"rate": "value", "serial": "value", "p50": "p50", "p99": "p99"}[kind]
    a = num[field]
    parts = [d[field] for d in dens]
    if a is None or any(p is None for p in parts):
        return None
    if kind == "serial":
        if a <= 0 or any(p <= 0 for p in parts):
            return None
        return 1 / sum(1 / p for p in parts) / a
    return a / max(sum(parts), 1e-9)


def ratios_table(rows, specs):
    runs = sorted({r["run"] for r in rows})
    out = ["| ratio | sidewal / peer |", "|---|---:|"]
    for line in specs:
        line = line.rstrip("\n")
        if not line:
            continue
        kind, title, numerator, *denominators = line.split("|")
        if kind not in ("rate", "p50", "p99", "serial") or not denominators:
            raise ValueError(f"not a ratio: {line!r}")
        per_run = [ratio_in_run(rows, run, kind, numerator, denominators) for run in runs]
        if summary(per_run) is None:
            continue  # a line it needs was not measured (--only)
        out.append("| %s | %s |" % (title, fmt_stat(per_run, lambda v: f"{v:.2f}x")))
    return out


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        rows = read_rows(f)
    with open(argv[2]) as f:
        specs = f.readlines()
    print("\n".join(lines_table(rows)))
    print()
    print("\n".join(ratios_table(rows, specs)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
