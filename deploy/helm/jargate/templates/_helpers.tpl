{{/* Names and labels. */}}
{{- define "jargate.name" -}}jargate{{- end }}

{{- define "jargate.fullname" -}}
{{- if contains "jargate" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-jargate" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end }}

{{- define "jargate.selectorLabels" -}}
app.kubernetes.io/name: jargate
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "jargate.labels" -}}
{{ include "jargate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: {{ .Values.mode }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "jargate.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end }}

{{/* Where the mounted directories are. The configuration directory is the ConfigMap itself. */}}
{{- define "jargate.configDir" -}}/etc/jargate{{- end }}
{{- define "jargate.tlsDir" -}}/etc/jargate-tls{{- end }}
{{- define "jargate.mtlsDir" -}}/etc/jargate-mtls{{- end }}
{{- define "jargate.clientCADir" -}}/etc/jargate-client-ca{{- end }}

{{/*
The configuration jargate reads: config from the values, plus the keys the chart owns (the
listeners from ports, TLS and mTLS files from their mounts, the registry's file name, the
sidecar's upstream). Refuses what cannot be right: returned as JSON, read with fromJson.
*/}}
{{- define "jargate.config" -}}
{{- $v := .Values -}}
{{- $config := deepCopy ($v.config | default dict) -}}
{{- $listen := get $config "listen" | default dict -}}
{{- range $owned := list "proxy" "admin" "tls_cert" "tls_key" "mtls" "mtls_cert" "mtls_key" "client_ca_file" -}}
{{- if hasKey $listen $owned -}}
{{- fail (printf "config.listen.%s is set by the chart (ports, tls, mtls values): remove it" $owned) -}}
{{- end -}}
{{- end -}}
{{- $_ := set $listen "proxy" (printf "0.0.0.0:%d" (int $v.ports.proxy)) -}}
{{- $_ := set $listen "admin" (printf "0.0.0.0:%d" (int $v.ports.admin)) -}}
{{- if $v.tls.secretName -}}
{{- $_ := set $listen "tls_cert" (printf "%s/tls.crt" (include "jargate.tlsDir" .)) -}}
{{- $_ := set $listen "tls_key" (printf "%s/tls.key" (include "jargate.tlsDir" .)) -}}
{{- end -}}
{{- if $v.mtls.enabled -}}
{{- if not (or $v.mtls.secretName $v.tls.secretName) -}}
{{- fail "mtls.enabled needs a certificate for the mTLS listener: mtls.secretName or tls.secretName" -}}
{{- end -}}
{{- $_ := set $listen "mtls" (printf "0.0.0.0:%d" (int $v.ports.mtls)) -}}
{{- if $v.mtls.secretName -}}
{{- $_ := set $listen "mtls_cert" (printf "%s/tls.crt" (include "jargate.mtlsDir" .)) -}}
{{- $_ := set $listen "mtls_key" (printf "%s/tls.key" (include "jargate.mtlsDir" .)) -}}
{{- end -}}
{{- if and $v.mtls.clientCA.secretName $v.mtls.clientCA.configMapName -}}
{{- fail "mtls.clientCA: secretName or configMapName, not both" -}}
{{- end -}}
{{- if or $v.mtls.clientCA.secretName $v.mtls.clientCA.configMapName -}}
{{- $_ := set $listen "client_ca_file" (printf "%s/%s" (include "jargate.clientCADir" .) $v.mtls.clientCA.key) -}}
{{- end -}}
{{- else if or $v.mtls.secretName $v.mtls.clientCA.secretName $v.mtls.clientCA.configMapName -}}
{{- fail "mtls.secretName / mtls.clientCA are set but mtls.enabled is false" -}}
{{- end -}}
{{- $_ := set $config "listen" $listen -}}
{{- $upstream := get $config "upstream" | default dict -}}
{{- if eq $v.mode "sidecar" -}}
{{- if not (hasKey $upstream "url") -}}
{{- $_ := set $upstream "url" (printf "http://127.0.0.1:%d" (int $v.sidecar.idp.port)) -}}
{{- end -}}
{{- else if not (get $upstream "url") -}}
{{- fail "gateway mode: config.upstream.url is required (the authorization server jargate forwards to)" -}}
{{- end -}}
{{- $_ := set $config "upstream" $upstream -}}
{{- $issuer := get $config "issuer" | default dict -}}
{{- if not (get $issuer "identifier") -}}
{{- fail "config.issuer.identifier is required (the authorization server's issuer identifier)" -}}
{{- end -}}
{{- $clients := get $config "clients" | default dict -}}
{{- if hasKey $clients "file" -}}
{{- fail "config.clients.file is set by the chart (the registry comes from the registry value): remove it" -}}
{{- end -}}
{{- $_ := set $clients "file" "clients.json" -}}
{{- $_ := set $config "clients" $clients -}}
{{- $store := get $config "store" | default dict -}}
{{- if and (gt (int $v.replicaCount) 1) (ne (get $store "backend" | default "memory") "redis") -}}
{{- fail (printf "replicaCount %d with the memory store: each replica would accept an assertion another one already saw; set config.store.backend = \"redis\" (docs/replicas.md) or replicaCount 1" (int $v.replicaCount)) -}}
{{- end -}}
{{- toJson $config -}}
{{- end }}

{{/* Seconds: drain delay + read timeout + 1 + margin (docs/operations.md, SIGTERM). */}}
{{- define "jargate.terminationGracePeriodSeconds" -}}
{{- $listen := .Values.config.listen | default dict -}}
{{- $upstream := .Values.config.upstream | default dict -}}
{{- $drain := hasKey $listen "drain_delay_secs" | ternary (get $listen "drain_delay_secs") 5 | int -}}
{{- $read := hasKey $upstream "read_timeout_ms" | ternary (get $upstream "read_timeout_ms") 10000 | int -}}
{{- add $drain (div (add $read 999) 1000) 1 (int .Values.terminationGraceMarginSeconds) -}}
{{- end }}

{{/* The ${VAR}s of config, registry and files. */}}
{{- define "jargate.variables" -}}
{{- $text := printf "%s\n%s\n%s" (include "jargate.config" .) (toJson .Values.registry) (toJson .Values.files) -}}
{{- regexFindAll "\\$\\{[A-Za-z0-9_]+\\}" $text -1 | uniq | sortAlpha | toJson -}}
{{- end }}
