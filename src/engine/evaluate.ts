// The engine's entry point: (request, policy) -> decision. Runs every rule, collects every
// violation, applies actions, modes and the pre-existing downgrade, plans the mutation. Pure:
// no I/O, never throws for a denial, and a rule that throws becomes a reported failure.
import { anyGlobMatch, globMatch } from './glob.js';
import { isHandledKind, isPeerAuthentication, podTemplatePath } from './kinds.js';
import {
  denialMessage,
  describeAllowed,
  mutationWarning,
  objectRef,
  ruleFailureMessage,
  singleLine,
  warningFor,
  WARNING_PREFIX,
} from './messages.js';
import { buildPatch, planAnnotations } from './mutate.js';
import { deleteWarnings } from './mesh-delete.js';
import type { MeshView } from './mesh-view.js';
import type { Rule } from './rule.js';
import { RULES } from './rules/index.js';
import { noticesFor } from './notices.js';
import type { Decision, EngineRequest, Finding, Mode, PlannedAnnotation, Policy, RuleFailure, AllowlistTarget, Violation } from './types.js';
import { errorMessage } from '../util/errors.js';

export interface EvaluateOptions {
  /** Run the validating rules (the /validate webhook). */
  validate: boolean;
  /** Plan the pod-template mutation (the /mutate webhook). */
  mutate: boolean;
  /** The rules to run; tests inject a failing one to check how a bug is reported. */
  rules?: readonly Rule[];
  /** The mesh around the object (src/mesh/ answers); without it the mesh-aware rules are skipped. */
  mesh?: MeshView;
}

/** The mode a request in `namespace` is judged in: the first `namespaces[]` glob that matches, else `mode`. */
export function effectiveMode(policy: Policy, namespace: string): Mode {
  return policy.namespaces.find((n) => globMatch(n.match, namespace))?.mode ?? policy.mode;
}

function exemptionOf(req: EngineRequest, policy: Policy): string | undefined {
  const { users, groups, namespaces } = policy.exempt;
  const username = req.user?.username;
  if (username !== undefined && anyGlobMatch(users, username)) return `user ${username} is exempt`;
  const group = req.user?.groups?.find((g) => anyGlobMatch(groups, g));
  if (group !== undefined) return `group ${group} is exempt`;
  if (anyGlobMatch(namespaces, req.namespace)) return `namespace ${req.namespace} is exempt`;
  return undefined;
}

function skipped(mode: Mode, reason: string): Decision {
  return { allowed: true, mode, skipped: reason, violations: [], failures: [], warnings: [], notices: [], patch: [], mutations: [] };
}

/** Identity of a finding across old and new object: same rule, field, value and target (host or
 * selector, and the port and subset the setting reaches). */
function findingKey(rule: Rule, target: AllowlistTarget, f: Finding): string {
  const what = target.resolvedHost ?? JSON.stringify(target.selector ?? null);
  return [rule.id, f.path, f.value.toUpperCase(), what, f.reach ?? ''].join('\u0000');
}

function preExistingKeys(rule: Rule, req: EngineRequest, policy: Policy, mesh: MeshView | undefined): Set<string> {
  if (req.operation !== 'UPDATE' || req.oldObject === undefined || req.oldObject === null) return new Set();
  const target = rule.target(req.oldObject, req.namespace, req.name, policy);
  const findings = rule.find(req.oldObject, target, policy, req.kind, mesh);
  // An old object the allowlist permitted carried no violation: a change is judged afresh.
  if (findings.length === 0 || rule.allowedBy(policy, target, findings)) return new Set();
  return new Set(findings.map((f) => findingKey(rule, target, f)));
}

function runRule(rule: Rule, req: EngineRequest, policy: Policy, mode: Mode, ref: string, mesh: MeshView | undefined): Violation[] {
  const action = policy.rules[rule.id].action;
  if (action === 'off' || !rule.handles(req.kind, policy) || (rule.needsMesh && !mesh)) return [];
  const target = rule.target(req.object, req.namespace, req.name, policy);
  const previous = req.operation === 'UPDATE' && req.oldObject !== null ? req.oldObject : undefined;
  const findings = rule.find(req.object, target, policy, req.kind, mesh, previous);
  if (findings.length === 0 || rule.allowedBy(policy, target, findings)) return [];
  const old = preExistingKeys(rule, req, policy, mesh);
  const why = rule.why(target, findings, policy);
  const fix = rule.fix(target);
  const allowedHere = describeAllowed(rule.describeAllowlist(policy));
  return findings.map((f) => {
    const base = { rule: rule.id, path: f.path, value: f.value, scope: f.scope, why, fix, allowedHere };
    let v: Omit<Violation, 'summary'>;
    if (action === 'warn') v = { ...base, action: 'warn' };
    else if (old.has(findingKey(rule, target, f))) v = { ...base, action: 'warn', downgrade: 'pre-existing' };
    else if (mode === 'audit') v = { ...base, action: 'warn', downgrade: 'audit' };
    else v = { ...base, action: 'deny' };
    return { ...v, summary: warningFor(v, ref, rule.needsMesh) };
  });
}

/**
 * Judges one admission request (or one manifest, for `check`) under a policy: runs every rule,
 * collects every violation, applies rule actions, the effective mode and the pre-existing
 * downgrade on UPDATE, plans the pod-template mutation, and words the refusal and warnings.
 * Pure and synchronous.
 * @param req the request: kind, operation, namespace/name, object (and oldObject on UPDATE), user;
 *   the objects are untrusted JSON of any shape.
 * @param policy a fully defaulted policy (`policySchema`).
 * @param options which half to run: the validating rules, the mutation, or both (the default).
 * @returns the decision; never throws: a rule that throws becomes a `failures` entry (a refusal
 *   with cause `rule-failure` in enforce mode, a warning in audit mode).
 */
export function evaluate(req: EngineRequest, policy: Policy, options: EvaluateOptions = { validate: true, mutate: true }): Decision {
  const mode = effectiveMode(policy, req.namespace);
  if (req.operation === 'DELETE') {
    const decision = skipped(mode, 'DELETE is never refused');
    try {
      decision.warnings.push(...deleteWarnings(req, policy, options.mesh, objectRef(req.kind, req.namespace, req.name)));
    } catch (err) {
      // Never refused, so a failing mesh question only costs the warning; it is still reported.
      decision.failures.push({ rule: isPeerAuthentication(req.kind) ? 'peerauthentication-strict-conflict' : 'destinationrule-strict-conflict', error: errorMessage(err) });
    }
    return decision;
  }
  if (req.operation === 'CONNECT') return skipped(mode, 'CONNECT is not judged');
  if (!isHandledKind(req.kind, policy)) return skipped(mode, `kind ${req.kind.group ? `${req.kind.group}/` : ''}${req.kind.kind} is not handled`);
  const exempt = exemptionOf(req, policy);
  if (exempt) return skipped(mode, exempt);

  const ref = objectRef(req.kind, req.namespace, req.name);
  const violations: Violation[] = [];
  const failures: RuleFailure[] = [];
  const warnings: string[] = [];
  const notices: string[] = [];

  if (options.validate) {
    for (const rule of options.rules ?? RULES) {
      try {
        violations.push(...runRule(rule, req, policy, mode, ref, options.mesh));
      } catch (err) {
        failures.push({ rule: rule.id, error: errorMessage(err) });
      }
    }
    notices.push(...noticesFor(req, policy, ref));
  }

  let mutations: PlannedAnnotation[] = [];
  let patch: Decision['patch'] = [];
  if (options.mutate && podTemplatePath(req.kind, policy)) {
    try {
      mutations = planAnnotations(req.object, req.kind, policy);
      if (mode === 'enforce') patch = buildPatch(req.object, req.kind, mutations, policy);
    } catch (err) {
      failures.push({ rule: 'mutation', error: errorMessage(err) });
      mutations = [];
      patch = [];
    }
  }

  const denying = violations.filter((v) => v.action === 'deny');
  for (const v of violations) if (v.action === 'warn') warnings.push(v.summary);
  if (mode === 'audit') for (const m of mutations) warnings.push(mutationWarning(ref, m));
  // In enforce mode a failure is the refusal's message; in audit mode it is a warning.
  if (mode === 'audit') for (const f of failures) warnings.push(singleLine(WARNING_PREFIX + ruleFailureMessage(ref, f.rule, f.error, mode)));
  warnings.push(...notices);

  const decision: Decision = { allowed: true, mode, violations, failures, warnings, notices, patch, mutations };
  if (failures.length && mode === 'enforce') {
    const f = failures[0] as RuleFailure;
    decision.allowed = false;
    decision.patch = [];
    decision.refusal = { cause: 'rule-failure', message: ruleFailureMessage(ref, f.rule, f.error, mode) };
  } else if (denying.length) {
    decision.allowed = false;
    decision.patch = [];
    decision.refusal = { cause: 'violations', message: denialMessage(ref, violations) };
  }
  return decision;
}
