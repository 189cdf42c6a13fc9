{{/*
The four roles of the one binary, in the order resources are rendered: in cluster mode each is a
Deployment; in embedded mode there are none (one StatefulSet runs `hookmetry serve`).
*/}}
{{- define "hookmetry.roles" -}}
{{- if include "hookmetry.cluster" . }}ingest processor replay api{{ end }}
{{- end }}

{{/*
"true" in cluster mode (kafka.brokers and scylla.nodes set), "" in embedded mode (neither set).
values.schema.json refuses one without the other; the fail below is for a schema-less render.
*/}}
{{- define "hookmetry.cluster" -}}
{{- $b := .Values.kafka.brokers | default list }}
{{- $n := .Values.scylla.nodes | default list }}
{{- if and $b (not $n) }}
{{- fail "kafka.brokers is set but scylla.nodes is not: cluster mode needs both (set scylla.nodes), embedded mode neither" }}
{{- else if and $n (not $b) }}
{{- fail "scylla.nodes is set but kafka.brokers is not: cluster mode needs both (set kafka.brokers), embedded mode neither" }}
{{- else if $b }}true{{ end }}
{{- end }}

{{/* Where the embedded StatefulSet mounts its PersistentVolumeClaim, and the data dir inside it. */}}
{{- define "hookmetry.dataMount" -}}/var/lib/hookmetry{{- end }}
{{- define "hookmetry.dataDir" -}}{{ include "hookmetry.dataMount" . }}/data{{- end }}

{{- define "hookmetry.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name, at most 44 characters so that "<fullname>-processor" and the other
per-role names stay within 63 (DNS labels for Services).
*/}}
{{- define "hookmetry.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 44 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 44 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 44 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "hookmetry.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels shared by every role; a role adds app.kubernetes.io/component. */}}
{{- define "hookmetry.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hookmetry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "hookmetry.labels" -}}
helm.sh/chart: {{ include "hookmetry.chart" . }}
{{ include "hookmetry.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: hookmetry
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels of one role's resources: call with (dict "ctx" $ "role" "ingest"). */}}
{{- define "hookmetry.roleLabels" -}}
{{ include "hookmetry.labels" .ctx }}
app.kubernetes.io/component: {{ .role }}
{{- end }}

{{- define "hookmetry.roleSelectorLabels" -}}
{{ include "hookmetry.selectorLabels" .ctx }}
app.kubernetes.io/component: {{ .role }}
{{- end }}

{{- define "hookmetry.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "hookmetry.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "hookmetry.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* kafka://b1:9092,b2:9092 */}}
{{- define "hookmetry.logUrl" -}}
{{- printf "kafka://%s" (join "," .Values.kafka.brokers) }}
{{- end }}

{{/* scylla://n1:9042,n2:9042/keyspace?opt=value&… (options sorted by name) */}}
{{- define "hookmetry.storeUrl" -}}
{{- $opts := list }}
{{- range $k, $v := .Values.scylla.urlOptions }}
{{- $opts = append $opts (printf "%s=%v" $k $v) }}
{{- end }}
{{- printf "scylla://%s/%s" (join "," .Values.scylla.nodes) .Values.scylla.keyspace }}
{{- if $opts }}?{{ join "&" $opts }}{{ end }}
{{- end }}

{{/* server.capture_base_url (what capture URLs start with): publicUrl, else the capture Ingress host. */}}
{{- define "hookmetry.publicUrl" -}}
{{- if .Values.publicUrl }}
{{- .Values.publicUrl | trimSuffix "/" }}
{{- else if .Values.ingress.capture.enabled }}
{{- printf "%s://%s" (ternary "https" "http" (ne .Values.ingress.capture.tlsSecretName "")) .Values.ingress.capture.host }}
{{- end }}
{{- end }}

{{/* server.public_url (the inspector and API): apiUrl, else the API Ingress host. */}}
{{- define "hookmetry.apiUrl" -}}
{{- if .Values.apiUrl }}
{{- .Values.apiUrl | trimSuffix "/" }}
{{- else if .Values.ingress.api.enabled }}
{{- printf "%s://%s" (ternary "https" "http" (ne .Values.ingress.api.tlsSecretName "")) .Values.ingress.api.host }}
{{- end }}
{{- end }}

{{/*
hookmetry.toml: the keys the chart owns, then `config` by section. Every value is written with
toJson, which is also valid TOML for strings (basic strings), numbers, booleans and lists.
*/}}
{{- define "hookmetry.configToml" -}}
{{- $server := dict
    "listen" (printf "0.0.0.0:%d" (int .Values.containerPort))
    "data_dir" "/tmp/hookmetry"
    "public_url" (include "hookmetry.apiUrl" .)
    "capture_base_url" (include "hookmetry.publicUrl" .) }}
{{- $managed := dict
  "server" $server
  "log" (dict
    "url" (include "hookmetry.logUrl" .)
    "kafka_partitions" (int .Values.kafka.partitions)
    "kafka_replication_factor" (int .Values.kafka.replicationFactor)
    "kafka_create_topics" .Values.kafka.createTopics
    "kafka_session_timeout" .Values.kafka.sessionTimeout
    "kafka_properties" .Values.kafka.properties)
  "store" (dict
    "url" (include "hookmetry.storeUrl" .)
    "scylla_consistency" .Values.scylla.consistency
    "scylla_replication_factor" (int .Values.scylla.replicationFactor))
}}
{{- if not (include "hookmetry.cluster" .) }}
{{- /* Embedded: log.url and store.url stay empty, i.e. the embedded log and the SQLite store in
  the data dir on the PersistentVolumeClaim. (replay.allow_loopback "auto" is false there: the
  server listens on 0.0.0.0.) */}}
{{- $_ := set $server "data_dir" (include "hookmetry.dataDir" .) }}
{{- $managed = dict "server" $server }}
{{- end }}
{{- $sections := list "server" "ingest" "log" "store" "processor" "replay" "api" "telemetry" }}
{{- $user := .Values.config | default dict -}}
# Rendered by the hookmetry Helm chart from its values; every key is described in
# services/lib/config/defaults.toml (`hookmetry defaults`).
{{- range $section := $sections }}
{{- $keys := merge (dict) (get $managed $section | default dict) (get $user $section | default dict) }}
{{- if $keys }}

[{{ $section }}]
{{- range $k, $v := $keys }}
{{ $k }} = {{ toJson $v }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* Whether the chart renders its own Secret. */}}
{{- define "hookmetry.createSecret" -}}
{{- if and (not .Values.secrets.existingSecret) (or .Values.secrets.kafkaProperties .Values.secrets.env) }}true{{ end }}
{{- end }}

{{- define "hookmetry.secretName" -}}
{{- default (printf "%s-secrets" (include "hookmetry.fullname" .)) .Values.secrets.existingSecret }}
{{- end }}

{{/* The Secret's data (stringData), also used by the migration's hook copy. */}}
{{- define "hookmetry.secretData" -}}
{{- if .Values.secrets.kafkaProperties }}
HOOKMETRY_LOG_KAFKA_PROPERTIES: {{ join "," (concat .Values.kafka.properties .Values.secrets.kafkaProperties) | quote }}
{{- end }}
{{- range $k, $v := .Values.secrets.env }}
{{ $k }}: {{ $v | toString | quote }}
{{- end }}
{{- end }}

{{/* Pod-level fields shared by the roles and the migration Job: (dict "ctx" $ "serviceAccount" name). */}}
{{- define "hookmetry.podCommon" -}}
serviceAccountName: {{ .serviceAccount }}
automountServiceAccountToken: false
{{- with .ctx.Values.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
securityContext:
  {{- toYaml .ctx.Values.podSecurityContext | nindent 2 }}
{{- end }}

{{/*
The migration Job's ServiceAccount: a pre-install hook runs before the chart's own ServiceAccount
exists, so it uses an existing one (serviceAccount.create=false with a name) or the namespace's
"default".
*/}}
{{- define "hookmetry.migrateServiceAccountName" -}}
{{- if .Values.serviceAccount.create }}default{{ else }}{{ default "default" .Values.serviceAccount.name }}{{ end }}
{{- end }}

{{/* Environment of every hookmetry container: (dict "ctx" $ "extra" list). */}}
{{- define "hookmetry.env" -}}
- name: HOOKMETRY_CONFIG
  value: /etc/hookmetry/hookmetry.toml
{{- with .ctx.Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- with .extra }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "hookmetry.volumeMounts" -}}
- name: config
  mountPath: /etc/hookmetry
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- end }}

{{/* Volumes: (dict "ctx" $ "configMap" name). */}}
{{- define "hookmetry.volumes" -}}
- name: config
  configMap:
    name: {{ .configMap }}
- name: tmp
  emptyDir:
    sizeLimit: {{ .ctx.Values.tmpSizeLimit }}
{{- end }}
