{{/*
Every helper takes a context dict so that a database chart can call it too:
  (dict "root" $ "values" .Values)          from this chart
  (dict "root" $ "values" .Values.sidewal)  from a chart that depends on it
"root" gives .Release and .Chart; "values" are this chart's values. Names do
not depend on .Chart, so the parent's include and this chart's own resources
(the ConfigMap, the Service) agree on them.
*/}}

{{/* Resource name prefix: "<release>-sidewal" (63 characters at most). */}}
{{- define "sidewal.fullname" -}}
{{- $v := .values -}}
{{- if $v.fullnameOverride -}}
{{- $v.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default "sidewal" $v.nameOverride -}}
{{- if contains $name .root.Release.Name -}}
{{- .root.Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .root.Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels on every resource the chart renders. */}}
{{- define "sidewal.labels" -}}
app.kubernetes.io/name: sidewal
app.kubernetes.io/instance: {{ .root.Release.Name }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{ include "sidewal.podLabels" . }}
{{- end -}}

{{/*
The label that marks a pod carrying this sidecar: the Service, the
ServiceMonitor and the PodDisruptionBudget select on it. A database chart adds
it to its pod template's labels.
*/}}
{{- define "sidewal.podLabels" -}}
sidewal/instance: {{ include "sidewal.fullname" . }}
{{- end -}}

{{/* The image; its tag defaults to this chart's appVersion (a parent chart must set image.tag). */}}
{{- define "sidewal.image" -}}
{{- $tag := .values.image.tag -}}
{{- if not $tag -}}
{{- if eq .root.Chart.Name "sidewal" -}}
{{- $tag = .root.Chart.AppVersion -}}
{{- else -}}
{{- fail "sidewal.image.tag: set the sidewal image tag in the chart that includes the sidecar" -}}
{{- end -}}
{{- end -}}
{{- printf "%s:%s" .values.image.repository ($tag | toString) -}}
{{- end -}}

{{/*
The admin port number, taken from config.admin.listen ("host:port"). The host
must be what the daemon accepts (a numeric IPv4 address, or an IPv6 address in
brackets) and not loopback; the port 1-65535 (0 would let the kernel pick one,
which the probes and Prometheus cannot know).
*/}}
{{- define "sidewal.adminPort" -}}
{{- $listen := .values.config.admin.listen | toString -}}
{{- $port := regexFind "[0-9]+$" $listen -}}
{{- if not $port -}}
{{- fail (printf "config.admin.listen %q: expected host:port" $listen) -}}
{{- end -}}
{{- $host := trimSuffix (printf ":%s" $port) $listen -}}
{{- if or (hasPrefix "127." $host) (eq $host "localhost") (eq $host "[::1]") -}}
{{- fail (printf "config.admin.listen %q: a loopback address is unreachable for the kubelet's probes and Prometheus; use 0.0.0.0:%s" $listen $port) -}}
{{- end -}}
{{- $octet := "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])" -}}
{{- $ipv4 := printf "^(%s\\.){3}%s$" $octet $octet -}}
{{- if not (or (regexMatch $ipv4 $host) (regexMatch "^\\[[0-9a-fA-F:.]+\\]$" $host)) -}}
{{- fail (printf "config.admin.listen %q: sidewald needs a numeric IPv4 address or an IPv6 address in brackets, e.g. 0.0.0.0:%s or [::]:%s" $listen $port $port) -}}
{{- end -}}
{{- $n := regexReplaceAll "^0+([0-9])" $port "${1}" | int64 -}}
{{- if or (lt $n 1) (gt $n 65535) -}}
{{- fail (printf "config.admin.listen %q: port %s is outside 1-65535 (sidewald refuses ports above 65535; port 0 would be picked by the kernel, unknown to the probes)" $listen $port) -}}
{{- end -}}
{{- $n -}}
{{- end -}}

{{/* The host part of config.admin.listen, for HTTP from inside the pod (preStop): 0.0.0.0 and [::] become loopback. */}}
{{- define "sidewal.adminLocalHost" -}}
{{- $listen := .values.config.admin.listen | toString -}}
{{- $host := regexReplaceAll ":[0-9]+$" $listen "" -}}
{{- if eq $host "0.0.0.0" -}}127.0.0.1
{{- else if eq $host "[::]" -}}::1
{{- else -}}{{ trimPrefix "[" (trimSuffix "]" $host) }}
{{- end -}}
{{- end -}}

{{/* The directory of config.socket.path: the shared socket volume's mount point. */}}
{{- define "sidewal.socketDir" -}}
{{- $path := .values.config.socket.path -}}
{{- if not (isAbs $path) -}}
{{- fail (printf "config.socket.path %q: must be an absolute path" $path) -}}
{{- end -}}
{{- dir $path -}}
{{- end -}}

{{/* Where the ConfigMap is mounted; the sidecar's --config points inside it. */}}
{{- define "sidewal.configDir" -}}/etc/sidewal/config{{- end -}}

{{/*
terminationGracePeriodSeconds: the daemon's drain timeout plus an allowance,
plus, for an ordinary (non-native) sidecar, the longest preStop wait for the
database to let go (the preStop hook's time counts against the grace period).
*/}}
{{- define "sidewal.terminationGracePeriodSeconds" -}}
{{- $drain := .values.config.shutdown.drain_timeout_seconds | float64 | ceil | int -}}
{{- $grace := add $drain .values.terminationGraceExtraSeconds -}}
{{- if not .values.sidecar.native -}}
{{- $grace = add $grace (include "sidewal.preStopMaxWait" . | int) -}}
{{- end -}}
{{- $grace -}}
{{- end -}}

{{/* The preStop hook's longest wait in seconds (0: no hook); native sidecars need none. */}}
{{- define "sidewal.preStopMaxWait" -}}
{{- $p := .values.sidecar.preStop | default dict -}}
{{- if and (not .values.sidecar.native) $p.enabled -}}{{ $p.maxWaitSeconds | int }}{{- else -}}0{{- end -}}
{{- end -}}

{{/*
A byte size as the daemon reads it: an integer, or an integer with a B, KiB,
MiB or GiB suffix ("64MiB", "64 MiB"). Takes (list value key default) and
prints the number of bytes; default when the value is absent (null).
*/}}
{{- define "sidewal.bytes" -}}
{{- $v := index . 0 -}}
{{- $key := index . 1 -}}
{{- if kindIs "invalid" $v -}}
{{- index . 2 -}}
{{- else if kindIs "string" $v -}}
{{- $digits := regexFind "^[0-9]+" $v -}}
{{- $unit := trimPrefix $digits $v | trim -}}
{{- $mult := dict "" 1 "B" 1 "KiB" 1024 "MiB" 1048576 "GiB" 1073741824 -}}
{{- if or (not $digits) (not (hasKey $mult $unit)) -}}
{{- fail (printf "config.%s %q: expected a byte size (an integer, optionally with KiB, MiB or GiB)" $key $v) -}}
{{- end -}}
{{- mul (regexReplaceAll "^0+([0-9])" $digits "${1}" | int64) (get $mult $unit) -}}
{{- else -}}
{{- $v | int64 -}}
{{- end -}}
{{- end -}}

{{/* Fails unless min <= n <= max; takes (list n min max key). The daemon's ranges (src/server/config.cc). */}}
{{- define "sidewal.checkRange" -}}
{{- $n := index . 0 | int64 -}}
{{- if or (lt $n (index . 1 | int64)) (gt $n (index . 2 | int64)) -}}
{{- fail (printf "config.%s: %d bytes is outside [%d, %d]; sidewald would refuse it at start" (index . 3) $n (index . 1 | int64) (index . 2 | int64)) -}}
{{- end -}}
{{- end -}}

{{/* A Prometheus duration of one unit ("15s", "500ms", "1m", "1h") in milliseconds. */}}
{{- define "sidewal.durationMs" -}}
{{- $d := . | toString -}}
{{- $n := regexFind "^[0-9]+" $d -}}
{{- $unit := trimPrefix $n $d -}}
{{- $mult := dict "ms" 1 "s" 1000 "m" 60000 "h" 3600000 -}}
{{- if or (not $n) (not (hasKey $mult $unit)) -}}
{{- fail (printf "%q: expected a duration like 15s, 500ms, 1m or 1h" $d) -}}
{{- end -}}
{{- mul (regexReplaceAll "^0+([0-9])" $n "${1}" | int64) (get $mult $unit) -}}
{{- end -}}

{{/* "true" when path b is path a or lies under it; takes (list a b). */}}
{{- define "sidewal.within" -}}
{{- $a := clean (index . 0) -}}
{{- $b := clean (index . 1) -}}
{{- if or (eq $a $b) (eq $a "/") (hasPrefix (printf "%s/" $a) $b) -}}true{{- end -}}
{{- end -}}

{{/*
Render-time checks of settings the schema lets through but that would stop
sidewald at start, or give a pod Kubernetes refuses, or monitoring Prometheus
refuses. Mirrors the daemon's cross-key checks (finalize_config in
src/server/config.cc, and Wal::open's limit for encrypted records). Prints
nothing; fails with a message naming the values.
*/}}
{{- define "sidewal.validate" -}}
{{- $v := .values -}}
{{- $c := $v.config -}}
{{- /* Native sidecars (an init container with restartPolicy: Always) are on by default from Kubernetes 1.29. */ -}}
{{- $kv := .root.Capabilities.KubeVersion.Version -}}
{{- if and $v.sidecar.native (semverCompare "<1.29.0-0" $kv) -}}
{{- fail (printf "sidecar.native=true needs Kubernetes 1.29 or later (a native sidecar is an init container with restartPolicy: Always), but the cluster is %s: set sidecar.native=false to run sidewal as an ordinary container (docs/operations.md, 'Prerequisites')" $kv) -}}
{{- end -}}
{{- $_ := include "sidewal.adminPort" . -}}
{{- /* sun_path holds the socket path and its NUL: 108 bytes on Linux. */ -}}
{{- if ge (len (clean $c.socket.path)) 108 -}}
{{- fail (printf "config.socket.path %q is %d bytes; a Unix socket path must be under 108 (sidewald refuses it at start)" $c.socket.path (len (clean $c.socket.path))) -}}
{{- end -}}
{{- /* Each of these directories is a separate volume in the sidecar. */ -}}
{{- $dirs := list (list "config.data_dir" $c.data_dir) (list "the directory of config.socket.path" (include "sidewal.socketDir" .)) (list "the config mount" (include "sidewal.configDir" .)) -}}
{{- if $v.encryption.enabled -}}
{{- $dirs = append $dirs (list "encryption.mountPath" $v.encryption.mountPath) -}}
{{- end -}}
{{- if and $v.archive.enabled $v.archive.ca.existingSecret -}}
{{- $dirs = append $dirs (list "archive.ca.mountPath" $v.archive.ca.mountPath) -}}
{{- end -}}
{{- /* The archive: what sidewald needs, and where the credentials come from. */ -}}
{{- if $v.archive.enabled -}}
{{- if not $v.archive.bucket -}}
{{- fail "archive.enabled is true but archive.bucket is empty (sidewald refuses it at start)" -}}
{{- end -}}
{{- if not $v.archive.existingSecret -}}
{{- fail "archive.enabled is true but archive.existingSecret is empty: create a Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY and name it there (sidewald refuses to start without credentials)" -}}
{{- end -}}
{{- $cap := $v.archive.maxUploadBytesPerSecond | int64 -}}
{{- if and (gt $cap 0) (lt $cap 65536) -}}
{{- fail (printf "archive.maxUploadBytesPerSecond: %d is below 65536; use 0 (no cap) or at least 64 KiB/s (sidewald refuses it at start)" $cap) -}}
{{- end -}}
{{- end -}}
{{- range $i, $a := $dirs -}}
{{- range $j, $b := $dirs -}}
{{- if and (ne $i $j) (include "sidewal.within" (list (index $a 1) (index $b 1))) -}}
{{- if eq (clean (index $a 1)) (clean (index $b 1)) -}}
{{- fail (printf "%s and %s are both %s: each is its own volume in the sidecar, and Kubernetes refuses two volumes at one mountPath" (index $a 0) (index $b 0) (clean (index $a 1))) -}}
{{- else -}}
{{- fail (printf "%s (%s) lies inside %s (%s): keep them apart, each is its own volume (the log's directory holds only the log; the socket directory is shared with the database)" (index $b 0) (index $b 1) (index $a 0) (index $a 1)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- /* Sizes: the daemon's ranges, then its cross-key checks. */ -}}
{{- $w := $c.wal | default dict -}}
{{- $l := $c.limits | default dict -}}
{{- $seg := include "sidewal.bytes" (list $w.segment_bytes "wal.segment_bytes" 67108864) | int64 -}}
{{- $rec := include "sidewal.bytes" (list $w.max_record_bytes "wal.max_record_bytes" 1048576) | int64 -}}
{{- $frame := include "sidewal.bytes" (list $l.max_frame_bytes "limits.max_frame_bytes" 4194304) | int64 -}}
{{- $conn := include "sidewal.bytes" (list $l.max_inflight_bytes_per_connection "limits.max_inflight_bytes_per_connection" 16777216) | int64 -}}
{{- $total := include "sidewal.bytes" (list $l.max_inflight_bytes_total "limits.max_inflight_bytes_total" 268435456) | int64 -}}
{{- $reserve := include "sidewal.bytes" (list $l.inflight_reserve_per_connection "limits.inflight_reserve_per_connection" 65536) | int64 -}}
{{- include "sidewal.checkRange" (list $seg 1048576 68719476736 "wal.segment_bytes") -}}
{{- include "sidewal.checkRange" (list $rec 1 16777216 "wal.max_record_bytes") -}}
{{- include "sidewal.checkRange" (list $frame 64 1073741824 "limits.max_frame_bytes") -}}
{{- include "sidewal.checkRange" (list $conn 4096 68719476736 "limits.max_inflight_bytes_per_connection") -}}
{{- include "sidewal.checkRange" (list $total 4096 1099511627776 "limits.max_inflight_bytes_total") -}}
{{- include "sidewal.checkRange" (list $reserve 0 68719476736 "limits.inflight_reserve_per_connection") -}}
{{- if ne (mod $seg 4096) 0 -}}
{{- fail (printf "config.wal.segment_bytes: %d is not a multiple of 4096 (sidewald refuses it at start)" $seg) -}}
{{- end -}}
{{- if lt $seg (mul 4 $rec) -}}
{{- fail (printf "config.wal.segment_bytes: %d is smaller than 4 x config.wal.max_record_bytes (%d); a segment must hold at least four of the largest records (sidewald refuses it at start)" $seg $rec) -}}
{{- end -}}
{{- if lt $frame (add $rec 12) -}}
{{- fail (printf "config.limits.max_frame_bytes: %d cannot carry one record of config.wal.max_record_bytes (%d) plus its 12-byte header; raise max_frame_bytes to at least %d (sidewald refuses it at start)" $frame $rec (add $rec 12)) -}}
{{- end -}}
{{- if gt $reserve $conn -}}
{{- fail (printf "config.limits.inflight_reserve_per_connection: %d is above config.limits.max_inflight_bytes_per_connection (%d) (sidewald refuses it at start)" $reserve $conn) -}}
{{- end -}}
{{- if lt $total $conn -}}
{{- fail (printf "config.limits.max_inflight_bytes_total: %d is below config.limits.max_inflight_bytes_per_connection (%d) (sidewald refuses it at start)" $total $conn) -}}
{{- end -}}
{{- if and $v.encryption.enabled (gt $rec (sub 16777216 16)) -}}
{{- fail (printf "config.wal.max_record_bytes: %d leaves no room for the 16-byte GCM tag of an encrypted record under the 16 MiB ceiling; with encryption.enabled use at most 16777200 (sidewald refuses it at start)" $rec) -}}
{{- end -}}
{{- /* Prometheus refuses a scrape timeout longer than the interval. */ -}}
{{- $sm := $v.metrics.serviceMonitor -}}
{{- if $sm.enabled -}}
{{- if not $v.service.enabled -}}
{{- fail "metrics.serviceMonitor.enabled needs service.enabled=true (a ServiceMonitor scrapes through a Service)" -}}
{{- end -}}
{{- if gt (include "sidewal.durationMs" $sm.scrapeTimeout | int64) (include "sidewal.durationMs" $sm.interval | int64) -}}
{{- fail (printf "metrics.serviceMonitor.scrapeTimeout %s is longer than metrics.serviceMonitor.interval %s; Prometheus refuses such a scrape config" $sm.scrapeTimeout $sm.interval) -}}
{{- end -}}
{{- end -}}
{{- /* One writer per log: pods sharing one claim would share one data_dir. */ -}}
{{- if and $v.persistence.existingClaim $v.statefulset.enabled (gt (int $v.statefulset.replicas) 1) -}}
{{- fail (printf "persistence.existingClaim %q with statefulset.replicas=%d: every pod would mount the same log, and a log has one writer. Use existingClaim with one replica, or leave it empty for a claim per pod" $v.persistence.existingClaim (int $v.statefulset.replicas)) -}}
{{- end -}}
{{- end -}}

{{/*
The daemon's sidewal.yaml: config verbatim, plus the encryption section when
encryption is enabled (key files point into the mounted Secret) and the
archive section when archive is enabled (credentials come from the
environment, "sidewal.sidecar").
*/}}
{{- define "sidewal.configYaml" -}}
{{- include "sidewal.validate" . -}}
{{- $cfg := deepCopy .values.config -}}
{{- $enc := .values.encryption -}}
{{- if $enc.enabled -}}
{{- if not $enc.existingSecret -}}
{{- fail "encryption.enabled is true but encryption.existingSecret is empty: create a Secret with the 32-byte keys and name it there" -}}
{{- end -}}
{{- $keys := list -}}
{{- $current := false -}}
{{- range $enc.keys -}}
{{- $keys = append $keys (dict "id" .id "file" (printf "%s/%s" $enc.mountPath .secretKey)) -}}
{{- if eq (int .id) (int $enc.currentKeyId) -}}{{- $current = true -}}{{- end -}}
{{- end -}}
{{- if not $current -}}
{{- fail (printf "encryption.currentKeyId %v is not among encryption.keys[].id" $enc.currentKeyId) -}}
{{- end -}}
{{- $_ := set $cfg "encryption" (dict "enabled" true "current_key_id" $enc.currentKeyId "keys" $keys) -}}
{{- end -}}
{{- $a := .values.archive -}}
{{- if $a.enabled -}}
{{- $arch := dict "enabled" true "bucket" $a.bucket "prefix" $a.prefix "region" $a.region "path_style" $a.pathStyle "interval_seconds" $a.intervalSeconds "upload_concurrency" $a.uploadConcurrency "max_upload_bytes_per_second" ($a.maxUploadBytesPerSecond | int64) "restore_on_empty" $a.restoreOnEmpty "truncation_waits" $a.truncationWaits -}}
{{- with $a.endpoint -}}{{- $_ := set $arch "endpoint" . -}}{{- end -}}
{{- if $a.ca.existingSecret -}}
{{- $_ := set $arch "ca_file" (printf "%s/%s" $a.ca.mountPath $a.ca.key) -}}
{{- end -}}
{{- $_ := set $cfg "archive" $arch -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* Pod annotations: a checksum of the config (a change rolls the pods) and Prometheus discovery. */}}
{{- define "sidewal.podAnnotations" -}}
checksum/sidewal-config: {{ include "sidewal.configYaml" . | sha256sum }}
{{- if .values.metrics.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ include "sidewal.adminPort" . | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end -}}
