{{/* Names, labels and the pieces every workload shares. */}}

{{- define "hookline.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "hookline.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "hookline.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "hookline.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "hookline.secretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-secrets" (include "hookline.fullname" .)) -}}
{{- end -}}

{{/* The ports of deploy/hookline.toml, by component. */}}
{{- define "hookline.grpcPort" -}}
{{- if eq . "registry" -}}50051{{- else if eq . "ingest" -}}50052{{- end -}}
{{- end -}}
{{- define "hookline.httpPort" -}}
{{- if eq . "registry" -}}8081{{- else if eq . "ingest" -}}8082{{- else if eq . "console" -}}8084{{- else -}}8083{{- end -}}
{{- end -}}

{{/* Environment every container gets: secrets as HOOKLINE__ variables, the config file, trace export
     when an OTLP endpoint is set (the pod and namespace as resource attributes), extra env. */}}
{{- define "hookline.env" -}}
- name: HOOKLINE_CONFIG
  value: /etc/hookline/hookline.toml
- name: HOOKLINE__AMQP__URL
  valueFrom: {secretKeyRef: {name: {{ include "hookline.secretName" . }}, key: amqp-url}}
- name: HOOKLINE__DATABASE__URL
  valueFrom: {secretKeyRef: {name: {{ include "hookline.secretName" . }}, key: database-url}}
- name: HOOKLINE__SECRETS__MASTER_KEYS
  valueFrom: {secretKeyRef: {name: {{ include "hookline.secretName" . }}, key: master-keys}}
- name: HOOKLINE__AUTH__HS256_SECRET
  valueFrom: {secretKeyRef: {name: {{ include "hookline.secretName" . }}, key: hs256-secret, optional: true}}
- name: HOOKLINE__OPERATIONS__WEBHOOK_SECRET
  valueFrom: {secretKeyRef: {name: {{ include "hookline.secretName" . }}, key: operations-webhook-secret, optional: true}}
{{ include "hookline.sharedEnv" . }}
{{- end -}}

{{/* The console's environment: only what it uses. It reaches neither the broker nor the database, so
     it is given neither URL, nor the master keys; it gets the token keys and its session keys. */}}
{{- define "hookline.consoleEnv" -}}
- name: HOOKLINE_CONFIG
  value: /etc/hookline/hookline.toml
- name: HOOKLINE__AUTH__HS256_SECRET
  valueFrom: {secretKeyRef: {name: {{ include "hookline.secretName" . }}, key: hs256-secret, optional: true}}
- name: HOOKLINE__CONSOLE__SESSION_KEYS
  valueFrom: {secretKeyRef: {name: {{ include "hookline.secretName" . }}, key: console-session-keys}}
{{ include "hookline.sharedEnv" . }}
{{- end -}}

{{/* Trace export when an OTLP endpoint is set (the pod and namespace as resource attributes), and
     extraEnv: every container's. */}}
{{- define "hookline.sharedEnv" -}}
{{- with .Values.tracing }}
{{- if .otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ .otlpEndpoint | quote }}
- name: OTEL_TRACES_SAMPLER
  value: {{ .sampler | quote }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ .samplerArg | quote }}
- name: POD_NAME
  valueFrom: {fieldRef: {fieldPath: metadata.name}}
- name: POD_NAMESPACE
  valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: "k8s.pod.name=$(POD_NAME),k8s.namespace.name=$(POD_NAMESPACE)"
{{- end }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "hookline.volumes" -}}
- name: config
  configMap:
    name: {{ include "hookline.fullname" . }}-config
- name: keys
  secret:
    secretName: {{ include "hookline.secretName" . }}
    optional: true
{{- end -}}

{{- define "hookline.volumeMounts" -}}
- name: config
  mountPath: /etc/hookline
  readOnly: true
- name: keys
  mountPath: /etc/hookline-keys
  readOnly: true
{{- end -}}
