{{/*
Naming and labels, in the style `helm create` generates, plus the values the app's
environment is derived from (signer URL, shutdown budget, secret names).
*/}}

{{- define "message-signer.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name; also the Service name that BS_MSG_SIGNER_URL points at. */}}
{{- define "message-signer.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "message-signer.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "message-signer.labels" -}}
helm.sh/chart: {{ include "message-signer.chart" . }}
{{ include "message-signer.selectorLabels" . }}
app.kubernetes.io/version: {{ (.Values.image.tag | default .Chart.AppVersion) | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: message-signer
{{- end }}

{{/* Selects this release's signer pods: Service, PDB, NetworkPolicy, anti-affinity. */}}
{{- define "message-signer.selectorLabels" -}}
app.kubernetes.io/name: {{ include "message-signer.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "message-signer.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "message-signer.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "message-signer.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}
{{- end }}

{{/* The in-cluster URL of this release's Service, public port http: for clients. */}}
{{- define "message-signer.serviceURL" -}}
{{- printf "%s://%s:%d" (ternary "https" "http" .Values.tls.enabled) (include "message-signer.serviceFQDN" .) (int .Values.service.port) }}
{{- end }}

{{/* BS_MSG_SIGNER_URL: the same Service on its internal port. The coordinator sends every
batch here, kube-proxy spreads them over the ready pods, and they never queue behind
public clients on port http. */}}
{{- define "message-signer.peerURL" -}}
{{- printf "%s://%s:%d" (ternary "https" "http" .Values.tls.enabled) (include "message-signer.serviceFQDN" .) (int .Values.service.internalPort) }}
{{- end }}

{{/* The Service's fully qualified name: host of BS_MSG_SIGNER_URL, a DNS name of the
Certificate and the serverName Prometheus verifies. */}}
{{- define "message-signer.serviceFQDN" -}}
{{- printf "%s.%s.svc.%s" (include "message-signer.fullname" .) .Release.Namespace .Values.clusterDomain }}
{{- end }}

{{/* Refuses auth, TLS and metrics values that would deploy a signer that cannot start or
cannot be scraped. Included once, by the Deployment. */}}
{{- define "message-signer.validateSecurity" -}}
{{- $a := .Values.auth }}
{{- if and (not $a.insecureNoAuth) (not $a.clientsSecret.name) }}
{{- fail "auth.clientsSecret.name is required: the pods listen on 0.0.0.0 and the signer refuses that without a clients file. Create the Secret (signer client add --clients clients.json ...; kubectl create secret generic NAME --from-file=clients.json) and set auth.clientsSecret.name, or set auth.insecureNoAuth=true to serve without authentication" }}
{{- end }}
{{- if and $a.insecureNoAuth .Values.metrics.requireAuth }}
{{- fail "metrics.requireAuth needs clients: it cannot be combined with auth.insecureNoAuth=true" }}
{{- end }}
{{- $t := .Values.tls }}
{{- if $t.enabled }}
{{- if and $t.certManager.enabled $t.existingSecret }}
{{- fail "set either tls.certManager.enabled or tls.existingSecret, not both" }}
{{- end }}
{{- if not (or $t.certManager.enabled $t.existingSecret) }}
{{- fail "tls.enabled needs a certificate: set tls.existingSecret (tls.crt, tls.key, ca.crt) or tls.certManager.enabled with tls.certManager.issuerRef.name" }}
{{- end }}
{{- if and $t.certManager.enabled (not $t.certManager.issuerRef.name) }}
{{- fail "tls.certManager.issuerRef.name is required with tls.certManager.enabled" }}
{{- end }}
{{- else if $t.requireClientCert }}
{{- fail "tls.requireClientCert needs tls.enabled=true" }}
{{- end }}
{{- if eq (int .Values.internalPort) (int .Values.containerPort) }}
{{- fail (printf "internalPort (%d) must differ from containerPort: the signer opens a second listener on it" (int .Values.internalPort)) }}
{{- end }}
{{- if eq (int .Values.service.internalPort) (int .Values.service.port) }}
{{- fail (printf "service.internalPort (%d) must differ from service.port" (int .Values.service.port)) }}
{{- end }}
{{- $sm := .Values.serviceMonitor }}
{{- if and $sm.enabled .Values.metrics.requireAuth (not $sm.bearerTokenSecret.name) }}
{{- fail "serviceMonitor.bearerTokenSecret.name is required with metrics.requireAuth: a Secret holding the token of a client with the read role" }}
{{- end }}
{{- if and $sm.enabled $t.enabled $t.requireClientCert (not $sm.clientCertSecret) }}
{{- fail "serviceMonitor.clientCertSecret is required with tls.requireClientCert: a kubernetes.io/tls Secret signed by the same CA for Prometheus to present" }}
{{- end }}
{{- end }}

{{/* Name of the Secret holding tls.crt, tls.key and ca.crt. */}}
{{- define "message-signer.tlsSecretName" -}}
{{- if .Values.tls.existingSecret }}
{{- .Values.tls.existingSecret }}
{{- else }}
{{- printf "%s-tls" (include "message-signer.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* A probe from values, adapted to TLS: httpGet gets scheme HTTPS; with mTLS the kubelet
cannot present a certificate, so an httpGet probe becomes an exec probe that runs
`signer healthcheck` against localhost with the pod's own certificate, on the port the
httpGet named (internal by default; http; or a number). */}}
{{- define "message-signer.probe" -}}
{{- $probe := deepCopy .probe }}
{{- $v := .root.Values }}
{{- if and $v.tls.enabled $probe.httpGet }}
{{- if $v.tls.requireClientCert }}
{{- $dir := $v.tls.mountPath }}
{{- $port := $probe.httpGet.port | default "internal" }}
{{- if eq (toString $port) "internal" }}
{{- $port = $v.internalPort }}
{{- else if eq (toString $port) "http" }}
{{- $port = $v.containerPort }}
{{- else if not (regexMatch "^[0-9]+$" (toString $port)) }}
{{- fail (printf "probe port %q: use internal, http or a number" (toString $port)) }}
{{- end }}
{{- $url := printf "https://localhost:%d%s" (int $port) ($probe.httpGet.path | default "/healthz") }}
{{- $cmd := list "/usr/local/bin/signer" "healthcheck" "--url" $url "--peer-ca" (printf "%s/ca.crt" $dir) "--peer-cert" (printf "%s/tls.crt" $dir) "--peer-key" (printf "%s/tls.key" $dir) }}
{{- $_ := unset $probe "httpGet" }}
{{- $_ = set $probe "exec" (dict "command" $cmd) }}
{{- else }}
{{- $_ := set $probe "httpGet" (merge (dict "scheme" "HTTPS") (omit $probe.httpGet "scheme")) }}
{{- end }}
{{- end }}
{{- toYaml $probe }}
{{- end }}

{{- define "message-signer.internalTokenSecretName" -}}
{{- if .Values.internalToken.existingSecret }}
{{- .Values.internalToken.existingSecret }}
{{- else }}
{{- printf "%s-internal-token" (include "message-signer.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Seconds the app may spend draining after SIGTERM: the pod's grace period less the
preStop sleep, less 5 s of margin for the process to exit before SIGKILL. */}}
{{- define "message-signer.shutdownGraceSeconds" -}}
{{- $grace := int .Values.terminationGracePeriodSeconds }}
{{- $preStop := int .Values.preStopSleepSeconds }}
{{- $budget := sub (sub $grace $preStop) 5 }}
{{- if lt $budget 1 }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed preStopSleepSeconds (%d) + 5" $grace $preStop) }}
{{- end }}
{{- $budget }}
{{- end }}
