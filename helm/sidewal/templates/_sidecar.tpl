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
    initContainers:            # sidecar.native=true (default); else under containers
      {{- include "sidewal.sidecar" $sw | nindent 6 }}
    containers:
      - name: my-database
        volumeMounts:
          {{- include "sidewal.socketMount" $sw | nindent 10 }}
    volumes:
      {{- include "sidewal.volumes" $sw | nindent 6 }}
  volumeClaimTemplates:
    {{- include "sidewal.volumeClaimTemplate" $sw | nindent 4 }}
*/}}

{{/* The sidewal container (one list item). */}}
{{- define "sidewal.sidecar" -}}
{{- $v := .values -}}
{{- $names := $v.sidecar.volumeNames -}}
{{- $port := include "sidewal.adminPort" . | int -}}
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
  {{- with $v.sidecar.extraEnv }}
  env:
    {{- toYaml . | nindent 4 }}
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
{{- end -}}

{{/* The mount the database container needs to reach the socket (one list item). */}}
{{- define "sidewal.socketMount" -}}
- name: {{ .values.sidecar.volumeNames.socket }}
  mountPath: {{ include "sidewal.socketDir" . }}
{{- end -}}

{{/*
The pod volumes the sidecar uses, except the data volume (the pod's
volumeClaimTemplate, "sidewal.volumeClaimTemplate"): the socket emptyDir
shared with the database, the ConfigMap, and the key Secret when encryption
is on.
*/}}
{{- define "sidewal.volumes" -}}
{{- $v := .values -}}
{{- $names := $v.sidecar.volumeNames -}}
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
{{- end -}}

{{/* The persistent volume for the log (one volumeClaimTemplates item). */}}
{{- define "sidewal.volumeClaimTemplate" -}}
{{- $p := .values.persistence -}}
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

{{/* The pod securityContext (non-root, fsGroup for the volumes, RuntimeDefault seccomp). */}}
{{- define "sidewal.podSecurityContext" -}}
{{- toYaml .values.podSecurityContext -}}
{{- end -}}
