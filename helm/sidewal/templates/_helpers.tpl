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

{{/* The admin port number, taken from config.admin.listen ("host:port"). */}}
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
{{- $port -}}
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

{{/* terminationGracePeriodSeconds: the daemon's drain timeout plus an allowance. */}}
{{- define "sidewal.terminationGracePeriodSeconds" -}}
{{- $drain := .values.config.shutdown.drain_timeout_seconds | float64 | ceil | int -}}
{{- add $drain .values.terminationGraceExtraSeconds -}}
{{- end -}}

{{/*
The daemon's sidewal.yaml: config verbatim, plus the encryption section when
encryption is enabled (key files point into the mounted Secret).
*/}}
{{- define "sidewal.configYaml" -}}
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
