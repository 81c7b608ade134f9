// workload-port-exclusion: inbound ports that bypass the sidecar. STRICT mTLS is enforced by
// the sidecar, so traffic to an excluded port is accepted in plaintext whatever the policy says.
import { nameEntries } from '../allowlists.js';
import { getsSidecar } from '../istio/injection.js';
import { podTemplatePath } from '../kinds.js';
import { asStringMap, dig } from '../read.js';
import { askForEntry, defineRule, ruleSettings } from '../rule.js';
import type { Finding } from '../types.js';

export const id = 'workload-port-exclusion' as const;

/** `rules.workload-port-exclusion`: warn, nothing allowed. */
export const settings = ruleSettings('warn', nameEntries, []);
const EXCLUDE = 'traffic.sidecar.istio.io/excludeInboundPorts';
const INCLUDE = 'traffic.sidecar.istio.io/includeInboundPorts';

function portExclusionFindings(template: unknown, templatePath: readonly string[]): Finding[] {
  const annotations = asStringMap(dig(template, 'metadata', 'annotations')) ?? {};
  const base = `${templatePath.join('.')}.metadata.annotations`;
  const scope = 'pods of this workload';
  const findings: Finding[] = [];
  const exclude = annotations[EXCLUDE];
  if (exclude !== undefined && exclude.trim() !== '') {
    findings.push({ path: `${base}["${EXCLUDE}"]`, value: exclude, scope: `${scope}, ports ${exclude}` });
  }
  const include = annotations[INCLUDE];
  if (include !== undefined && include.trim() !== '*') {
    const captured = include.trim() === '' ? 'no inbound port is captured' : `only ${include} captured`;
    findings.push({ path: `${base}["${INCLUDE}"]`, value: include, scope: `${scope}, ${captured}` });
  }
  return findings;
}

export const workloadPortExclusion = defineRule({
  id,
  allowlist: nameEntries,
  entries: (policy) => policy.rules[id].allow,
  handles: (gvk, policy) => podTemplatePath(gvk, policy) !== undefined,
  target: (_object, namespace, name) => ({ namespace, name }),
  find: (object, _target, policy, gvk) => {
    const path = podTemplatePath(gvk, policy);
    if (!path) return [];
    const template = dig(object, ...path);
    // No sidecar, nothing to bypass: the annotations do nothing on such pods.
    return getsSidecar(template, policy) ? portExclusionFindings(template, path) : [];
  },
  why: () => 'inbound traffic on these ports bypasses the sidecar, so STRICT mTLS is not enforced there and plaintext is accepted',
  fix: () => `remove the annotation so the sidecar captures every inbound port, ${askForEntry(id)}`,
});
