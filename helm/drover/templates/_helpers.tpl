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

{{/*
DROVER_HEALTH_ADDR from drover.healthHost and drover.healthPort; "podIP"
refers to the POD_IP variable the Deployment sets from status.podIP.
*/}}
{{- define "drover.healthAddr" -}}
{{- $host := .Values.drover.healthHost | default "" -}}
{{- if eq $host "podIP" -}}
{{- $host = "$(POD_IP)" -}}
{{- else if and (contains ":" $host) (not (hasPrefix "[" $host)) -}}
{{- $host = printf "[%s]" $host -}}
{{- end -}}
{{- printf "%s:%v" $host .Values.drover.healthPort -}}
{{- end }}

{{/*
The update strategy: the value as given, or, when empty, none (Kubernetes'
default) except with hostNetwork, where a surge pod cannot get the ports.
*/}}
{{- define "drover.strategy" -}}
{{- if .Values.strategy -}}
{{- toYaml .Values.strategy -}}
{{- else if .Values.hostNetwork -}}
type: RollingUpdate
rollingUpdate:
  maxSurge: 0
  maxUnavailable: 1
{{- end -}}
{{- end }}

{{/*
resources without null entries: `--set resources.limits.cpu=null` (or a
values file that unsets a default) leaves the key with no value, which the
API server refuses as a quantity.
*/}}
{{- define "drover.resources" -}}
{{- $out := dict -}}
{{- range $k, $v := .Values.resources -}}
{{- if kindIs "map" $v -}}
{{- $m := dict -}}
{{- range $rk, $rv := $v -}}
{{- if not (kindIs "invalid" $rv) -}}
{{- $_ := set $m $rk $rv -}}
{{- end -}}
{{- end -}}
{{- if $m -}}
{{- $_ := set $out $k $m -}}
{{- end -}}
{{- else if not (kindIs "invalid" $v) -}}
{{- $_ := set $out $k $v -}}
{{- end -}}
{{- end -}}
{{- if $out -}}
{{- toYaml $out -}}
{{- end -}}
{{- end }}

{{/* The Service's service-link variable prefix: "web-drover" is WEB_DROVER. */}}
{{- define "drover.serviceEnvPrefix" -}}
{{- include "drover.fullname" . | upper | replace "-" "_" -}}
{{- end }}
