// destinationrule-strict-conflict: the DestinationRule being admitted makes some clients send
// traffic the server side refuses: plaintext (or non-Istio TLS) to a port a PeerAuthentication
// keeps STRICT, or ISTIO_MUTUAL to a port whose PeerAuthentication is DISABLE. That is the 503
// the OSSM write-ups keep returning to; the mesh model (src/mesh/) says which clients pick this
// rule (Istio's PushContext.destinationRule / SidecarScope.DestinationRule) and what each server
// port enforces (ComposePeerAuthentication). Judged only where a sidecar enforces the mode.
import { hostEntries } from '../allowlists.js';
import { destinationRuleTarget, hostWords } from '../istio/destination-rule.js';
import { isDestinationRule } from '../kinds.js';
import type { Flow } from '../mesh-view.js';
import { clientsWords, groupFlows, modeWords, targetWords } from '../mesh-words.js';
import { askForEntry, defineRule, ruleSettings } from '../rule.js';
import type { Finding } from '../types.js';

export const id = 'destinationrule-strict-conflict' as const;

/** `rules.destinationrule-strict-conflict`: deny, no entries. */
export const settings = ruleSettings('deny', hostEntries, []);

/** A flow this rule refuses: broken at a port a sidecar is known to enforce (never on a guess
 * about a Namespace the mesh does not hold), and decided by this rule's tls. */
function refused(f: Flow): boolean {
  return f.outcome === 'broken' && f.server !== undefined && f.server.sidecar && !f.server.sidecarAssumed && f.clientTlsFrom !== undefined;
}

export const destinationRuleStrictConflict = defineRule({
  id,
  needsMesh: true,
  allowlist: hostEntries,
  entries: (policy) => policy.rules[id].allow,
  handles: isDestinationRule,
  target: destinationRuleTarget,
  find: (object, target, policy, _gvk, mesh) => {
    if (!mesh) return [];
    const flows = mesh.destinationRuleFlows(object, target.namespace, target.name).filter(refused);
    const groups = groupFlows(flows, (f) => JSON.stringify([f.clientTlsFrom?.path, f.server?.setBy ?? null, f.server?.mode, f.service, f.servicePort]));
    return groups.map((group): Finding => {
      const f = group[0] as Flow;
      const server = f.server as NonNullable<Flow['server']>;
      const scope = `${clientsWords(group.map((g) => g.clients))} -> ${targetWords(group)}: ${modeWords(server, policy.meshRootNamespace)}`;
      const finding: Finding = {
        path: f.clientTlsFrom?.path ?? 'spec',
        value: f.clientTls,
        scope,
        reach: JSON.stringify([f.service, f.servicePort, group.map((g) => [g.subset ?? null, g.server?.workload.name ?? null]).sort()]),
      };
      if (f.servicePort) finding.port = f.servicePort;
      return finding;
    });
  },
  why: (target, findings) => {
    const strict = findings.some((f) => f.value !== 'ISTIO_MUTUAL');
    return strict
      ? `the server side refuses what these clients would send to ${hostWords(target)}: a STRICT port takes only Istio mTLS, so every call fails (503, "upstream connect error ... connection termination")`
      : `the server side does not terminate Istio mTLS at these ports (their PeerAuthentication is DISABLE), so every call fails (503)`;
  },
  fix: () =>
    `remove the tls block (auto mTLS then sends Istio mTLS where the server takes it) or set ISTIO_MUTUAL; if the workload must take plaintext, it needs its own PeerAuthentication with DISABLE for that port, reviewed by the mesh administrators, before this DestinationRule; ${askForEntry(id)}`,
});
