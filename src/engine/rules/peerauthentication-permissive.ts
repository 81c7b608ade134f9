// peerauthentication-permissive: the opt-in "STRICT everywhere" posture. PERMISSIVE still
// accepts plaintext, and a mesh-wide policy without a mode means PERMISSIVE (Istio's default).
import { isPeerAuthentication } from '../kinds.js';
import type { Rule } from '../rule.js';
import { askForEntry } from '../rule.js';
import type { WorkloadAllowEntry } from '../types.js';
import {
  describeWorkloadEntry,
  findModes,
  peerAuthenticationSubject,
  scopeKind,
  who,
  workloadEntryAllows,
} from './peer-authentication.js';

const id = 'peerauthentication-permissive';

export const peerAuthenticationPermissive = {
  id,
  handles: isPeerAuthentication,
  subject: (object, namespace, name) => peerAuthenticationSubject(object, namespace, name),
  find: (object, subject, policy) => {
    const meshWide = scopeKind(subject, policy) === 'mesh-wide';
    return findModes(object, subject, policy, (mode, portLevel) =>
      mode === 'PERMISSIVE' || (meshWide && !portLevel && mode === 'UNSET'),
    );
  },
  allows: workloadEntryAllows,
  describeEntry: describeWorkloadEntry,
  why: (subject, _findings, policy) =>
    `${who(subject, policy)} would still accept plaintext next to mTLS, so an unauthenticated caller is not refused`,
  fix: () => `use STRICT, ${askForEntry(id)}`,
  entries: (policy) => policy.rules[id].allow,
} satisfies Rule<WorkloadAllowEntry>;
