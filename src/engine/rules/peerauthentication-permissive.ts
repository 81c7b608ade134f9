// peerauthentication-permissive: the opt-in "STRICT everywhere" posture. PERMISSIVE still
// accepts plaintext, and a mesh-wide policy without a mode means PERMISSIVE (Istio's default:
// `ComposePeerAuthentication` starts from PERMISSIVE and UNSET inherits).
import { workloadEntries } from '../allowlists.js';
import { findModes, peerAuthenticationTarget, scopeKind, who } from '../istio/peer-authentication.js';
import { isPeerAuthentication } from '../kinds.js';
import { askForEntry, defineRule, ruleSettings } from '../rule.js';

export const id = 'peerauthentication-permissive' as const;

/** `rules.peerauthentication-permissive`: off unless the administrators opt in. */
export const settings = ruleSettings('off', workloadEntries, []);

export const peerAuthenticationPermissive = defineRule({
  id,
  allowlist: workloadEntries,
  entries: (policy) => policy.rules[id].allow,
  handles: isPeerAuthentication,
  target: (object, namespace, name) => peerAuthenticationTarget(object, namespace, name),
  find: (object, target, policy) => {
    const meshWide = scopeKind(target, policy) === 'mesh-wide';
    return findModes(object, target, policy, (mode, portLevel) => mode === 'PERMISSIVE' || (meshWide && !portLevel && mode === 'UNSET'));
  },
  why: (target, _findings, policy) =>
    `${who(target, policy)} would still accept plaintext next to mTLS, so an unauthenticated caller is not refused`,
  fix: () => `use STRICT, ${askForEntry(id)}`,
});
