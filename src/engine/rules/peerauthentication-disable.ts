// peerauthentication-disable: mTLS turned off for a mesh, namespace, workload or port.
import { workloadEntries } from '../allowlists.js';
import { findModes, peerAuthenticationTarget, who } from '../istio/peer-authentication.js';
import { isPeerAuthentication } from '../kinds.js';
import { askForEntry, defineRule, ruleSettings } from '../rule.js';

export const id = 'peerauthentication-disable' as const;

/** `rules.peerauthentication-disable`: deny; the policy OSSM's control plane creates itself is allowed. */
export const settings = ruleSettings('deny', workloadEntries, [
  { namespace: 'istio-system', name: 'disable-mtls-jaeger-collector', reason: 'OSSM-managed' },
]);

export const peerAuthenticationDisable = defineRule({
  id,
  allowlist: workloadEntries,
  entries: (policy) => policy.rules[id].allow,
  handles: isPeerAuthentication,
  target: (object, namespace, name) => peerAuthenticationTarget(object, namespace, name),
  find: (object, target, policy) => findModes(object, target, policy, (mode) => mode === 'DISABLE'),
  why: (target, _findings, policy) =>
    `${who(target, policy)} would accept plaintext; callers are no longer authenticated and traffic is unencrypted`,
  fix: () => `use STRICT (or PERMISSIVE while migrating), ${askForEntry(id)}`,
});
