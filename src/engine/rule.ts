// The interface every rule module satisfies. A rule only finds offending fields and says how
// its allowlist reads; actions, modes, pre-existing downgrades and wording live in the runner
// and in messages.ts, so each rule stays small and testable on its own.
import type { AllowEntry, Finding, GroupVersionKind, Policy, RuleId, Subject } from './types.js';

export interface Rule<E extends AllowEntry = AllowEntry> {
  readonly id: RuleId;
  handles(gvk: GroupVersionKind, policy: Policy): boolean;
  /** What the allowlist compares against, read from the object. */
  subject(object: unknown, namespace: string, name: string, policy: Policy): Subject;
  /** Every offending field of the object (empty when it complies). */
  find(object: unknown, subject: Subject, policy: Policy, gvk: GroupVersionKind): Finding[];
  /** Whether one allowlist entry permits all of these findings on this subject. */
  allows(entry: E, subject: Subject, findings: readonly Finding[]): boolean;
  describeEntry(entry: E): string;
  why(subject: Subject, findings: readonly Finding[], policy: Policy): string;
  fix(subject: Subject): string;
  entries(policy: Policy): readonly E[];
}

/** Shared by the port-aware allowlists: entry ports must contain every offending port, and a
 * finding without a port (top level) needs an entry without ports. */
export function portsCovered(entryPorts: readonly number[] | undefined, findings: readonly Finding[]): boolean {
  if (!entryPorts) return true;
  return findings.every((f) => f.port !== undefined && entryPorts.includes(f.port));
}

export function reasonSuffix(reason: string | undefined): string {
  return reason ? ` ("${reason}")` : '';
}

export function askForEntry(id: RuleId): string {
  return `or ask the mesh administrators for an entry under rules.${id}.allow in the mtls-guard policy`;
}

/** A rule with its allowlist bound, so rules with different entry shapes share one list. */
export interface RunnableRule {
  readonly id: RuleId;
  handles(gvk: GroupVersionKind, policy: Policy): boolean;
  subject(object: unknown, namespace: string, name: string, policy: Policy): Subject;
  find(object: unknown, subject: Subject, policy: Policy, gvk: GroupVersionKind): Finding[];
  /** The entry that permits the findings, if any. */
  allowedBy(policy: Policy, subject: Subject, findings: readonly Finding[]): AllowEntry | undefined;
  describeAllowlist(policy: Policy): string[];
  why(subject: Subject, findings: readonly Finding[], policy: Policy): string;
  fix(subject: Subject): string;
}

export function runnable<E extends AllowEntry>(rule: Rule<E>): RunnableRule {
  return {
    id: rule.id,
    handles: (gvk, policy) => rule.handles(gvk, policy),
    subject: (object, namespace, name, policy) => rule.subject(object, namespace, name, policy),
    find: (object, subject, policy, gvk) => rule.find(object, subject, policy, gvk),
    allowedBy: (policy, subject, findings) => rule.entries(policy).find((e) => rule.allows(e, subject, findings)),
    describeAllowlist: (policy) => rule.entries(policy).map((e) => rule.describeEntry(e)),
    why: (subject, findings, policy) => rule.why(subject, findings, policy),
    fix: (subject) => rule.fix(subject),
  };
}
