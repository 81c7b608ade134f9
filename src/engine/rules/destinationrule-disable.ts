// destinationrule-disable: clients told to send plaintext to a host. A `tls` block without a
// mode counts: DISABLE is `ClientTLSSettings.TLSmode`'s zero value (istio.io/api
// networking/v1 destination_rule.proto), so Istio sends plaintext there.
import { isDestinationRule } from '../kinds.js';
import type { Rule } from '../rule.js';
import { askForEntry } from '../rule.js';
import type { HostAllowEntry } from '../types.js';
import { blockFinding, describeHostEntry, destinationRuleSubject, hostEntryAllows, modeValue, tlsBlocks } from './destination-rule.js';

const id = 'destinationrule-disable';

export const destinationRuleDisable = {
  id,
  handles: isDestinationRule,
  subject: destinationRuleSubject,
  find: (object, subject) =>
    tlsBlocks(object)
      .filter((b) => b.mode === 'DISABLE')
      .map((b) => blockFinding(subject, b, 'mode', modeValue(b))),
  allows: hostEntryAllows,
  describeEntry: describeHostEntry,
  why: (subject) =>
    `clients would send plaintext to ${subject.resolvedHost || 'this host'}; where the server side is STRICT the handshake fails and calls get 503s, elsewhere traffic is unencrypted and unauthenticated`,
  fix: () => `use ISTIO_MUTUAL for mesh services (SIMPLE or MUTUAL for external TLS), or remove the tls block to inherit the mesh default, ${askForEntry(id)}`,
  entries: (policy) => policy.rules[id].allow,
} satisfies Rule<HostAllowEntry>;
