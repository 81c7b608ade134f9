// What a rule is. A rule module owns everything about its rule: its id, its default action and
// allowlist (`ruleSettings`, which becomes its key of the policy file), how it reads an object,
// and its wording. Actions, modes, pre-existing downgrades and message layout live in the runner
// (evaluate.ts) and messages.ts, so each rule stays small and testable on its own.
import { z } from 'zod';
import type { Allowlist } from './allowlists.js';
import type { RuleId } from './rules/index.js';
import type { MeshView } from './mesh-view.js';
import type { Action, AllowlistTarget, Finding, GroupVersionKind, Policy } from './types.js';

export const actionSchema = z.enum(['deny', 'warn', 'off']).describe('deny | warn | off (quote "off": unquoted YAML reads it as false)');

/**
 * A rule's key in the policy file, `rules.<id>`: `action` and `allow`, each defaulting to the
 * rule's own defaults when absent (a given `allow` replaces the default list, it is not merged).
 */
export function ruleSettings<E>(defaultAction: Action, allowlist: Allowlist<E>, defaultAllow: E[]) {
  return z
    .strictObject({
      action: actionSchema.default(defaultAction),
      allow: z.array(allowlist.entrySchema).default(defaultAllow),
    })
    .prefault({});
}

/** A rule as the runner uses it: the allowlist bound to the policy, so rules with different
 * entry shapes share one list. */
export interface Rule {
  readonly id: RuleId;
  /** A mesh-aware rule: judged only when the caller hands the engine a mesh (`evaluate`'s
   * `mesh` option); without one it is skipped, never guessed. */
  readonly needsMesh?: boolean;
  handles(gvk: GroupVersionKind, policy: Policy): boolean;
  /** What the allowlist compares against, read from the object. */
  target(object: unknown, namespace: string, name: string, policy: Policy): AllowlistTarget;
  /** Every offending field of the object (empty when it complies). Mesh-aware rules get `mesh`,
   * the mesh around it, and `previous`, the version the object replaces (UPDATE's oldObject;
   * undefined for a CREATE and when the old version itself is judged). */
  find(object: unknown, target: AllowlistTarget, policy: Policy, gvk: GroupVersionKind, mesh?: MeshView, previous?: unknown): Finding[];
  /** The policy's entry that permits all of the findings, if any. */
  allowedBy(policy: Policy, target: AllowlistTarget, findings: readonly Finding[]): unknown;
  /** The policy's entries as the "allowed here" list shows them. */
  describeAllowlist(policy: Policy): string[];
  /** Why it matters, for the person refused. */
  why(target: AllowlistTarget, findings: readonly Finding[], policy: Policy): string;
  /** How to fix it. */
  fix(target: AllowlistTarget): string;
}

/** A rule as its module writes it: the allowlist shape and how to read its entries from the policy. */
export interface RuleDefinition<E> extends Omit<Rule, 'allowedBy' | 'describeAllowlist'> {
  readonly allowlist: Allowlist<E>;
  entries(policy: Policy): readonly E[];
}

/** Binds a rule's allowlist to the policy: the one place entries are matched and described. */
export function defineRule<E>(definition: RuleDefinition<E>): Rule {
  const { allowlist, entries, ...rule } = definition;
  return {
    ...rule,
    allowedBy: (policy, target, findings) => entries(policy).find((e) => allowlist.allows(e, target, findings)),
    describeAllowlist: (policy) => entries(policy).map((e) => allowlist.describe(e)),
  };
}

/** The fix's last resort, the same words for every rule. */
export function askForEntry(id: RuleId): string {
  return `or ask the mesh administrators for an entry under rules.${id}.allow in the mtls-guard policy`;
}
