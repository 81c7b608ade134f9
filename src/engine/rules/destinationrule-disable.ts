// destinationrule-disable: clients told to send plaintext to a host. A `tls` block without a
// mode counts: DISABLE is `ClientTLSSettings.TLSmode`'s zero value (istio.io/api
// networking/v1 destination_rule.proto), so Istio sends plaintext there.
import { hostEntries } from '../allowlists.js';
import { blockFinding, destinationRuleTarget, modeValue, tlsBlocks } from '../istio/destination-rule.js';
import { isDestinationRule } from '../kinds.js';
import { askForEntry, defineRule, ruleSettings } from '../rule.js';

export const id = 'destinationrule-disable' as const;

/** `rules.destinationrule-disable`: deny; OSSM's own rule for the API server is allowed. */
export const settings = ruleSettings('deny', hostEntries, [{ host: 'kubernetes.default.svc.cluster.local', reason: 'OSSM-managed' }]);

export const destinationRuleDisable = defineRule({
  id,
  allowlist: hostEntries,
  entries: (policy) => policy.rules[id].allow,
  handles: isDestinationRule,
  target: destinationRuleTarget,
  find: (object, target) =>
    tlsBlocks(object)
      .filter((b) => b.mode === 'DISABLE')
      .map((b) => blockFinding(target, b, 'mode', modeValue(b))),
  why: (target) =>
    `clients would send plaintext to ${target.resolvedHost || 'this host'}; where the server side is STRICT the handshake fails and calls get 503s, elsewhere traffic is unencrypted and unauthenticated`,
  fix: () => `use ISTIO_MUTUAL for mesh services (SIMPLE or MUTUAL for external TLS), or remove the tls block to inherit the mesh default, ${askForEntry(id)}`,
});
