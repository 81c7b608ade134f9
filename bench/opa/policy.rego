# The benchmark peer: mtls-guard's two DISABLE rules with the default policy's allowlist,
# written the way an OPA user would write them for admission control. Queried like kube-mgmt
# and OPA's admission tutorial do: the AdmissionReview is the input, the answer is
# data.mtlsguard.admission.review (POST /v0/data/mtlsguard/admission/review, body = review).
#
# Equivalent for the benchmark payloads: peerauthentication-disable (top-level and port-level
# DISABLE; allow entries by namespace and name glob) and destinationrule-disable (tls.mode
# DISABLE in trafficPolicy, its portLevelSettings, subsets and their portLevelSettings; host
# normalised as Istio does; allow entries by host glob and optional namespace). Not ported:
# selector/ports allow entries, wildcard-host coverage, UPDATE pre-existing downgrade, audit
# mode, warnings and the mutation webhook - OPA answers the Deployment reviews with allowed.
package mtlsguard.admission

import rego.v1

cluster_domain := "cluster.local"

pa_allow := [{"namespace": "istio-system", "name": "disable-mtls-jaeger-collector", "reason": "OSSM-managed"}]

dr_allow := [{"host": "kubernetes.default.svc.cluster.local", "reason": "OSSM-managed"}]

req := input.request

obj := req.object

namespace := req.namespace if req.namespace != ""

else := obj.metadata.namespace

name := req.name if req.name != ""

else := obj.metadata.name

checked if req.operation in {"CREATE", "UPDATE"}

review := {
	"apiVersion": input.apiVersion,
	"kind": "AdmissionReview",
	"response": response,
}

response := {"uid": req.uid, "allowed": true} if count(violations) == 0

response := {
	"uid": req.uid,
	"allowed": false,
	"status": {"code": 403, "reason": "Forbidden", "message": message},
} if {
	count(violations) > 0
	message := sprintf("%s %s/%s violates %d mTLS guardrail(s):\n%s", [req.kind.kind, namespace, name, count(violations), concat("\n", sort(violations))])
}

# --- peerauthentication-disable ---------------------------------------------------------

pa_disabled contains "spec.mtls.mode" if obj.spec.mtls.mode == "DISABLE"

pa_disabled contains sprintf("spec.portLevelMtls.%s.mode", [port]) if {
	some port, setting in obj.spec.portLevelMtls
	setting.mode == "DISABLE"
}

pa_allowed if {
	some entry in pa_allow
	glob.match(entry.namespace, null, namespace)
	entry_name_matches(entry)
}

entry_name_matches(entry) if not entry.name

entry_name_matches(entry) if glob.match(entry.name, null, name)

violations contains msg if {
	checked
	req.kind.group == "security.istio.io"
	req.kind.kind == "PeerAuthentication"
	some path in pa_disabled
	not pa_allowed
	msg := sprintf("[peerauthentication-disable] %s: DISABLE: callers are no longer authenticated and traffic is unencrypted; allowed here: %s; fix: use STRICT or PERMISSIVE, or ask for an entry under rules.peerauthentication-disable.allow", [path, pa_allow_text])
}

pa_allow_text := concat("; ", [sprintf("%s/%s (%q)", [e.namespace, object.get(e, "name", "*"), e.reason]) | some e in pa_allow])

# --- destinationrule-disable ------------------------------------------------------------

dr_tls contains ["spec.trafficPolicy.tls", obj.spec.trafficPolicy.tls]

dr_tls contains [sprintf("spec.trafficPolicy.portLevelSettings[%d].tls", [i]), s.tls] if {
	some i, s in obj.spec.trafficPolicy.portLevelSettings
}

dr_tls contains [sprintf("spec.subsets[%d].trafficPolicy.tls", [i]), s.trafficPolicy.tls] if {
	some i, s in obj.spec.subsets
}

dr_tls contains [sprintf("spec.subsets[%d].trafficPolicy.portLevelSettings[%d].tls", [i, j]), p.tls] if {
	some i, s in obj.spec.subsets
	some j, p in s.trafficPolicy.portLevelSettings
}

# Istio reads short hosts relative to the rule's namespace.
host_parts := count(split(obj.spec.host, "."))

host := sprintf("%s.%s.svc.%s", [obj.spec.host, namespace, cluster_domain]) if host_parts == 1

else := sprintf("%s.svc.%s", [obj.spec.host, cluster_domain]) if host_parts == 2

else := sprintf("%s.%s", [obj.spec.host, cluster_domain]) if {
	host_parts == 3
	endswith(obj.spec.host, ".svc")
}

else := obj.spec.host

dr_allowed if {
	not contains(host, "*")
	some entry in dr_allow
	glob.match(entry.host, null, host)
	entry_namespace_matches(entry)
}

entry_namespace_matches(entry) if not entry.namespace

entry_namespace_matches(entry) if glob.match(entry.namespace, null, namespace)

violations contains msg if {
	checked
	req.kind.group == "networking.istio.io"
	req.kind.kind == "DestinationRule"
	some [path, tls] in dr_tls
	tls.mode == "DISABLE"
	not dr_allowed
	msg := sprintf("[destinationrule-disable] %s.mode: DISABLE for host %s: traffic to it leaves the sidecar as plaintext; allowed here: %s; fix: use ISTIO_MUTUAL, or ask for an entry under rules.destinationrule-disable.allow", [path, host, dr_allow_text])
}

dr_allow_text := concat("; ", [sprintf("%s (%q)", [e.host, e.reason]) | some e in dr_allow])
