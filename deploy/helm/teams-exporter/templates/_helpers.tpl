{{/* Name of the objects: the release name, with the chart's unless it holds it. */}}
{{- define "teams-exporter.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Selector labels. app.kubernetes.io/name is also the job label of the
scraped series (ServiceMonitor jobLabel): the rules expect "teams-exporter". */}}
{{- define "teams-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "teams-exporter.labels" -}}
{{ include "teams-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "teams-exporter.secretName" -}}
{{- .Values.azure.existingSecret | default (printf "%s-azure" (include "teams-exporter.fullname" .)) -}}
{{- end -}}
