// peerauthentication-disable: mTLS turned off for a mesh, namespace, workload or port.
import { isPeerAuthentication } from '../kinds.js';
import type { Rule } from '../rule.js';
import { askForEntry } from '../rule.js';
import type { WorkloadAllowEntry } from '../types.js';
import { describeWorkloadEntry, findModes, peerAuthenticationSubject, who, workloadEntryAllows } from './peer-authentication.js';

const id = 'peerauthentication-disable';

export const peerAuthenticationDisable = {
  id,
  handles: isPeerAuthentication,
  subject: (object, namespace, name) => peerAuthenticationSubject(object, namespace, name),
  find: (object, subject, policy) => findModes(object, subject, policy, (mode) => mode === 'DISABLE'),
  allows: workloadEntryAllows,
  describeEntry: describeWorkloadEntry,
  why: (subject, _findings, policy) =>
    `${who(subject, policy)} would accept plaintext; callers are no longer authenticated and traffic is unencrypted`,
  fix: () => `use STRICT (or PERMISSIVE while migrating), ${askForEntry(id)}`,
  entries: (policy) => policy.rules[id].allow,
} satisfies Rule<WorkloadAllowEntry>;
