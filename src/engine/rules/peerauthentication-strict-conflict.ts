// peerauthentication-strict-conflict: the PeerAuthentication being admitted starts refusing
// traffic that existing DestinationRules send (a namespace-wide STRICT over a DestinationRule
// that still says DISABLE). A warning by default: the PeerAuthentication is the safer object,
// the fix belongs to the DestinationRules it lists. Compared with the mesh without this
// PeerAuthentication, so only what it breaks is listed.
import { workloadEntries } from '../allowlists.js';
import { peerAuthenticationTarget, scopeWords } from '../istio/peer-authentication.js';
import { isPeerAuthentication } from '../kinds.js';
import type { Flow } from '../mesh-view.js';
import { clientsWords, groupFlows, listWords, refWords, targetWords } from '../mesh-words.js';
import { askForEntry, defineRule, ruleSettings } from '../rule.js';
import type { Finding } from '../types.js';

export const id = 'peerauthentication-strict-conflict' as const;

/** `rules.peerauthentication-strict-conflict`: warn, no entries. */
export const settings = ruleSettings('warn', workloadEntries, []);

export const peerAuthenticationStrictConflict = defineRule({
  id,
  needsMesh: true,
  allowlist: workloadEntries,
  entries: (policy) => policy.rules[id].allow,
  handles: isPeerAuthentication,
  target: (object, namespace, name) => peerAuthenticationTarget(object, namespace, name),
  find: (object, target, policy, _gvk, mesh, previous) => {
    if (!mesh) return [];
    const { newlyBroken } = mesh.peerAuthenticationEffect(object, target.namespace, target.name, previous);
    const mine = newlyBroken.filter((f) => f.server?.sidecar && !f.server.sidecarAssumed && f.server.setBy?.ref.namespace === target.namespace && f.server.setBy.ref.name === target.name);
    return groupFlows(mine, (f) => JSON.stringify([f.server?.setBy?.path, f.clientTlsFrom ?? f.destinationRules, f.service, f.servicePort])).map((group): Finding => {
      const f = group[0] as Flow;
      const server = f.server as NonNullable<Flow['server']>;
      const sender = f.clientTlsFrom ? `${refWords(f.clientTlsFrom.ref)} (${f.clientTlsFrom.path}: ${f.clientTls})` : `${f.clientTls} from ${listWords(f.destinationRules.map(refWords))}`;
      const finding: Finding = {
        path: server.setBy?.path ?? 'spec.mtls.mode',
        value: server.mode,
        // The rule to change and the call it breaks first: kubectl shows 256 characters of a warning,
        // and the client list can be long.
        scope: `${sender} makes calls to ${targetWords(group)} without Istio mTLS, from ${clientsWords(group.map((g) => g.clients))}; this policy: ${scopeWords(target, policy)}`,
        reach: JSON.stringify([f.clientTlsFrom?.ref ?? null, f.service, f.servicePort, server.port]),
      };
      finding.port = server.port;
      return finding;
    });
  },
  why: () => 'existing DestinationRules send these clients plaintext (or non-Istio TLS); once this policy is in force their calls fail with 503',
  fix: () =>
    `change each DestinationRule listed to ISTIO_MUTUAL (or remove its tls block) before this policy, or keep PERMISSIVE on these ports while they migrate (portLevelMtls), ${askForEntry(id)}`,
});
