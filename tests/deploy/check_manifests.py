#!/usr/bin/env python3
"""Checks the manifests `helm template` rendered from the sidewal chart.

Reads a multi-document YAML file and proves, for every pod template that holds
a sidewal sidecar (a container whose command runs sidewald):
  - the daemon's config is the ConfigMap the pod mounts, at the --config path;
  - readiness/startup probes GET /readyz and liveness GETs /healthz, on the
    container port that the config's admin.listen names (not loopback);
  - the socket volume is an emptyDir mounted in the sidecar and in every other
    container at the directory of socket.path;
  - the data volume (a volumeClaimTemplate) is mounted at the config's data_dir;
  - the securityContext is non-root (uid 10001), read-only root, no privilege
    escalation, all capabilities dropped; resources are set;
  - terminationGracePeriodSeconds exceeds shutdown.drain_timeout_seconds;
  - encryption key files named in the config come from a read-only Secret mount;
  - the Service, ServiceMonitor and PodDisruptionBudget select these pods and
    the admin port;
  - an init container runs `sidewald --check-config` on the same ConfigMap
    before the sidecar starts; the pod mounts no service account token;
  - an ordinary (non-native) sidecar has a preStop hook that waits for the
    database, and the grace period covers that wait as well as the drain;
  - the `helm test` pod is a hook, is selected by no Service or PDB, and
    checks the admin port of the Service's pods;
  - the PrometheusRule and the dashboard ConfigMap carry exactly the rules
    and the dashboard of the given files.
Expectations about the variant come from flags (--pods, --pdb, ...). Exits 1
with every failure listed; standard library plus PyYAML only.
"""
import argparse
import json
import os
import re
import posixpath
import sys

import yaml

failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
    return cond


def load(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def pod_templates(docs):
    for d in docs:
        kind = d.get("kind")
        if kind in ("StatefulSet", "Deployment", "DaemonSet"):
            yield d, d["spec"]["template"]


def is_sidewald(c):
    """The daemon itself (not the --check-config init container)."""
    cmd = (c.get("command") or []) + (c.get("args") or [])
    return bool(cmd) and cmd[0].endswith("/sidewald") and "--check-config" not in cmd


def is_config_check(c):
    cmd = (c.get("command") or []) + (c.get("args") or [])
    return bool(cmd) and cmd[0].endswith("/sidewald") and "--check-config" in cmd


def config_path_of(c):
    cmd = (c.get("command") or []) + (c.get("args") or [])
    for i, a in enumerate(cmd):
        if a == "--config" and i + 1 < len(cmd):
            return cmd[i + 1]
    return None


def mount_of(c, volume):
    for m in c.get("volumeMounts") or []:
        if m["name"] == volume:
            return m
    return None


def find(docs, kind, name):
    for d in docs:
        if d.get("kind") == kind and d["metadata"]["name"] == name:
            return d
    return None


def listen_port(listen):
    host, _, port = str(listen).rpartition(":")
    return host, int(port)


def resolve_port(c, port):
    if isinstance(port, int):
        return port
    for p in c.get("ports") or []:
        if p.get("name") == port:
            return p["containerPort"]
    return None


def labels_match(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def check_sidecar_security(where, c, pod_sc):
    sc = c.get("securityContext") or {}
    merged = dict(pod_sc or {})
    merged.update(sc)
    check(merged.get("runAsNonRoot") is True, f"{where}: runAsNonRoot is not true")
    check(merged.get("runAsUser") == 10001, f"{where}: runAsUser {merged.get('runAsUser')} != 10001")
    check(sc.get("readOnlyRootFilesystem") is True, f"{where}: readOnlyRootFilesystem is not true")
    check(sc.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation is not false")
    check("ALL" in ((sc.get("capabilities") or {}).get("drop") or []),
          f"{where}: capabilities.drop lacks ALL")


def check_pod(owner, tmpl, docs, args):
    name = owner["metadata"]["name"]
    spec = tmpl["spec"]
    init = spec.get("initContainers") or []
    containers = spec.get("containers") or []
    everyone = init + containers
    sidecars = [c for c in everyone if is_sidewald(c)]
    if not check(len(sidecars) == 1, f"{name}: expected one sidewald container, found {len(sidecars)}"):
        return None
    sw = sidecars[0]
    where = f"{name}/{sw['name']}"
    if args.native:
        check(sw in init and sw.get("restartPolicy") == "Always",
              f"{where}: expected a native sidecar (initContainer with restartPolicy Always)")
    else:
        check(sw in containers, f"{where}: expected the sidecar among containers")
    others = [c for c in containers if c is not sw]
    check(len(others) >= 1, f"{name}: no database container beside the sidecar")

    volumes = {v["name"]: v for v in spec.get("volumes") or []}
    claims = {t["metadata"]["name"]: t for t in owner["spec"].get("volumeClaimTemplates") or []}

    # The config: --config points into a ConfigMap volume holding sidewal.yaml.
    cfg_path = config_path_of(sw)
    cfg = None
    if check(cfg_path, f"{where}: no --config argument"):
        for m in sw.get("volumeMounts") or []:
            vol = volumes.get(m["name"]) or {}
            if "configMap" in vol and posixpath.dirname(cfg_path) == m["mountPath"]:
                check(m.get("readOnly") is True, f"{where}: config mount not read-only")
                cm = find(docs, "ConfigMap", vol["configMap"]["name"])
                key = posixpath.basename(cfg_path)
                if check(cm is not None and key in cm.get("data", {}),
                         f"{where}: ConfigMap {vol['configMap']['name']} with key {key} not rendered"):
                    cfg = yaml.safe_load(cm["data"][key])
        check(cfg is not None, f"{where}: --config {cfg_path} is not inside a mounted ConfigMap")
    if cfg is None:
        return None

    # Probes: real endpoints, on the port the daemon listens on.
    host, port = listen_port(cfg["admin"]["listen"])
    check(not host.startswith("127.") and host not in ("localhost", "[::1]"),
          f"{where}: admin.listen {cfg['admin']['listen']} is loopback; probes cannot reach it")
    check(args.admin_port is None or port == args.admin_port,
          f"{where}: admin port {port}, expected {args.admin_port}")
    for probe, paths in (("readinessProbe", ["/readyz"]), ("livenessProbe", ["/healthz"]),
                         ("startupProbe", ["/readyz", "/healthz"])):
        p = sw.get(probe)
        if not check(p and "httpGet" in p, f"{where}: {probe} missing or not httpGet"):
            continue
        check(p["httpGet"]["path"] in paths, f"{where}: {probe} path {p['httpGet']['path']} not in {paths}")
        resolved = resolve_port(sw, p["httpGet"]["port"])
        check(resolved == port, f"{where}: {probe} port {p['httpGet']['port']} -> {resolved}, config says {port}")
    startup = sw.get("startupProbe") or {}
    allowance = startup.get("periodSeconds", 10) * startup.get("failureThreshold", 3)
    check(allowance >= 600, f"{where}: startupProbe allows only {allowance}s for recovery (want >= 600)")

    # The socket: one emptyDir, mounted by the sidecar and every other container
    # at the directory of socket.path.
    sock_dir = posixpath.dirname(cfg["socket"]["path"])
    sock_vols = [m["name"] for m in sw.get("volumeMounts") or [] if m["mountPath"] == sock_dir]
    if check(len(sock_vols) == 1, f"{where}: no volume mounted at the socket directory {sock_dir}"):
        sv = sock_vols[0]
        check("emptyDir" in volumes.get(sv, {}), f"{name}: socket volume {sv} is not an emptyDir")
        for c in others:
            m = mount_of(c, sv)
            check(m is not None and m["mountPath"] == sock_dir,
                  f"{name}/{c['name']}: socket volume {sv} not mounted at {sock_dir}")

    # The data volume: a PVC template mounted at data_dir.
    data_mounts = [m for m in sw.get("volumeMounts") or [] if m["mountPath"] == cfg["data_dir"]]
    if check(len(data_mounts) == 1, f"{where}: nothing mounted at data_dir {cfg['data_dir']}"):
        dv = data_mounts[0]["name"]
        check(dv in claims or "persistentVolumeClaim" in volumes.get(dv, {}),
              f"{where}: data volume {dv} is not a persistent volume claim")
        if args.existing_claim:
            check(dv not in claims and (volumes.get(dv, {}).get("persistentVolumeClaim") or {}).get("claimName")
                  == args.existing_claim, f"{where}: data volume {dv} is not the existing claim {args.existing_claim}")
        else:
            check(dv in claims, f"{where}: data volume {dv} is not a volumeClaimTemplate")
        check(not data_mounts[0].get("readOnly"), f"{where}: data volume mounted read-only")
        if args.storage_class and dv in claims:
            check(claims[dv]["spec"].get("storageClassName") == args.storage_class,
                  f"{name}: claim {dv} storageClassName != {args.storage_class}")

    # The config check: an init container running sidewald --check-config on
    # the same file, started before the sidecar (init containers run in order).
    checks = [c for c in everyone if is_config_check(c)]
    if args.config_check:
        if check(len(checks) == 1, f"{name}: expected one sidewald --check-config container, found {len(checks)}"):
            cc = checks[0]
            cw = f"{name}/{cc['name']}"
            check(cc in init, f"{cw}: the config check is not an init container")
            check(cc.get("restartPolicy") is None, f"{cw}: the config check must run to completion (no restartPolicy)")
            if sw in init and cc in init:
                check(init.index(cc) < init.index(sw), f"{cw}: the config check comes after the sidecar")
            check(config_path_of(cc) == cfg_path, f"{cw}: checks {config_path_of(cc)}, the sidecar loads {cfg_path}")
            cfg_dir = posixpath.dirname(cfg_path)
            cm_sw = [m["name"] for m in sw.get("volumeMounts") or [] if m["mountPath"] == cfg_dir]
            cm_cc = [m for m in cc.get("volumeMounts") or [] if m["mountPath"] == cfg_dir]
            check(len(cm_cc) == 1 and [m["name"] for m in cm_cc] == cm_sw and cm_cc[0].get("readOnly") is True,
                  f"{cw}: does not mount the sidecar's ConfigMap volume read-only at {cfg_dir}")
            check_sidecar_security(cw, cc, spec.get("securityContext"))
            check((cc.get("resources") or {}).get("limits", {}).get("memory"), f"{cw}: no memory limit")
    else:
        check(not checks, f"{name}: a config check container although the variant has none")
    check(spec.get("automountServiceAccountToken") is False,
          f"{name}: automountServiceAccountToken is not false (nothing in the pod uses the API)")

    # Security and resources.
    check_sidecar_security(where, sw, spec.get("securityContext"))
    psc = spec.get("securityContext") or {}
    check(psc.get("fsGroup") == 10001, f"{name}: pod fsGroup {psc.get('fsGroup')} != 10001 (volumes not writable)")
    check((sw.get("resources") or {}).get("requests"), f"{where}: no resource requests")
    check((sw.get("resources") or {}).get("limits", {}).get("memory"), f"{where}: no memory limit")

    # Graceful termination outlasts the daemon's drain, and for an ordinary
    # sidecar also the preStop wait for the database that comes before it.
    drain = float(cfg["shutdown"]["drain_timeout_seconds"])
    grace = spec.get("terminationGracePeriodSeconds")
    pre = ((sw.get("lifecycle") or {}).get("preStop") or {}).get("exec")
    wait = 0
    if args.native:
        check(pre is None, f"{where}: a native sidecar needs no preStop hook (it stops after the database)")
    elif args.prestop:
        if check(pre and pre.get("command"), f"{where}: an ordinary sidecar without a preStop hook"):
            script = pre["command"][-1]
            m = re.search(r"\bmax=(\d+)", script)
            if check(m, f"{where}: preStop script sets no max= wait"):
                wait = int(m.group(1))
            check(re.search(r"\bport=%d\b" % port, script), f"{where}: preStop does not ask admin port {port}")
            check("sidewal_connections" in script, f"{where}: preStop does not wait on sidewal_connections")
    check(isinstance(grace, int) and grace > drain + wait,
          f"{name}: terminationGracePeriodSeconds {grace} not above drain_timeout_seconds {drain}"
          f" + preStop wait {wait}")

    # Prometheus discovery annotations agree with the admin port.
    ann = tmpl["metadata"].get("annotations") or {}
    if check(ann.get("prometheus.io/scrape") == "true", f"{name}: no prometheus.io/scrape annotation"):
        check(ann.get("prometheus.io/port") == str(port), f"{name}: prometheus.io/port {ann.get('prometheus.io/port')} != {port}")
        check(ann.get("prometheus.io/path") == "/metrics", f"{name}: prometheus.io/path is not /metrics")
    check(any(k.startswith("checksum/") for k in ann), f"{name}: no config checksum annotation (config changes would not roll pods)")

    # Encryption: every key file the config names comes from a read-only Secret.
    enc = cfg.get("encryption")
    if args.encryption:
        if check(enc and enc.get("enabled") is True and enc.get("keys"), f"{where}: config has no encryption keys"):
            ids = [k["id"] for k in enc["keys"]]
            check(enc.get("current_key_id") in ids, f"{where}: current_key_id not among key ids {ids}")
            for k in enc["keys"]:
                kdir = posixpath.dirname(k["file"])
                km = [m for m in sw.get("volumeMounts") or [] if m["mountPath"] == kdir]
                if check(len(km) == 1, f"{where}: key file {k['file']} not under a mounted volume"):
                    check(km[0].get("readOnly") is True, f"{where}: key volume mounted read-write")
                    sec = volumes.get(km[0]["name"], {}).get("secret")
                    if check(sec, f"{where}: key volume {km[0]['name']} is not a Secret"):
                        items = [i["path"] for i in sec.get("items") or []]
                        check(posixpath.basename(k["file"]) in items,
                              f"{where}: key file {k['file']} not projected from Secret {sec.get('secretName')}")
                for c in others:
                    check(mount_of(c, km[0]["name"]) is None if km else True,
                          f"{name}/{c['name']}: the database container mounts the key Secret")
    else:
        check(not enc, f"{where}: encryption configured although the variant has it off")
        # The archive's private CA (archive.ca_file) is the one other Secret volume.
        ca_dir = posixpath.dirname((cfg.get("archive") or {}).get("ca_file") or "")
        ca_vols = {m["name"] for m in sw.get("volumeMounts") or [] if ca_dir and m["mountPath"] == ca_dir}
        check(not any("secret" in v for n, v in volumes.items() if n not in ca_vols),
              f"{name}: a Secret volume without encryption")

    return {"port": port, "labels": tmpl["metadata"].get("labels") or {}, "sidecar": sw}


def check_helm_test(docs, services, pdbs, pods, args):
    tests = [d for d in docs if d.get("kind") == "Pod"
             and (d["metadata"].get("annotations") or {}).get("helm.sh/hook") == "test"]
    others = [d for d in docs if d.get("kind") == "Pod" and d not in tests]
    check(not others, f"Pods rendered outside a helm test hook: {[d['metadata']['name'] for d in others]}")
    if args.helm_test == "no":
        check(not tests, "a helm test pod rendered although the variant has none")
        return
    if not check(len(tests) == 1, f"expected one helm test pod, found {len(tests)}"):
        return
    t = tests[0]
    name = t["metadata"]["name"]
    spec = t["spec"]
    labels = t["metadata"].get("labels") or {}
    check(spec.get("restartPolicy") == "Never", f"{name}: restartPolicy is not Never")
    check(spec.get("automountServiceAccountToken") is False, f"{name}: automountServiceAccountToken is not false")
    check(isinstance(spec.get("activeDeadlineSeconds"), int), f"{name}: no activeDeadlineSeconds")
    check("before-hook-creation" in (t["metadata"]["annotations"].get("helm.sh/hook-delete-policy") or ""),
          f"{name}: a re-run of helm test would clash with the last test pod")
    for s in services:
        check(not labels_match(s["spec"].get("selector"), labels), f"{name}: Service {s['metadata']['name']} selects the test pod")
    for p in pdbs:
        check(not labels_match(p["spec"]["selector"]["matchLabels"], labels), f"{name}: the PDB selects the test pod")
    (c,) = spec["containers"]
    env = {e["name"]: e.get("value") for e in c.get("env") or []}
    svc_names = [s["metadata"]["name"] for s in services]
    check(any(str(env.get("SERVICE", "")).startswith(n + ".") for n in svc_names),
          f"{name}: SERVICE={env.get('SERVICE')} is none of the Services {svc_names}")
    ports = {r["port"] for _, r in pods} or None
    if ports:
        check(int(env.get("PORT", 0)) in ports, f"{name}: PORT={env.get('PORT')}, the admin port is {ports}")
    check(env.get("EXPECT_APPENDS") == ("1" if args.expect_appends == "yes" else "0"),
          f"{name}: EXPECT_APPENDS={env.get('EXPECT_APPENDS')}, expected {args.expect_appends}")
    check_sidecar_security(f"{name}/{c['name']}", c, spec.get("securityContext"))
    check((c.get("resources") or {}).get("limits", {}).get("memory"), f"{name}: no memory limit")


def check_monitoring(docs, args):
    rules = [d for d in docs if d.get("kind") == "PrometheusRule"]
    if args.alerts:
        if check(len(rules) == 1, f"expected one PrometheusRule, found {len(rules)}"):
            r = rules[0]
            check(r["apiVersion"] == "monitoring.coreos.com/v1", "PrometheusRule apiVersion")
            with open(args.alerts, encoding="utf-8") as f:
                want = yaml.safe_load(f)["groups"]
            check(r["spec"]["groups"] == want, f"PrometheusRule groups differ from {args.alerts}")
    else:
        check(not rules, "a PrometheusRule rendered although the variant has it off")
    boards = [d for d in docs if d.get("kind") == "ConfigMap"
              and any(k.endswith(".json") for k in (d.get("data") or {}))]
    if args.dashboard:
        if check(len(boards) == 1, f"expected one dashboard ConfigMap, found {len(boards)}"):
            b = boards[0]
            check((b["metadata"].get("labels") or {}).get("grafana_dashboard") == "1",
                  f"ConfigMap {b['metadata']['name']}: no grafana_dashboard: \"1\" label for the Grafana sidecar")
            with open(args.dashboard, encoding="utf-8") as f:
                want = json.load(f)
            (key,) = [k for k in b["data"] if k.endswith(".json")]
            check(json.loads(b["data"][key]) == want, f"dashboard ConfigMap differs from {args.dashboard}")
    else:
        check(not boards, "a dashboard ConfigMap rendered although the variant has it off")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("manifests")
    ap.add_argument("--pods", type=int, required=True, help="pod templates carrying the sidecar")
    ap.add_argument("--replicas", type=int, default=None)
    ap.add_argument("--pdb", choices=["yes", "no"], default="no")
    ap.add_argument("--servicemonitor", choices=["yes", "no"], default="no")
    ap.add_argument("--encryption", action="store_true")
    ap.add_argument("--native", type=lambda s: s == "true", default=True)
    ap.add_argument("--admin-port", type=int, default=None)
    ap.add_argument("--storage-class", default=None)
    ap.add_argument("--config-check", type=lambda s: s == "yes", default=True, help="yes|no")
    ap.add_argument("--prestop", type=lambda s: s == "yes", default=True, help="yes|no (ordinary sidecar)")
    ap.add_argument("--existing-claim", default=None)
    ap.add_argument("--helm-test", choices=["yes", "no"], default="no")
    ap.add_argument("--expect-appends", choices=["yes", "no"], default="no",
                    help="the helm test pod checks that appends grow")
    ap.add_argument("--alerts", default=None, help="alert rules the PrometheusRule must carry")
    ap.add_argument("--dashboard", default=None, help="dashboard JSON the dashboard ConfigMap must carry")
    args = ap.parse_args()

    docs = load(args.manifests)
    kinds = [d.get("kind") for d in docs]
    check(kinds.count("ConfigMap") >= 1, "no ConfigMap rendered")

    pods = []
    for owner, tmpl in pod_templates(docs):
        if any(is_sidewald(c) for c in (tmpl["spec"].get("initContainers") or []) + tmpl["spec"]["containers"]):
            r = check_pod(owner, tmpl, docs, args)
            if r:
                pods.append((owner, r))
            if args.replicas is not None:
                check(owner["spec"].get("replicas") == args.replicas,
                      f"{owner['metadata']['name']}: replicas {owner['spec'].get('replicas')} != {args.replicas}")
    check(len(pods) == args.pods, f"expected {args.pods} pod template(s) with the sidecar, checked {len(pods)}")

    services = [d for d in docs if d.get("kind") == "Service"]
    for owner, r in pods:
        svc_ok = False
        for s in services:
            if labels_match(s["spec"].get("selector"), r["labels"]):
                for p in s["spec"]["ports"]:
                    if resolve_port(r["sidecar"], p.get("targetPort", p["port"])) == r["port"]:
                        svc_ok = True
        check(svc_ok, f"{owner['metadata']['name']}: no Service selects the pod on the admin port")
        if owner.get("kind") == "StatefulSet" and owner["spec"].get("serviceName"):
            check(find(docs, "Service", owner["spec"]["serviceName"]) is not None,
                  f"{owner['metadata']['name']}: serviceName {owner['spec']['serviceName']} not rendered")

    monitors = [d for d in docs if d.get("kind") == "ServiceMonitor"]
    if args.servicemonitor == "yes":
        if check(len(monitors) == 1, f"expected one ServiceMonitor, found {len(monitors)}"):
            m = monitors[0]
            check(m["apiVersion"] == "monitoring.coreos.com/v1", "ServiceMonitor apiVersion")
            sel = m["spec"]["selector"]["matchLabels"]
            hits = [s for s in services if labels_match(sel, s["metadata"].get("labels") or {})]
            if check(len(hits) == 1, f"ServiceMonitor selects {len(hits)} Services, expected 1"):
                names = [p["name"] for p in hits[0]["spec"]["ports"]]
                for ep in m["spec"]["endpoints"]:
                    check(ep["port"] in names, f"ServiceMonitor endpoint port {ep['port']} not in Service ports {names}")
                    check(ep.get("path") == "/metrics", "ServiceMonitor path is not /metrics")
    else:
        check(not monitors, "a ServiceMonitor rendered although the variant has it off")

    pdbs = [d for d in docs if d.get("kind") == "PodDisruptionBudget"]
    if args.pdb == "yes":
        if check(len(pdbs) == 1, f"expected one PodDisruptionBudget, found {len(pdbs)}"):
            sel = pdbs[0]["spec"]["selector"]["matchLabels"]
            check(all(labels_match(sel, r["labels"]) for _, r in pods), "PodDisruptionBudget does not select the pods")
    else:
        check(not pdbs, "a PodDisruptionBudget rendered although the variant should have none")

    check_helm_test(docs, services, pdbs, pods, args)
    check_monitoring(docs, args)

    if failures:
        for f in failures:
            print("FAIL:", f)
        sys.exit(1)
    print(f"{os.path.basename(args.manifests)}: {len(docs)} documents, {len(pods)} pod template(s) checked")


if __name__ == "__main__":
    main()
