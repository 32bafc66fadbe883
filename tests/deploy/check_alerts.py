#!/usr/bin/env python3
"""Checks what promtool cannot: that every alert can be acted on and is tested.

  check_alerts.py ALERTS.yaml ALERTS_TEST.yaml OPERATIONS.md VALUES.yaml

- Every rule is an alert with a severity (critical, warning or info), a
  summary, a description and a runbook_url of the form
  https://github.com/sidewal/sidewal/blob/main/docs/operations.md#<anchor>
  whose anchor is a heading of docs/operations.md (GitHub's anchor rules).
- Every alert has at least one unit test in ALERTS_TEST.yaml where it fires
  and one where it is expected not to (exp_alerts: []); every alertname the
  tests name exists.
- SidewalRecoveryTooLong waits half of the chart's startup-probe budget
  (sidecar.startupProbe failureThreshold x periodSeconds in VALUES.yaml) and
  its description names that budget, so a change to the probe that is not
  carried into the alert fails here.
Standard library plus PyYAML.
"""
import re
import sys

import yaml

RUNBOOK_PREFIX = "https://github.com/sidewal/sidewal/blob/main/docs/operations.md#"
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
    return cond


def github_anchor(heading):
    """GitHub's anchor for a Markdown heading: lower case, punctuation other
    than '-' and '_' dropped, spaces to '-'."""
    a = heading.strip().lower()
    a = re.sub(r"[^\w\- ]", "", a)
    return a.replace(" ", "-")


def anchors(markdown):
    out, in_code = set(), False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        m = re.match(r"(#{1,6})\s+(.*)", line)
        if m and not in_code:
            out.add(github_anchor(m.group(2)))
    return out


def seconds(duration):
    m = re.fullmatch(r"(\d+)([smh])", str(duration))
    if not m:
        raise ValueError(f"unsupported duration {duration!r}")
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)]


def main():
    alerts_path, tests_path, doc_path, values_path = sys.argv[1:5]
    with open(alerts_path, encoding="utf-8") as f:
        rules = [r for g in yaml.safe_load(f)["groups"] for r in g["rules"]]
    with open(doc_path, encoding="utf-8") as f:
        doc_anchors = anchors(f.read())
    with open(tests_path, encoding="utf-8") as f:
        tests = yaml.safe_load(f)["tests"]
    with open(values_path, encoding="utf-8") as f:
        probe = yaml.safe_load(f)["sidecar"]["startupProbe"]

    names = []
    for r in rules:
        name = r.get("alert")
        if not check(name, f"rule {r.get('record')!r} is not an alert"):
            continue
        names.append(name)
        check(r.get("labels", {}).get("severity") in ("critical", "warning", "info"),
              f"{name}: severity must be critical, warning or info")
        ann = r.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            check(ann.get(key), f"{name}: no {key} annotation")
        url = ann.get("runbook_url", "")
        if check(url.startswith(RUNBOOK_PREFIX), f"{name}: runbook_url {url!r} is not {RUNBOOK_PREFIX}<anchor>"):
            anchor = url[len(RUNBOOK_PREFIX):]
            check(anchor in doc_anchors, f"{name}: runbook_url anchor #{anchor} is no heading of {doc_path}")
    check(len(names) == len(set(names)), "duplicate alert names")

    fires, quiet = set(), set()
    for t in tests:
        for a in t.get("alert_rule_test") or []:
            n = a["alertname"]
            check(n in names, f"test {t.get('name')!r} names unknown alert {n}")
            (fires if a.get("exp_alerts") else quiet).add(n)
    for n in names:
        check(n in fires, f"{n}: no unit test where it fires")
        check(n in quiet, f"{n}: no unit test where it stays quiet (exp_alerts: [])")

    rec = next((r for r in rules if r.get("alert") == "SidewalRecoveryTooLong"), None)
    if check(rec, "no SidewalRecoveryTooLong alert"):
        threshold, period = int(probe["failureThreshold"]), int(probe["periodSeconds"])
        budget = threshold * period
        check(seconds(rec.get("for", "0s")) * 2 == budget,
              f"SidewalRecoveryTooLong: for: {rec.get('for')} is not half the startup probe's "
              f"budget {threshold} x {period} s = {budget} s")
        check(f"{threshold} x {period} s" in rec["annotations"]["description"],
              f"SidewalRecoveryTooLong: the description does not name the budget '{threshold} x {period} s'")

    if failures:
        for m in failures:
            print("FAIL:", m)
        sys.exit(1)
    print(f"{len(names)} alerts: each with a runbook section, a firing and a quiet unit test")


if __name__ == "__main__":
    main()
