{{/* Chart name, as `helm create` names it. */}}
{{- define "drover.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name, truncated at 63 characters (the DNS label limit).
A release name that already holds the chart name is used as is.
*/}}
{{- define "drover.fullname" -}}
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

{{- define "drover.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "drover.labels" -}}
helm.sh/chart: {{ include "drover.chart" . }}
{{ include "drover.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "drover.selectorLabels" -}}
app.kubernetes.io/name: {{ include "drover.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "drover.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "drover.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Seconds in a duration of drover's form: 500ms, 5s, 1.5m. */}}
{{- define "drover.seconds" -}}
{{- $d := toString . -}}
{{- if hasSuffix "ms" $d -}}
{{- divf (trimSuffix "ms" $d | float64) 1000 -}}
{{- else if hasSuffix "s" $d -}}
{{- trimSuffix "s" $d | float64 -}}
{{- else if hasSuffix "m" $d -}}
{{- mulf (trimSuffix "m" $d | float64) 60 -}}
{{- else -}}
{{- fail (printf "%q is not a duration such as 500ms, 5s or 1m" $d) -}}
{{- end -}}
{{- end }}

{{/*
The grace period must outlast the drain and the workers' stop, or the
kubelet SIGKILLs drover while requests are still being finished.
*/}}
{{- define "drover.terminationGracePeriodSeconds" -}}
{{- $drain := include "drover.seconds" .Values.drover.drainDelay | float64 -}}
{{- $stop := include "drover.seconds" .Values.drover.stopTimeout | float64 -}}
{{- $need := addf $drain $stop | ceil | int -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds -}}
{{- add $need .Values.terminationGraceMarginSeconds -}}
{{- else if lt (int .Values.terminationGracePeriodSeconds) $need -}}
{{- fail (printf "terminationGracePeriodSeconds %v does not cover drover.drainDelay %s + drover.stopTimeout %s" .Values.terminationGracePeriodSeconds .Values.drover.drainDelay .Values.drover.stopTimeout) -}}
{{- else -}}
{{- .Values.terminationGracePeriodSeconds -}}
{{- end -}}
{{- end }}
