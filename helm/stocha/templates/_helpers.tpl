{{/* Names, labels and the values the templates derive (threads, grace period, args). */}}

{{- define "stocha.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "stocha.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "stocha.selectorLabels" -}}
app.kubernetes.io/name: {{ include "stocha.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "stocha.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "stocha.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "stocha.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "stocha.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "stocha.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* CPU cores of a quantity ("4", 2.5, "3500m"), rounded down, at least 1; "" if unset. */}}
{{- define "stocha.cpuCores" -}}
{{- $q := toString . -}}
{{- if hasSuffix "m" $q -}}
{{- max 1 (div (atoi (trimSuffix "m" $q)) 1000) -}}
{{- else -}}
{{- max 1 (int (floor (float64 $q))) -}}
{{- end -}}
{{- end -}}

{{/* Engine threads: server.threads, else the CPU limit, else the CPU request, else 0
     (no flag: the server uses every core it sees). */}}
{{- define "stocha.threads" -}}
{{- $limits := .Values.resources.limits | default dict -}}
{{- $requests := .Values.resources.requests | default dict -}}
{{- if gt (int .Values.server.threads) 0 -}}
{{- int .Values.server.threads -}}
{{- else if hasKey $limits "cpu" -}}
{{- include "stocha.cpuCores" (get $limits "cpu") -}}
{{- else if hasKey $requests "cpu" -}}
{{- include "stocha.cpuCores" (get $requests "cpu") -}}
{{- else -}}
0
{{- end -}}
{{- end -}}

{{/* Seconds of absl duration "30s", "2m", "1m30s" (the forms the schema admits). */}}
{{- define "stocha.durationSeconds" -}}
{{- $total := 0 -}}
{{- range $part := regexFindAll "[0-9]+[hms]" . -1 -}}
{{- $n := int (trimSuffix "h" (trimSuffix "m" (trimSuffix "s" $part))) -}}
{{- if hasSuffix "h" $part }}{{ $total = add $total (mul $n 3600) }}
{{- else if hasSuffix "m" $part }}{{ $total = add $total (mul $n 60) }}
{{- else }}{{ $total = add $total $n }}{{ end -}}
{{- end -}}
{{- $total -}}
{{- end -}}

{{/* Pod grace period: above preStop + drain grace + the server's close wait (5 s for open calls, then 0.5 s for connections: docs/SERVING.md). Integer seconds: exceeding +5 covers +5.5. */}}
{{- define "stocha.terminationGrace" -}}
{{- $min := add (int .Values.preStopSleepSeconds) (include "stocha.durationSeconds" .Values.server.drainGrace | int) 5 -}}
{{- if gt (int .Values.terminationGracePeriodSeconds) 0 -}}
{{- if le (int .Values.terminationGracePeriodSeconds) $min -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed preStopSleepSeconds + server.drainGrace + 5 s (%d)" (int .Values.terminationGracePeriodSeconds) $min) -}}
{{- end -}}
{{- int .Values.terminationGracePeriodSeconds -}}
{{- else -}}
{{- add $min 10 -}}
{{- end -}}
{{- end -}}

{{/* stocha-server's flags (server/main.cc), one list item each. */}}
{{- define "stocha.args" -}}
{{- $s := .Values.server -}}
- --model={{ $s.modelPath }}
- --host=0.0.0.0
- --port={{ int $s.grpcPort }}
- --device={{ $s.device }}
{{- $threads := include "stocha.threads" . }}
{{- if ne $threads "0" }}
- --threads={{ $threads }}
{{- end }}
- --bf16={{ $s.bf16 }}
- --max_context={{ int $s.maxContext }}
- --deterministic={{ $s.deterministic }}
- --max_batch_size={{ int $s.maxBatchSize }}
- --max_tokens_per_step={{ int $s.maxTokensPerStep }}
- --prefill_chunk={{ int $s.prefillChunk }}
- --max_queue={{ int $s.maxQueue }}
- --max_queue_time={{ $s.maxQueueTime }}
- --kv_cache_mb={{ int64 $s.kvCacheMb }}
- --max_new_tokens={{ int $s.maxNewTokens }}
- --default_max_new_tokens={{ int $s.defaultMaxNewTokens }}
- --stream_interval={{ int $s.streamInterval }}
- --drain_grace={{ $s.drainGrace }}
{{- if .Values.metrics.enabled }}
- --metrics_port={{ int .Values.metrics.port }}
{{- end }}
{{- if .Values.tls.enabled }}
- --tls_cert=/etc/stocha/tls/tls.crt
- --tls_key=/etc/stocha/tls/tls.key
{{- if .Values.tls.clientCaSecretName }}
- --tls_client_ca=/etc/stocha/client-ca/ca.crt
{{- end }}
{{- end }}
{{- if .Values.auth.enabled }}
- --auth_token_file=/etc/stocha/auth/{{ .Values.auth.key }}
{{- end }}
{{- range $k, $v := $s.extraFlags }}
- --{{ $k }}={{ $v }}
{{- end }}
{{- end -}}

{{/* One probe: native gRPC on the health service, or a TCP check (see probes.mode). */}}
{{- define "stocha.probe" -}}
{{- $root := index . 0 -}}
{{- $p := index . 1 -}}
{{- if eq $root.Values.probes.mode "grpc" -}}
grpc:
  port: {{ int $root.Values.server.grpcPort }}
{{- else -}}
tcpSocket:
  port: grpc
{{- end }}
periodSeconds: {{ int $p.periodSeconds }}
timeoutSeconds: {{ int $p.timeoutSeconds }}
failureThreshold: {{ int $p.failureThreshold }}
{{- end -}}
