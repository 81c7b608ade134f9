{{/* Chart name, truncated to a DNS label. */}}
{{- define "mtls-guard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name when it already contains the chart name, else release-chart. */}}
{{- define "mtls-guard.fullname" -}}
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

{{- define "mtls-guard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mtls-guard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mtls-guard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mtls-guard.labels" -}}
helm.sh/chart: {{ include "mtls-guard.chart" . }}
{{ include "mtls-guard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: mtls-guard
{{- end }}

{{- define "mtls-guard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mtls-guard.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "mtls-guard.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "mtls-guard.fullname" .)) .Values.certificates.secretName }}
{{- end }}

{{/* Fail (enforce) or Ignore (audit) unless webhook.failurePolicy says otherwise. */}}
{{- define "mtls-guard.failurePolicy" -}}
{{- $mode := default "enforce" .Values.policy.mode }}
{{- $policy := .Values.webhook.failurePolicy | default (ternary "Ignore" "Fail" (eq $mode "audit")) }}
{{- if not (has $policy (list "Fail" "Ignore")) }}
{{- fail (printf "webhook.failurePolicy must be Fail or Ignore, got %q" $policy) }}
{{- end }}
{{- $policy }}
{{- end }}

{{/* caBundle as the API wants it: base64 of PEM. A PEM given as is gets encoded. */}}
{{- define "mtls-guard.caBundle" -}}
{{- $ca := .Values.webhook.caBundle | default "" | trim }}
{{- if hasPrefix "-----BEGIN" $ca }}
{{- $ca | b64enc }}
{{- else }}
{{- $ca }}
{{- end }}
{{- end }}

{{/*
clientConfig of one webhook; call with (dict "root" $ "path" "/validate").
webhook.url (local development, the e2e tests) wins over the in-cluster Service.
*/}}
{{- define "mtls-guard.clientConfig" -}}
{{- $root := .root }}
{{- with $root.Values.webhook.url }}
url: {{ printf "%s%s" (trimSuffix "/" .) $.path | quote }}
{{- else }}
service:
  name: {{ include "mtls-guard.fullname" $root }}
  namespace: {{ $root.Release.Namespace }}
  path: {{ .path | quote }}
  port: {{ $root.Values.service.port }}
{{- end }}
{{- with (include "mtls-guard.caBundle" $root) }}
caBundle: {{ . }}
{{- end }}
{{- end }}

{{/* Settings both webhooks share. */}}
{{- define "mtls-guard.webhookCommon" -}}
{{- $timeout := int .Values.webhook.timeoutSeconds }}
{{- if or (lt $timeout 1) (gt $timeout 30) }}
{{- fail (printf "webhook.timeoutSeconds must be between 1 and 30, got %d" $timeout) }}
{{- end }}
matchPolicy: Equivalent
sideEffects: None
admissionReviewVersions: ["v1", "v1beta1"]
timeoutSeconds: {{ $timeout }}
failurePolicy: {{ include "mtls-guard.failurePolicy" . }}
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values:
        {{- range (append .Values.webhook.excludeNamespaces .Release.Namespace | uniq) }}
        - {{ . | quote }}
        {{- end }}
    - key: mtls-guard.io/ignore
      operator: NotIn
      values: ["true"]
{{- end }}

{{/* Rules for the pod-template kinds (both webhooks). */}}
{{- define "mtls-guard.workloadRules" -}}
- apiGroups: ["apps"]
  apiVersions: ["*"]
  resources: ["deployments", "statefulsets", "daemonsets", "replicasets"]
  operations: ["CREATE", "UPDATE"]
  scope: Namespaced
- apiGroups: ["batch"]
  apiVersions: ["*"]
  resources: ["jobs", "cronjobs"]
  operations: ["CREATE", "UPDATE"]
  scope: Namespaced
- apiGroups: ["apps.openshift.io"]
  apiVersions: ["*"]
  resources: ["deploymentconfigs"]
  operations: ["CREATE", "UPDATE"]
  scope: Namespaced
{{- end }}
