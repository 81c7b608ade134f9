// destinationrule-insecure-tls: TLS that does not verify the server, so anyone on the path can
// impersonate it.
import { isDestinationRule } from '../kinds.js';
import type { Rule } from '../rule.js';
import { askForEntry } from '../rule.js';
import type { HostAllowEntry } from '../types.js';
import { blockFinding, describeHostEntry, destinationRuleSubject, hostEntryAllows, tlsBlocks } from './destination-rule.js';

const id = 'destinationrule-insecure-tls';

export const destinationRuleInsecureTls = {
  id,
  handles: isDestinationRule,
  subject: destinationRuleSubject,
  find: (object, subject) =>
    tlsBlocks(object)
      .filter((b) => b.tls['insecureSkipVerify'] === true)
      .map((b) => blockFinding(subject, b, 'insecureSkipVerify', 'true')),
  allows: hostEntryAllows,
  describeEntry: describeHostEntry,
  why: (subject) =>
    `clients would not verify the certificate of ${subject.resolvedHost || 'this host'}, so anyone on the network path can impersonate it and read the traffic`,
  fix: () => `remove insecureSkipVerify and give caCertificates or credentialName (or use ISTIO_MUTUAL), ${askForEntry(id)}`,
  entries: (policy) => policy.rules[id].allow,
} satisfies Rule<HostAllowEntry>;
