{{/* The chart's name in object names (nameOverride). */}}
{{- define "teams-exporter.name" -}}
{{- .Values.nameOverride | default .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Name of the objects: fullnameOverride, else the release name with the
chart's name unless it holds it already ("helm install teams-exporter" names
every object teams-exporter). */}}
{{- define "teams-exporter.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "teams-exporter.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Selector labels. app.kubernetes.io/name is also the job label of the
scraped series (ServiceMonitor jobLabel): the rules expect "teams-exporter",
so it stays the chart's name whatever nameOverride says. */}}
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

{{/* "true" when Graph delivers change notifications to the exporter's own
listener: the notification URL is an https URL. Event Hubs delivery (an
"EventHub:" URL, or TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB without a URL)
needs no port, Service port or Ingress. */}}
{{- define "teams-exporter.webhook" -}}
{{- if hasPrefix "https://" (lower (toString (.Values.config.TEAMS_EXPORTER_NOTIFICATION_URL | default ""))) -}}
true
{{- end -}}
{{- end -}}

{{/* Where the chart mounts files of the user's ConfigMaps and Secrets. */}}
{{- define "teams-exporter.buildingDir" -}}/etc/teams-exporter/buildings{{- end -}}
{{- define "teams-exporter.certificateDir" -}}/etc/teams-exporter/azure-certificate{{- end -}}
