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
    the admin port.
Expectations about the variant come from flags (--pods, --pdb, ...). Exits 1
with every failure listed; standard library plus PyYAML only.
"""
import argparse
import os
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
    cmd = (c.get("command") or []) + (c.get("args") or [])
    return bool(cmd) and cmd[0].endswith("/sidewald")


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
        check(not data_mounts[0].get("readOnly"), f"{where}: data volume mounted read-only")
        if args.storage_class and dv in claims:
            check(claims[dv]["spec"].get("storageClassName") == args.storage_class,
                  f"{name}: claim {dv} storageClassName != {args.storage_class}")

    # Security and resources.
    check_sidecar_security(where, sw, spec.get("securityContext"))
    psc = spec.get("securityContext") or {}
    check(psc.get("fsGroup") == 10001, f"{name}: pod fsGroup {psc.get('fsGroup')} != 10001 (volumes not writable)")
    check((sw.get("resources") or {}).get("requests"), f"{where}: no resource requests")
    check((sw.get("resources") or {}).get("limits", {}).get("memory"), f"{where}: no memory limit")

    # Graceful termination outlasts the daemon's drain.
    drain = float(cfg["shutdown"]["drain_timeout_seconds"])
    grace = spec.get("terminationGracePeriodSeconds")
    check(isinstance(grace, int) and grace > drain,
          f"{name}: terminationGracePeriodSeconds {grace} not above drain_timeout_seconds {drain}")

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
        check(not any("secret" in v for v in volumes.values()), f"{name}: a Secret volume without encryption")

    return {"port": port, "labels": tmpl["metadata"].get("labels") or {}, "sidecar": sw}


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

    if failures:
        for f in failures:
            print("FAIL:", f)
        sys.exit(1)
    print(f"{os.path.basename(args.manifests)}: {len(docs)} documents, {len(pods)} pod template(s) checked")


if __name__ == "__main__":
    main()
