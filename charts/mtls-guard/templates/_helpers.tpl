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

{{/* The CA's Secret in helm mode, and the self-signed CA's Secret in cert-manager mode. */}}
{{- define "mtls-guard.caSecretName" -}}
{{- printf "%s-ca" (include "mtls-guard.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The certificate mode in effect. With webhook.url the webhooks call a server outside the cluster:
the chart cannot make its certificate, so helm mode falls back to secret (webhook.caBundle).
*/}}
{{- define "mtls-guard.certificatesMode" -}}
{{- $mode := .Values.certificates.mode | default "helm" }}
{{- if not (has $mode (list "helm" "cert-manager" "openshift" "secret")) }}
{{- fail (printf "certificates.mode must be one of helm, cert-manager, openshift, secret; got %q" $mode) }}
{{- end }}
{{- if and .Values.webhook.url (eq $mode "helm") }}secret{{ else }}{{ $mode }}{{ end }}
{{- end }}

{{/* The serving certificate's DNS names: every name the Service is reachable by. */}}
{{- define "mtls-guard.dnsNames" -}}
{{- $svc := include "mtls-guard.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- $domain := .Values.policy.clusterDomain | default "cluster.local" }}
{{- list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.%s" $svc $ns $domain) | toJson }}
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

{{/*
caBundle from webhook.caBundle as the API wants it: base64 of PEM. A PEM given as is gets encoded.
Only secret mode (and webhook.url) uses it; the other modes fill caBundle themselves.
*/}}
{{- define "mtls-guard.caBundle" -}}
{{- $ca := .Values.webhook.caBundle | default "" | trim }}
{{- $mode := include "mtls-guard.certificatesMode" . }}
{{- if eq $mode "secret" }}
{{- if not $ca }}
{{- fail (printf "webhook.caBundle must be set with certificates.mode secret%s: give the CA that signed the serving certificate (base64 of the PEM, or the PEM), e.g. --set webhook.caBundle=\"$(base64 -w0 < ca.crt)\"" (ternary " (webhook.url is set, so helm mode falls back to secret)" "" (ne .Values.certificates.mode "secret"))) }}
{{- end }}
{{- else if $ca }}
{{- fail (printf "webhook.caBundle must be empty with certificates.mode %s: that mode fills caBundle itself" $mode) }}
{{- end }}
{{- if hasPrefix "-----BEGIN" $ca }}
{{- $ca | b64enc }}
{{- else }}
{{- $ca }}
{{- end }}
{{- end }}

{{/*
clientConfig of one webhook; call with (dict "root" $ "path" "/validate" "caBundle" BASE64).
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
{{- with .caBundle }}
caBundle: {{ . }}
{{- end }}
{{- end }}

{{/* Annotations of both webhook configurations: CA injection by cert-manager or service-ca. */}}
{{- define "mtls-guard.webhookAnnotations" -}}
{{- $mode := include "mtls-guard.certificatesMode" . }}
{{- $annotations := deepCopy (.Values.webhook.annotations | default dict) }}
{{- if eq $mode "cert-manager" }}
{{- $_ := set $annotations "cert-manager.io/inject-ca-from" (printf "%s/%s" .Release.Namespace (include "mtls-guard.tlsSecretName" .)) }}
{{- else if eq $mode "openshift" }}
{{- $_ := set $annotations "service.beta.openshift.io/inject-cabundle" "true" }}
{{- end }}
{{- with $annotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Settings every webhook shares (failurePolicy is each webhook's own). */}}
{{- define "mtls-guard.webhookCommon" -}}
{{- $timeout := int .Values.webhook.timeoutSeconds }}
{{- if or (lt $timeout 1) (gt $timeout 30) }}
{{- fail (printf "webhook.timeoutSeconds must be between 1 and 30, got %d" $timeout) }}
{{- end }}
matchPolicy: Equivalent
sideEffects: None
admissionReviewVersions: ["v1", "v1beta1"]
timeoutSeconds: {{ $timeout }}
namespaceSelector:
  {{- with .Values.webhook.matchNamespaceLabels }}
  matchLabels:
    {{- toYaml . | nindent 4 }}
  {{- end }}
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
- apiGroups: ["argoproj.io"]
  apiVersions: ["*"]
  resources: ["rollouts"]
  operations: ["CREATE", "UPDATE"]
  scope: Namespaced
{{- range .Values.policy.workloadKinds }}
- apiGroups: [{{ .group | quote }}]
  apiVersions: ["*"]
  resources: [{{ .resource | quote }}]
  operations: ["CREATE", "UPDATE"]
  scope: Namespaced
{{- end }}
{{- end }}

{{/*
helm mode: the CA and serving certificate, as YAML (base64 values). Rendered once per release
render, by webhooks.yaml, because every call generates new keys. Kept across `helm upgrade`:
- the CA from the Secret "<full name>-ca" (tls.crt, tls.key) when it exists, else a new one;
- the serving certificate from its Secret when it was signed by that CA, for the same DNS names,
  and is not within renewBeforeDays of its end (annotation mtls-guard.io/not-after); else a new
  one, signed by the same CA, so caBundle stays the same.
`helm template` and client-side dry runs cannot look anything up and always show new ones.
*/}}
{{- define "mtls-guard.helmCertificates" -}}
{{- $cfg := .Values.certificates.helm }}
{{- $ns := .Release.Namespace }}
{{- $dnsNames := include "mtls-guard.dnsNames" . | fromJsonArray }}
{{- $sans := join "," $dnsNames }}
{{- $caSecret := lookup "v1" "Secret" $ns (include "mtls-guard.caSecretName" .) | default dict }}
{{- $caData := get $caSecret "data" | default dict }}
{{- $out := dict "dnsNames" $sans }}
{{- $ca := dict }}
{{- if and (get $caData "tls.crt") (get $caData "tls.key") }}
{{- $ca = buildCustomCert (get $caData "tls.crt") (get $caData "tls.key") }}
{{- $_ := set $out "caCert" (get $caData "tls.crt") }}
{{- $_ := set $out "caKey" (get $caData "tls.key") }}
{{- $_ := set $out "caReused" true }}
{{- else }}
{{- $ca = genCAWithKey (printf "%s.%s webhook CA" (include "mtls-guard.fullname" .) $ns) (int $cfg.caValidityDays) (genPrivateKey "ecdsa") }}
{{- $_ := set $out "caCert" ($ca.Cert | b64enc) }}
{{- $_ := set $out "caKey" ($ca.Key | b64enc) }}
{{- $_ := set $out "caReused" false }}
{{- end }}
{{- $tlsSecret := lookup "v1" "Secret" $ns (include "mtls-guard.tlsSecretName" .) | default dict }}
{{- $tlsData := get $tlsSecret "data" | default dict }}
{{- $annotations := get (get $tlsSecret "metadata" | default dict) "annotations" | default dict }}
{{- $notAfter := get $annotations "mtls-guard.io/not-after" }}
{{- $renewFrom := toDate "2006-01-02T15:04:05Z07:00" (default "" $notAfter) | unixEpoch | int64 }}
{{- $renewFrom = sub $renewFrom (mul (int $cfg.renewBeforeDays) 86400) }}
{{- $current := and (get $tlsData "tls.crt") (get $tlsData "tls.key") (eq (get $tlsData "ca.crt") (get $out "caCert")) (eq (get $annotations "mtls-guard.io/dns-names") $sans) }}
{{- if and $current (lt (now | unixEpoch | int64) $renewFrom) }}
{{- $_ := set $out "tlsCert" (get $tlsData "tls.crt") }}
{{- $_ := set $out "tlsKey" (get $tlsData "tls.key") }}
{{- $_ := set $out "notAfter" $notAfter }}
{{- else }}
{{- $days := int $cfg.validityDays }}
{{- $cert := genSignedCertWithKey (printf "%s.%s.svc" (include "mtls-guard.fullname" .) $ns) nil $dnsNames $days $ca (genPrivateKey "ecdsa") }}
{{- $_ := set $out "tlsCert" ($cert.Cert | b64enc) }}
{{- $_ := set $out "tlsKey" ($cert.Key | b64enc) }}
{{- $_ := set $out "notAfter" (dateInZone "2006-01-02T15:04:05Z07:00" (now | dateModify (printf "+%dh" (mul $days 24))) "UTC") }}
{{- end }}
{{- toYaml $out }}
{{- end }}
