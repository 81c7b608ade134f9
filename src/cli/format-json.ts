// `check -o json`: the machine-readable shape of README "Command line", for CI pipelines. The keys it names are
// always present; `source` is always added, `failures` and `notices` only when there are some.
import type { JsonPatchOperation, RuleFailure, Violation, ViolationAction } from '../engine/index.js';
import type { Checked } from './judge.js';

export interface CheckViolation {
  rule: string;
  action: ViolationAction;
  path: string;
  message: string;
}

export interface CheckResult {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  allowed: boolean;
  violations: CheckViolation[];
  patch: JsonPatchOperation[];
  source: string;
  failures?: RuleFailure[];
  notices?: string[];
}

export function violationMessage(v: Violation): string {
  const base = `${v.path}: ${v.value} (${v.scope}): ${v.why}; fix: ${v.fix}`;
  return v.downgrade ? `${base} [downgraded: ${v.downgrade}]` : base;
}

export function toResult(c: Checked): CheckResult {
  const result: CheckResult = {
    apiVersion: c.manifest.apiVersion,
    kind: c.manifest.kind,
    namespace: c.request.namespace,
    name: c.manifest.name,
    allowed: c.allowed,
    violations: c.validation.violations.map((v) => ({ rule: v.rule, action: v.action, path: v.path, message: violationMessage(v) })),
    patch: c.mutation.patch,
    source: c.manifest.source,
  };
  const failures = [...c.validation.failures, ...c.mutation.failures];
  if (failures.length) result.failures = failures;
  if (c.notices.length) result.notices = c.notices;
  return result;
}

export function formatJson(checked: readonly Checked[]): string {
  return `${JSON.stringify({ results: checked.map(toResult) }, null, 2)}\n`;
}
