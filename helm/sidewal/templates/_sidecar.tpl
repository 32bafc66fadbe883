{{/*
The library-style part of the chart: named templates a database chart includes
in its own pod template to add the sidewal sidecar. Each takes the context
dict described in _helpers.tpl. A complete example is
helm/examples/database-chart; the chart's own example StatefulSet
(templates/statefulset.yaml) uses the same templates.

  metadata:
    labels:      {{- include "sidewal.podLabels" $sw | nindent 8 }}
    annotations: {{- include "sidewal.podAnnotations" $sw | nindent 8 }}
  spec:
    securityContext: {{- include "sidewal.podSecurityContext" $sw | nindent 6 }}
    terminationGracePeriodSeconds: {{ include "sidewal.terminationGracePeriodSeconds" $sw }}
    automountServiceAccountToken: false   # neither sidewal nor the check calls the API server
    initContainers:
      {{- include "sidewal.configCheck" $sw | nindent 6 }}   # first: a bad config stops the pod here
      {{- include "sidewal.sidecar" $sw | nindent 6 }}       # sidecar.native=true (default); else under containers
    containers:
      - name: my-database
        volumeMounts:
          {{- include "sidewal.socketMount" $sw | nindent 10 }}
    volumes:
      {{- include "sidewal.volumes" $sw | nindent 6 }}
  volumeClaimTemplates:       # renders nothing with persistence.existingClaim
    {{- include "sidewal.volumeClaimTemplate" $sw | nindent 4 }}
*/}}

{{/*
The config check (one list item, for initContainers, before the sidecar):
`sidewald --check-config` on the mounted ConfigMap, so a config the chart's
own checks let through stops the pod before the daemon (and, with an ordinary
sidecar, the database) starts; its message is in this container's log.
Renders nothing when sidecar.configCheck.enabled is false.
*/}}
{{- define "sidewal.configCheck" -}}
{{- $v := .values -}}
{{- if $v.sidecar.configCheck.enabled -}}
{{- include "sidewal.validate" . -}}
- name: {{ $v.sidecar.containerName }}-config-check
  image: {{ include "sidewal.image" . | quote }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  command:
    - /usr/local/bin/sidewald
    - --check-config
    - --config
    - {{ include "sidewal.configDir" . }}/sidewal.yaml
  resources:
    {{- toYaml $v.sidecar.configCheck.resources | nindent 4 }}
  securityContext:
    {{- toYaml $v.sidecar.securityContext | nindent 4 }}
  volumeMounts:
    - name: {{ $v.sidecar.volumeNames.config }}
      mountPath: {{ include "sidewal.configDir" . }}
      readOnly: true
{{- end -}}
{{- end -}}

{{/* The sidewal container (one list item). */}}
{{- define "sidewal.sidecar" -}}
{{- include "sidewal.validate" . -}}
{{- $v := .values -}}
{{- $names := $v.sidecar.volumeNames -}}
{{- $port := include "sidewal.adminPort" . | int -}}
{{- $preStopWait := include "sidewal.preStopMaxWait" . | int -}}
- name: {{ $v.sidecar.containerName }}
  image: {{ include "sidewal.image" . | quote }}
  imagePullPolicy: {{ $v.image.pullPolicy }}
  {{- if $v.sidecar.native }}
  # A native sidecar: started before the database, stopped after it.
  restartPolicy: Always
  {{- end }}
  command:
    - /usr/local/bin/sidewald
    - --config
    - {{ include "sidewal.configDir" . }}/sidewal.yaml
  ports:
    - name: {{ $v.service.portName }}
      containerPort: {{ $port }}
      protocol: TCP
  {{- if or $v.sidecar.extraEnv $v.archive.enabled }}
  env:
    {{- if $v.archive.enabled }}
    # The archive's credentials (docs/archive.md "Signing and credentials").
    - name: AWS_ACCESS_KEY_ID
      valueFrom:
        secretKeyRef:
          name: {{ $v.archive.existingSecret }}
          key: {{ $v.archive.secretKeys.accessKeyId }}
    - name: AWS_SECRET_ACCESS_KEY
      valueFrom:
        secretKeyRef:
          name: {{ $v.archive.existingSecret }}
          key: {{ $v.archive.secretKeys.secretAccessKey }}
    {{- if $v.archive.secretKeys.sessionToken }}
    - name: AWS_SESSION_TOKEN
      valueFrom:
        secretKeyRef:
          name: {{ $v.archive.existingSecret }}
          key: {{ $v.archive.secretKeys.sessionToken }}
          optional: true
    {{- end }}
    {{- end }}
    {{- with $v.sidecar.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- end }}
  # Recovery of a long log can take a while: liveness waits for the startup
  # probe, which allows periodSeconds x failureThreshold for /readyz.
  startupProbe:
    httpGet:
      path: /readyz
      port: {{ $v.service.portName }}
    {{- toYaml $v.sidecar.startupProbe | nindent 4 }}
  readinessProbe:
    httpGet:
      path: /readyz
      port: {{ $v.service.portName }}
    {{- toYaml $v.sidecar.readinessProbe | nindent 4 }}
  livenessProbe:
    httpGet:
      path: /healthz
      port: {{ $v.service.portName }}
    {{- toYaml $v.sidecar.livenessProbe | nindent 4 }}
  {{- if gt $preStopWait 0 }}
  # An ordinary container gets SIGTERM together with the database. Hold it
  # back until the database has let go (no client connected: the daemon's
  # sidewal_connections gauge is 0), at least minWaitSeconds and at most
  # maxWaitSeconds, so the database's last commits still reach the log; then
  # the kubelet sends SIGTERM and sidewald drains. A native sidecar needs none:
  # Kubernetes stops it after the database has exited.
  lifecycle:
    preStop:
      exec:
        command:
          - /bin/bash
          - -c
          - |
            host={{ include "sidewal.adminLocalHost" . }} port={{ $port }}
            min={{ $v.sidecar.preStop.minWaitSeconds | int }} max={{ $preStopWait }}
            connections() {
              { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null || return 1
              printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3
              local name value rest n=""
              while read -r -t 5 name value rest; do
                [[ $name == sidewal_connections ]] && n=${value%%.*}
              done <&3
              exec 3<&-
              [[ -n $n ]] && echo "$n"
            }
            SECONDS=0 waited=0
            while ((SECONDS < max)); do
              n=$(connections) || break   # sidewald no longer answers: nothing to wait for
              ((waited >= min && n == 0)) && break
              sleep 1; waited=$((waited + 1))
            done
  {{- end }}
  resources:
    {{- toYaml $v.sidecar.resources | nindent 4 }}
  securityContext:
    {{- toYaml $v.sidecar.securityContext | nindent 4 }}
  volumeMounts:
    - name: {{ $names.data }}
      mountPath: {{ $v.config.data_dir }}
      {{- with $v.persistence.subPath }}
      subPath: {{ . }}
      {{- end }}
    - name: {{ $names.socket }}
      mountPath: {{ include "sidewal.socketDir" . }}
    - name: {{ $names.config }}
      mountPath: {{ include "sidewal.configDir" . }}
      readOnly: true
    {{- if $v.encryption.enabled }}
    - name: {{ $names.keys }}
      mountPath: {{ $v.encryption.mountPath }}
      readOnly: true
    {{- end }}
    {{- if and $v.archive.enabled $v.archive.ca.existingSecret }}
    - name: {{ $names.archiveCa }}
      mountPath: {{ $v.archive.ca.mountPath }}
      readOnly: true
    {{- end }}
{{- end -}}

{{/* The mount the database container needs to reach the socket (one list item). */}}
{{- define "sidewal.socketMount" -}}
- name: {{ .values.sidecar.volumeNames.socket }}
  mountPath: {{ include "sidewal.socketDir" . }}
{{- end -}}

{{/*
The pod volumes the sidecar uses: the socket emptyDir shared with the
database, the ConfigMap, the key Secret when encryption is on, and the data
volume only with persistence.existingClaim (otherwise it is the pod's
volumeClaimTemplate, "sidewal.volumeClaimTemplate").
*/}}
{{- define "sidewal.volumes" -}}
{{- $v := .values -}}
{{- $names := $v.sidecar.volumeNames -}}
{{- with $v.persistence.existingClaim }}
- name: {{ $names.data }}
  persistentVolumeClaim:
    claimName: {{ . }}
{{- end }}
- name: {{ $names.socket }}
  emptyDir:
    {{- if $v.sidecar.socketVolumeMedium }}
    medium: {{ $v.sidecar.socketVolumeMedium }}
    {{- end }}
    sizeLimit: 1Mi
- name: {{ $names.config }}
  configMap:
    name: {{ include "sidewal.fullname" . }}-config
{{- if $v.encryption.enabled }}
- name: {{ $names.keys }}
  secret:
    secretName: {{ $v.encryption.existingSecret }}
    defaultMode: 0440  # group 10001 (fsGroup) reads the keys
    items:
      {{- range $v.encryption.keys }}
      - key: {{ .secretKey }}
        path: {{ .secretKey }}
      {{- end }}
{{- end }}
{{- if and $v.archive.enabled $v.archive.ca.existingSecret }}
- name: {{ $names.archiveCa }}
  secret:
    secretName: {{ $v.archive.ca.existingSecret }}
    items:
      - key: {{ $v.archive.ca.key }}
        path: {{ $v.archive.ca.key }}
{{- end }}
{{- end -}}

{{/* The persistent volume for the log (one volumeClaimTemplates item; nothing with persistence.existingClaim). */}}
{{- define "sidewal.volumeClaimTemplate" -}}
{{- $p := .values.persistence -}}
{{- if not $p.existingClaim -}}
- metadata:
    name: {{ .values.sidecar.volumeNames.data }}
  spec:
    accessModes:
      {{- toYaml $p.accessModes | nindent 6 }}
    {{- if $p.storageClassName }}
    storageClassName: {{ $p.storageClassName }}
    {{- end }}
    resources:
      requests:
        storage: {{ $p.size }}
{{- end -}}
{{- end -}}

{{/* The pod securityContext (non-root, fsGroup for the volumes, RuntimeDefault seccomp). */}}
{{- define "sidewal.podSecurityContext" -}}
{{- toYaml .values.podSecurityContext -}}
{{- end -}}
