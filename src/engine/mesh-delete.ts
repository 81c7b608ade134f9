// A DELETE is never refused (DESIGN "Mesh-aware rules"), but one that would break traffic is
// told so: deleting the PeerAuthentication DISABLE that a plaintext DestinationRule relies on, or
// a namespace's own DestinationRule whose removal hands its clients a plaintext one. Each broken flow group
// becomes one kubectl warning under the rule that would have refused the opposite change.
import { isDestinationRule, isPeerAuthentication } from './kinds.js';
import type { Flow, MeshView } from './mesh-view.js';
import { clientsWords, groupFlows, targetWords } from './mesh-words.js';
import { singleLine, WARNING_PREFIX } from './messages.js';
import type { EngineRequest, Policy, RuleId } from './types.js';

function warnings(rule: RuleId, ref: string, flows: readonly Flow[]): string[] {
  return groupFlows(flows, (f) => JSON.stringify([f.service, f.servicePort, f.clientTls, f.server?.mode])).map((group) => {
    const f = group[0] as Flow;
    return singleLine(`${WARNING_PREFIX}[${rule}] deleting ${ref} breaks calls to ${targetWords(group)}: ${f.reason}; from ${clientsWords(group.map((g) => g.clients))}`);
  });
}

/**
 * The warnings for a DELETE of a PeerAuthentication or DestinationRule that would leave some
 * clients refused by the server side; empty for other kinds, without a mesh, or when the rule is
 * off. Pure.
 * @param ref the object as messages name it.
 */
export function deleteWarnings(req: EngineRequest, policy: Policy, mesh: MeshView | undefined, ref: string): string[] {
  if (!mesh) return [];
  const enforced = (f: Flow) => f.outcome === 'broken' && f.server?.sidecar === true && !f.server.sidecarAssumed;
  if (isDestinationRule(req.kind) && policy.rules['destinationrule-strict-conflict'].action !== 'off') {
    return warnings('destinationrule-strict-conflict', ref, mesh.destinationRuleFlows(undefined, req.namespace, req.name).filter(enforced));
  }
  if (isPeerAuthentication(req.kind) && policy.rules['peerauthentication-strict-conflict'].action !== 'off') {
    return warnings('peerauthentication-strict-conflict', ref, mesh.peerAuthenticationEffect(undefined, req.namespace, req.name, req.oldObject ?? undefined).newlyBroken.filter(enforced));
  }
  return [];
}
