// peerauthentication-authz-conflict: the PeerAuthentication being admitted makes a workload port
// accept plaintext while an AuthorizationPolicy on it matches peer identity (`principals`,
// `namespaces`). Plaintext carries no identity (Istio's security docs: those fields "require
// mutual TLS enabled"), so under DISABLE every ALLOW-by-identity call is refused and every
// DENY-by-identity rule stops matching; under PERMISSIVE plaintext callers slip past DENY rules.
import { workloadEntries } from '../allowlists.js';
import { peerAuthenticationTarget, scopeWords } from '../istio/peer-authentication.js';
import { isPeerAuthentication } from '../kinds.js';
import { refWords } from '../mesh-words.js';
import { askForEntry, defineRule, ruleSettings } from '../rule.js';
import type { Finding } from '../types.js';

export const id = 'peerauthentication-authz-conflict' as const;

/** `rules.peerauthentication-authz-conflict`: deny, no entries. */
export const settings = ruleSettings('deny', workloadEntries, []);

export const peerAuthenticationAuthzConflict = defineRule({
  id,
  needsMesh: true,
  allowlist: workloadEntries,
  entries: (policy) => policy.rules[id].allow,
  handles: isPeerAuthentication,
  target: (object, namespace, name) => peerAuthenticationTarget(object, namespace, name),
  find: (object, target, policy, _gvk, mesh, previous) => {
    if (!mesh) return [];
    return mesh.peerAuthenticationEffect(object, target.namespace, target.name, previous).authorizationConflicts.map((c): Finding => {
      const effect =
        c.action === 'ALLOW'
          ? 'its ALLOW rules match identity, so every plaintext call is refused (403)'
          : 'its DENY rules match identity, so plaintext callers are no longer denied';
      return {
        path: c.server.setBy?.path ?? 'spec.mtls.mode',
        value: c.server.mode,
        port: c.server.port,
        scope: `${scopeWords(target, policy)}; port ${c.server.port} of ${refWords(c.server.workload)} is under ${refWords(c.authorizationPolicy)} (${c.action}, ${c.paths.join(', ')}): ${effect}`,
        reach: JSON.stringify([c.server.workload, c.server.port, c.authorizationPolicy]),
      };
    });
  },
  why: () => 'a plaintext request has no peer identity, so AuthorizationPolicies that match principals or namespaces stop working as written on these ports',
  fix: () =>
    `keep STRICT (or PERMISSIVE where only ALLOW policies match identity) on these ports; if plaintext is really needed, change the AuthorizationPolicy to match on something plaintext carries (ipBlocks, requestPrincipals) first; ${askForEntry(id)}`,
});
