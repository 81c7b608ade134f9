// Turns policy text into a Policy, or into errors that name the key path. Pure: reading the
// file and watching it live in server/policy-source.ts and the CLI.
import { isScalar, parseAllDocuments } from 'yaml';
import type { z } from 'zod';
import { defaultPolicy, policySchema, type Policy } from '../engine/index.js';

export type PolicyResult = { ok: true; policy: Policy } | { ok: false; errors: string[] };

function formatPath(path: readonly PropertyKey[]): string {
  return path.map(String).join('.');
}

function formatIssue(issue: z.core.$ZodIssue): string[] {
  const at = formatPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => `${at ? `${at}.` : ''}${key}: unknown key`);
  }
  return [`${at || '(top level)'}: ${issue.message}`];
}

/** Validates an already-parsed policy document and fills in every default. */
export function policyFromObject(doc: unknown): PolicyResult {
  if (doc === null || doc === undefined) return { ok: true, policy: defaultPolicy() };
  const parsed = policySchema.safeParse(doc);
  if (!parsed.success) return { ok: false, errors: parsed.error.issues.flatMap(formatIssue) };
  return { ok: true, policy: parsed.data };
}

/** Parses YAML or JSON text (JSON is YAML) holding exactly one policy document. */
export function parsePolicy(text: string, source = 'policy'): PolicyResult {
  const docs = parseAllDocuments(text, { uniqueKeys: true });
  if (!Array.isArray(docs)) return { ok: true, policy: defaultPolicy() };
  const errors: string[] = [];
  for (const [i, d] of docs.entries()) {
    for (const e of d.errors) errors.push(`${source}: document ${i + 1}: ${e.message.split('\n')[0]}`);
  }
  if (errors.length) return { ok: false, errors };
  const nonEmpty = docs.filter((d) => d.contents !== null);
  if (nonEmpty.length > 1) return { ok: false, errors: [`${source}: holds ${nonEmpty.length} YAML documents; a policy is one document`] };
  const result = policyFromObject(nonEmpty[0]?.toJS() ?? null);
  if (!result.ok) return { ok: false, errors: result.errors.map((e) => `${source}: ${e}`) };
  return result;
}

/** Nothing but whitespace, comments and document markers: what `: > policy.yaml`, a write caught
 * at its start, or an empty ConfigMap key leave. */
export function isBlankPolicyText(text: string): boolean {
  return parseAllDocuments(text).every((doc) => doc.contents === null || (isScalar(doc.contents) && doc.contents.source === ''));
}

/**
 * The text of a policy file given with --config (or mounted from a ConfigMap): as
 * {@link parsePolicy}, except that a blank file is refused. The YAML reading of an empty file is
 * "every default", which is enforce mode: a truncated file must not switch a cluster in audit
 * mode to enforce, nor start a server or pass a `check` that way.
 */
export function parsePolicyFile(text: string, file: string): PolicyResult {
  if (isBlankPolicyText(text)) {
    return { ok: false, errors: [`${file}: the policy file is empty (nothing but whitespace or comments); write {} for every default, or leave out --config`] };
  }
  return parsePolicy(text, file);
}
