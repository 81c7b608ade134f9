// Advice about settings Istio refuses or ignores. The rules judge only what Istio applies, so a
// setting that applies nowhere is never a violation; but it is never passed over in silence
// either: each one becomes a single-line notice (a kubectl warning) that says what Istio does
// with it and what to write instead.
import { CLIENT_TLS_MODES, clientTlsMode, destinationRuleTarget, portNumber } from './istio/destination-rule.js';
import { isIP } from 'node:net';
import { likelyMeantService } from './istio/hosts.js';
import { isIgnoredByIstio, peerAuthenticationTarget, peerMode, portKey } from './istio/peer-authentication.js';
import { isDestinationRule, isPeerAuthentication } from './kinds.js';
import { singleLine, WARNING_PREFIX } from './messages.js';
import { asArray, asRecord, dig } from './read.js';
import type { EngineRequest, Policy } from './types.js';

function peerAuthenticationNotices(req: EngineRequest, policy: Policy): string[] {
  const target = peerAuthenticationTarget(req.object, req.namespace, req.name);
  const out: string[] = [];
  if (isIgnoredByIstio(target, policy)) {
    out.push(
      `spec.selector on a PeerAuthentication in the mesh root namespace ${policy.meshRootNamespace} makes Istio ignore the whole policy: it applies to no workload, in ${policy.meshRootNamespace} or elsewhere; for a workload policy put it in the workload's namespace, for a mesh-wide one remove the selector`,
    );
    return out;
  }
  const rawTop = dig(req.object, 'spec', 'mtls', 'mode');
  if (peerMode(rawTop) === 'invalid') {
    out.push(`spec.mtls.mode: ${JSON.stringify(rawTop)} is not a mode (UNSET, DISABLE, PERMISSIVE, STRICT); the API server refuses the object`);
  }
  const ports = asRecord(dig(req.object, 'spec', 'portLevelMtls'));
  if (ports && Object.keys(ports).length > 0 && !target.selector) {
    out.push(
      'spec.portLevelMtls needs spec.selector.matchLabels: the API server refuses the object ("portLevelMtls requires selector") and Istio applies port-level modes only from workload policies; add a selector or move the port modes to a workload policy',
    );
  }
  for (const [key, setting] of Object.entries(ports ?? {})) {
    if (portKey(key) === undefined) {
      out.push(`spec.portLevelMtls key ${JSON.stringify(key)} is not a port number 1-65535: the API server refuses the object ("port must be between 1-65535"); use the container port number`);
    }
    const raw = dig(setting, 'mode');
    if (peerMode(raw) === 'invalid') out.push(`spec.portLevelMtls.${key}.mode: ${JSON.stringify(raw)} is not a mode; the API server refuses the object`);
  }
  return out;
}

function trafficPolicyNotices(trafficPolicy: unknown, base: string, out: string[]): void {
  const tlsNotice = (tls: unknown, path: string): void => {
    if (tls === undefined || tls === null) return;
    const block = asRecord(tls);
    if (!block) out.push(`${path} is not an object: the API server refuses the object`);
    else if (!(CLIENT_TLS_MODES as readonly (string | undefined)[]).includes(clientTlsMode(block))) {
      out.push(`${path}.mode: ${JSON.stringify(block['mode'])} is not a TLS mode (DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL); the API server refuses the object`);
    }
  };
  tlsNotice(dig(trafficPolicy, 'tls'), `${base}.tls`);
  const seen = new Map<number, number>();
  asArray(dig(trafficPolicy, 'portLevelSettings')).forEach((setting, i) => {
    const path = `${base}.portLevelSettings[${i}]`;
    const raw = dig(setting, 'port', 'number');
    const port = portNumber(raw);
    if (port === undefined) {
      out.push(`${path}.port.number is missing or not a port 1-65535: the setting applies to no port (Istio matches it against Service port numbers); give the Service port number`);
      return;
    }
    if (typeof raw === 'string') out.push(`${path}.port.number is a string: the API server refuses the object (the CRD wants an integer); Istio itself would read it as port ${port}`);
    const first = seen.get(port);
    if (first !== undefined) {
      out.push(`${path} repeats port ${port}: Istio uses the first setting for a port (portLevelSettings[${first}]) and ignores this one; merge them`);
      return;
    }
    seen.set(port, i);
    tlsNotice(dig(setting, 'tls'), `${path}.tls`);
  });
}

function destinationRuleNotices(req: EngineRequest, policy: Policy): string[] {
  const out: string[] = [];
  const target = destinationRuleTarget(req.object, req.namespace, req.name, policy);
  const meant = likelyMeantService(target.resolvedHost ?? '', req.namespace, policy.clusterDomain);
  if (meant) {
    out.push(
      `spec.host ${JSON.stringify(target.host)} is taken as written: Istio expands only names without a dot, so this rule does not apply to the Service ${meant}; write that FQDN (or the short name in the Service's namespace)`,
    );
  }
  const written = target.host ?? '';
  if (written === '') out.push("spec.host is empty: Istio's validation refuses it (\"empty domain name not allowed\")");
  else if (isIP(written) !== 0) {
    out.push(`spec.host ${written} is an IP address: Istio's validation refuses it (a DestinationRule host is a DNS name); give the address a name with a ServiceEntry and use that name`);
  }
  trafficPolicyNotices(dig(req.object, 'spec', 'trafficPolicy'), 'spec.trafficPolicy', out);
  asArray(dig(req.object, 'spec', 'subsets')).forEach((subset, i) => {
    trafficPolicyNotices(dig(subset, 'trafficPolicy'), `spec.subsets[${i}].trafficPolicy`, out);
  });
  return out;
}

/**
 * Notices for the settings of a PeerAuthentication or DestinationRule that Istio refuses or
 * ignores (see each line for the Istio rule it follows).
 * @param req the request being judged; other kinds give none.
 * @param ref the object as messages name it, e.g. `DestinationRule bookinfo/reviews`.
 * @returns single-line warnings, each at most 256 characters and prefixed `mtls-guard: [notice]`.
 */
export function noticesFor(req: EngineRequest, policy: Policy, ref: string): string[] {
  let texts: string[] = [];
  if (isPeerAuthentication(req.kind)) texts = peerAuthenticationNotices(req, policy);
  else if (isDestinationRule(req.kind)) texts = destinationRuleNotices(req, policy);
  return texts.map((t) => singleLine(`${WARNING_PREFIX}[notice] ${ref}: ${t}`));
}
