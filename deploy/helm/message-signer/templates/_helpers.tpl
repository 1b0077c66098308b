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

{{/* The in-cluster URL of this release's Service: the coordinator sends every batch
here, and kube-proxy spreads them over the ready pods. */}}
{{- define "message-signer.signerURL" -}}
{{- printf "http://%s.%s.svc.%s:%d" (include "message-signer.fullname" .) .Release.Namespace .Values.clusterDomain (int .Values.service.port) }}
{{- end }}

{{- define "message-signer.keysSecretName" -}}
{{- required "keys.existingSecret is required: create the keys Secret with `signer keygen --k8s-secret NAME` and kubectl apply it first" .Values.keys.existingSecret }}
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
