// destinationrule-insecure-tls: TLS that does not verify the server, so anyone on the path can
// impersonate it.
import { hostEntries } from '../allowlists.js';
import { blockFinding, destinationRuleTarget, tlsBlocks } from '../istio/destination-rule.js';
import { isDestinationRule } from '../kinds.js';
import { askForEntry, defineRule, ruleSettings } from '../rule.js';

export const id = 'destinationrule-insecure-tls' as const;

/** `rules.destinationrule-insecure-tls`: deny, nothing allowed. */
export const settings = ruleSettings('deny', hostEntries, []);

export const destinationRuleInsecureTls = defineRule({
  id,
  allowlist: hostEntries,
  entries: (policy) => policy.rules[id].allow,
  handles: isDestinationRule,
  target: destinationRuleTarget,
  find: (object, target) =>
    tlsBlocks(object)
      .filter((b) => b.tls['insecureSkipVerify'] === true)
      .map((b) => blockFinding(target, b, 'insecureSkipVerify', 'true')),
  why: (target) =>
    `clients would not verify the certificate of ${target.resolvedHost || 'this host'}, so anyone on the network path can impersonate it and read the traffic`,
  fix: () => `remove insecureSkipVerify and give caCertificates or credentialName (or use ISTIO_MUTUAL), ${askForEntry(id)}`,
});
