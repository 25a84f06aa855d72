{{/* The chart's name, or nameOverride. */}}
{{- define "caskade.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The base name of the objects: fullnameOverride, else the release name
(with the chart's name appended unless the release name contains it).
Pods are <fullname>-0, -1, ...; 52 characters leave room for the
StatefulSet's controller-revision-hash label.
*/}}
{{- define "caskade.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The headless Service: one DNS name per pod, for Raft and Serf. */}}
{{- define "caskade.headless" -}}
{{- printf "%s-headless" (include "caskade.fullname" .) }}
{{- end }}

{{/* chart label: name-version. */}}
{{- define "caskade.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "caskade.labels" -}}
helm.sh/chart: {{ include "caskade.chart" . }}
{{ include "caskade.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select the pods. */}}
{{- define "caskade.selectorLabels" -}}
app.kubernetes.io/name: {{ include "caskade.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The image, repository:tag. */}}
{{- define "caskade.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* The voters the cluster bootstraps with: bootstrapExpect, or replicas. */}}
{{- define "caskade.bootstrapExpect" -}}
{{- $n := int .Values.bootstrapExpect }}
{{- if eq $n 0 }}{{ $n = int .Values.replicas }}{{ end }}
{{- if gt $n (int .Values.replicas) }}
{{- fail (printf "bootstrapExpect %d is more than replicas %d: the cluster would never bootstrap" $n (int .Values.replicas)) }}
{{- end }}
{{- $n }}
{{- end }}

{{/* The DNS name of pod $i: <fullname>-<i>.<headless>.<namespace>.svc.<domain>. */}}
{{- define "caskade.podHost" -}}
{{- printf "%s-%d.%s.%s.svc.%s" (include "caskade.fullname" .root) .i (include "caskade.headless" .root) .root.Release.Namespace .root.Values.clusterDomain }}
{{- end }}

{{/* --join: the Serf address of every pod, comma-separated. */}}
{{- define "caskade.join" -}}
{{- $addrs := list }}
{{- range $i := until (int .Values.replicas) }}
{{- $addrs = append $addrs (printf "%s:%d" (include "caskade.podHost" (dict "root" $ "i" $i)) (int $.Values.ports.serf)) }}
{{- end }}
{{- join "," $addrs }}
{{- end }}
