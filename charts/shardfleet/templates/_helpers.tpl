{{/* The chart's name, 63 characters at most. */}}
{{- define "shardfleet.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every resource name: `<release>-<chart>`, or the release name when it already holds
the chart's name; 63 characters at most (a DNS label).
*/}}
{{- define "shardfleet.fullname" -}}
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

{{/*
A name of its own for one object: the full name, shortened so that `-<suffix>` still fits in 63
characters. Called with (dict "context" $ "suffix" "operator").
*/}}
{{- define "shardfleet.componentName" -}}
{{- $max := sub 62 (len .suffix) | int }}
{{- printf "%s-%s" (include "shardfleet.fullname" .context | trunc $max | trimSuffix "-") .suffix }}
{{- end }}

{{/* The operator's name: its Deployment, ClusterRole, Lease and (by default) ServiceAccount. */}}
{{- define "shardfleet.operatorName" -}}
{{- include "shardfleet.componentName" (dict "context" . "suffix" "operator") }}
{{- end }}

{{/* The operator's ServiceAccount. */}}
{{- define "shardfleet.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "shardfleet.operatorName" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The chart label: `<chart>-<version>`. */}}
{{- define "shardfleet.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The labels of every object of the release (each adds its app.kubernetes.io/component). */}}
{{- define "shardfleet.labels" -}}
app.kubernetes.io/name: {{ include "shardfleet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/part-of: shardfleet
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "shardfleet.chart" . }}
{{- end }}

{{/* The operator's selector labels: fixed for the life of the release. */}}
{{- define "shardfleet.operatorSelectorLabels" -}}
app.kubernetes.io/name: {{ include "shardfleet.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/* The operator's labels. */}}
{{- define "shardfleet.operatorLabels" -}}
{{ include "shardfleet.labels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{/* An image reference from {repository, tag, digest}, the tag defaulting to the appVersion. */}}
{{- define "shardfleet.image" -}}
{{- $image := .image }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository (default .context.Chart.AppVersion $image.tag) }}
{{- end }}
{{- end }}

{{/* Leader election: on when more than one operator replica runs. */}}
{{- define "shardfleet.leaderElect" -}}
{{- if gt (int .Values.replicaCount) 1 }}true{{ else }}false{{ end }}
{{- end }}

{{/* The rules of the operator's role: the same as operator/deploy/rbac.yaml. */}}
{{- define "shardfleet.operatorRules" -}}
- apiGroups: [shardfleet.dev]
  resources: [discordbots]
  verbs: [get, list, watch]
- apiGroups: [shardfleet.dev]
  resources: [discordbots/status]
  verbs: [get, patch, update]
# Owner references with blockOwnerDeletion need this where OwnerReferencesPermissionEnforcement is on.
- apiGroups: [shardfleet.dev]
  resources: [discordbots/finalizers]
  verbs: [update]
- apiGroups: [apps]
  resources: [statefulsets]
  verbs: [get, list, watch, create, patch]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: ['']
  resources: [services]
  verbs: [get, list, watch, create, patch]
- apiGroups: ['']
  resources: [secrets]
  verbs: [get, list, watch, create, patch]
- apiGroups: ['']
  resources: [pods]
  verbs: [get, list, watch]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [get, list, watch, create, patch]
- apiGroups: ['']
  resources: [events]
  verbs: [create]
{{- end }}
