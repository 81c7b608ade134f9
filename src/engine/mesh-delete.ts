// A DELETE is never refused (DESIGN "Mesh-aware rules"), but one that would break traffic is
// told so: deleting the PeerAuthentication DISABLE that a plaintext DestinationRule relies on, or
// a namespace's own DestinationRule whose removal hands its clients a plaintext one. Each broken flow group
// becomes one kubectl warning under the rule that would have refused the opposite change.
// Deleting a STRICT PeerAuthentication (the mesh-wide one above all) breaks nothing but opens
// plaintext: the ports that took only mTLS and now take plaintext too are listed (one warning per
// mode now in force), and identity-matching AuthorizationPolicies that plaintext then defeats.
import { isDestinationRule, isPeerAuthentication } from './kinds.js';
import type { AuthorizationConflict, Flow, MeshView, ServerPort } from './mesh-view.js';
import { clientsWords, groupFlows, listWords, refWords, targetWords } from './mesh-words.js';
import { singleLine, WARNING_PREFIX } from './messages.js';
import type { EngineRequest, Policy, RuleId } from './types.js';

function warnings(rule: RuleId, ref: string, flows: readonly Flow[]): string[] {
  return groupFlows(flows, (f) => JSON.stringify([f.service, f.servicePort, f.clientTls, f.server?.mode])).map((group) => {
    const f = group[0] as Flow;
    return singleLine(`${WARNING_PREFIX}[${rule}] deleting ${ref} breaks calls to ${targetWords(group)}: ${f.reason}; from ${clientsWords(group.map((g) => g.clients))}`);
  });
}

/** `mesh-bookinfo/details-v1:9080`: a workload port in a list. */
function portWords(server: ServerPort): string {
  return `${server.workload.namespace}/${server.workload.name}:${server.port}`;
}

/** `PERMISSIVE by PeerAuthentication bookinfo/details`, or `PERMISSIVE, Istio's default`. */
function nowWords(server: ServerPort): string {
  return server.setBy ? `${server.mode} by ${refWords(server.setBy.ref)}` : `${server.mode}, Istio's default`;
}

/** One warning per mode now in force: the ports that took only mTLS and now take plaintext too
 * (the list last, so kubectl's 256 characters cut the list, not the sense). */
function plaintextWarnings(ref: string, ports: readonly ServerPort[]): string[] {
  const byMode = new Map<string, ServerPort[]>();
  for (const p of ports) byMode.set(nowWords(p), [...(byMode.get(nowWords(p)) ?? []), p]);
  return [...byMode].map(([now, list]) =>
    singleLine(`${WARNING_PREFIX}[peerauthentication-strict-conflict] deleting ${ref} opens ${list.length} workload port${list.length === 1 ? '' : 's'} to plaintext (now ${now}): ${listWords(list.map(portWords))}`),
  );
}

/** Identity-matching AuthorizationPolicies that plaintext defeats once the policy is gone. */
function authorizationWarnings(ref: string, conflicts: readonly AuthorizationConflict[]): string[] {
  const byPolicy = new Map<string, AuthorizationConflict[]>();
  for (const c of conflicts) {
    const key = `${refWords(c.authorizationPolicy)} (${c.action}, ${c.paths.join(', ')})`;
    byPolicy.set(key, [...(byPolicy.get(key) ?? []), c]);
  }
  return [...byPolicy].map(([policy, list]) =>
    singleLine(`${WARNING_PREFIX}[peerauthentication-authz-conflict] deleting ${ref} lets plaintext callers (no identity) past ${policy} at ${listWords(list.map((c) => portWords(c.server)))}`),
  );
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
  if (isPeerAuthentication(req.kind)) {
    const effect = mesh.peerAuthenticationEffect(undefined, req.namespace, req.name, req.oldObject ?? undefined);
    const out: string[] = [];
    if (policy.rules['peerauthentication-strict-conflict'].action !== 'off') {
      out.push(...warnings('peerauthentication-strict-conflict', ref, effect.newlyBroken.filter(enforced)));
      out.push(...plaintextWarnings(ref, effect.newlyPlaintext));
    }
    if (policy.rules['peerauthentication-authz-conflict'].action !== 'off') out.push(...authorizationWarnings(ref, effect.authorizationConflicts));
    return out;
  }
  return [];
}
