// Wording. The denial text is what a person sees when `kubectl apply` / `oc apply` is refused,
// so it says what, where, why, what is allowed and how to fix it. Warnings are single lines of
// at most 256 characters because kubectl drops or mangles anything longer or multi-line.
import type { GroupVersionKind, PlannedAnnotation, RuleId, Violation } from './types.js';

export const WARNING_PREFIX = 'mtls-guard: ';
export const MAX_WARNING = 256;
const MAX_LISTED_ENTRIES = 6;

/**
 * The name messages use for an object: `metadata.name`; for one that only has `generateName`
 * (the API server picks the suffix after admission) `<generateName><generated>`; else `<unnamed>`.
 * The server and `check` both use it, so the same object reads the same in both.
 */
export function displayName(name: string | undefined, generateName: string | undefined): string {
  if (name) return name;
  return generateName ? `${generateName}<generated>` : '<unnamed>';
}

/** `Kind namespace/name`, or `Kind name` for an object without a namespace. */
export function objectRef(gvk: GroupVersionKind, namespace: string, name: string): string {
  return `${gvk.kind} ${namespace ? `${namespace}/` : ''}${name}`;
}

/** One line, control characters removed, cut to the kubectl warning limit. */
export function singleLine(text: string, max = MAX_WARNING): string {
  // eslint-disable-next-line no-control-regex
  const flat = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').replace(/ {2,}/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

/** The "allowed here" lines: up to six entries, then how many more. */
export function describeAllowed(entries: readonly string[]): string[] {
  if (entries.length === 0) return ['nothing (this rule has no allowlist entries)'];
  const shown = entries.slice(0, MAX_LISTED_ENTRIES);
  const more = entries.length - shown.length;
  return more > 0 ? [...shown, `… and ${more} more entries`] : shown;
}

/** The single-line kubectl warning for a violation that was allowed (warn, audit, pre-existing).
 * `scopeFirst`: the scope names the object on the other side (mesh-aware rules), so it goes
 * before the fix and survives the 256-character cut. */
export function warningFor(v: Omit<Violation, 'summary'>, ref: string, scopeFirst = false): string {
  const tag =
    v.downgrade === 'audit'
      ? 'would be denied (audit mode)'
      : v.downgrade === 'pre-existing'
        ? 'pre-existing, allowed on update'
        : 'allowed with a warning';
  const fixShort = v.fix.split(', or ')[0] ?? v.fix;
  if (scopeFirst) return singleLine(`${WARNING_PREFIX}[${v.rule}] ${ref}: ${v.path}: ${v.value} ${tag}; ${v.scope}; fix: ${fixShort}`);
  // Most important first: when the 256-character cut comes, it takes the scope, not the fix.
  return singleLine(`${WARNING_PREFIX}[${v.rule}] ${ref}: ${v.path}: ${v.value} ${tag}; fix: ${fixShort}; ${v.scope}`);
}

/** The 403 message: every denying violation, grouped by rule so why/allowed/fix appear once. */
export function denialMessage(ref: string, violations: readonly Violation[]): string {
  const denying = violations.filter((v) => v.action === 'deny');
  const n = denying.length;
  const lines = [`${ref} violates ${n} mTLS guardrail${n === 1 ? '' : 's'}:`];
  const byRule = new Map<RuleId, Violation[]>();
  for (const v of denying) byRule.set(v.rule, [...(byRule.get(v.rule) ?? []), v]);
  for (const [rule, vs] of byRule) {
    for (const v of vs) lines.push(`[${rule}] ${v.path}: ${v.value} (${v.scope})`);
    const first = vs[0] as Violation;
    lines.push(`  why: ${first.why}`);
    const [head, ...rest] = first.allowedHere;
    lines.push(`  allowed here: ${head ?? ''}${rest.length ? ';' : ''}`);
    rest.forEach((e, i) => lines.push(`                ${e}${i < rest.length - 1 ? ';' : ''}`));
    lines.push(`  fix: ${first.fix}`);
  }
  return lines.join('\n');
}

/** The audit-mode warning for a pod-template change that was not made. */
export function mutationWarning(ref: string, m: PlannedAnnotation): string {
  const change = m.from === undefined ? `add ${m.key}="${m.to}"` : `change ${m.key} from "${m.from}" to "${m.to}"`;
  return singleLine(`${WARNING_PREFIX}[mutation] ${ref}: audit mode, would ${change} on the pod template`);
}

/** The text for a rule that threw: a bug in mtls-guard, and what was done about the request. */
export function ruleFailureMessage(ref: string, rule: string, error: string, mode: 'enforce' | 'audit'): string {
  const outcome = mode === 'enforce' ? 'the request is refused to stay safe' : 'allowed because of audit mode';
  return `mtls-guard internal error: rule ${rule} failed on ${ref} (${error}); this is a bug in mtls-guard, not in your object: ${outcome}. Please report it to the mesh administrators.`;
}
