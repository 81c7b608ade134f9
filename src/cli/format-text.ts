// `check -o text`: for a person reading a terminal or a CI log. One line per object with the
// verdict first (so `grep DENIED` works), the reasons indented under it, a summary at the end.
import { objectRef, type PlannedAnnotation, type Violation } from '../engine/index.js';
import type { Palette } from './colour.js';
import type { Checked, Verdict } from './judge.js';

const LABEL: Record<Verdict, string> = { denied: 'DENIED', warned: 'WARN', patched: 'PATCH', ok: 'OK' };
const LABEL_WIDTH = 8;
const PREFIX = /^mtls-guard: /;

function verdictLabel(verdict: Verdict, p: Palette): string {
  const text = LABEL[verdict].padEnd(LABEL_WIDTH);
  switch (verdict) {
    case 'denied':
      return p.bold(p.red(text));
    case 'warned':
      return p.yellow(text);
    case 'patched':
      return p.cyan(text);
    case 'ok':
      return p.green(text);
  }
}

function objectName(c: Checked): string {
  return objectRef(c.request.kind, c.request.namespace, c.request.name);
}

function actionText(v: Violation): string {
  if (v.downgrade === 'audit') return 'warn (audit mode: would be denied)';
  if (v.downgrade === 'pre-existing') return 'warn (pre-existing)';
  return v.action;
}

function violationLines(violations: readonly Violation[], p: Palette): string[] {
  const lines: string[] = [];
  // Grouped by rule and action so why / allowed / fix are said once per group.
  const groups = new Map<string, Violation[]>();
  for (const v of violations) {
    const key = `${v.rule}\u0000${actionText(v)}`;
    groups.set(key, [...(groups.get(key) ?? []), v]);
  }
  for (const group of groups.values()) {
    const first = group[0] as Violation;
    const action = first.action === 'deny' ? p.red(actionText(first)) : p.yellow(actionText(first));
    for (const v of group) lines.push(`  ${p.bold(`[${v.rule}]`)} ${action}: ${v.path}: ${v.value} (${v.scope})`);
    lines.push(`      why: ${first.why}`);
    lines.push(`      allowed here: ${first.allowedHere.join('; ')}`);
    lines.push(`      fix: ${first.fix}`);
  }
  return lines;
}

function mutationLine(c: Checked, p: Palette): string | undefined {
  const planned = c.mutation.mutations;
  if (planned.length === 0) return undefined;
  const describe = (m: PlannedAnnotation): string => (m.from === undefined ? `${m.key}="${m.to}"` : `${m.key}: "${m.from}" → "${m.to}"`);
  const adds = planned.filter((m) => m.from === undefined).map(describe);
  const changes = planned.filter((m) => m.from !== undefined).map(describe);
  const parts = [];
  if (adds.length) parts.push(`would add annotations: ${adds.join(', ')}`);
  if (changes.length) parts.push(`would change annotations: ${changes.join(', ')}`);
  const audit = c.mutation.patch.length === 0 ? ' (audit mode: not applied)' : '';
  return `  ${p.cyan(parts.join('; '))}${audit}`;
}

export function formatObject(c: Checked, p: Palette): string[] {
  let head = `${verdictLabel(c.verdict, p)}${objectName(c)}  ${p.dim(`(${c.manifest.source})`)}`;
  if (!c.handled) head += p.dim(`  not checked: mtls-guard does not judge ${c.manifest.apiVersion} ${c.manifest.kind}`);
  else if (c.validation.skipped) head += p.dim(`  not checked: ${c.validation.skipped}`);
  const lines = [head, ...violationLines(c.validation.violations, p)];
  for (const f of [...c.validation.failures, ...c.mutation.failures]) {
    lines.push(`  ${p.red('[internal error]')} ${f.rule} failed: ${f.error} (a bug in mtls-guard, not in your object)`);
  }
  for (const n of c.notices) lines.push(`  ${p.yellow('note:')} ${n.replace(PREFIX, '')}`);
  const mutation = c.allowed ? mutationLine(c, p) : undefined;
  if (mutation) lines.push(mutation);
  return lines;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function summaryLine(checked: readonly Checked[], p: Palette): string {
  if (checked.length === 0) return 'no objects found';
  const count = (v: Verdict): number => checked.filter((c) => c.verdict === v).length;
  const denied = count('denied');
  const warned = count('warned');
  const ok = count('ok') + count('patched');
  const patched = checked.filter((c) => c.allowed && c.mutation.mutations.length > 0).length;
  const parts = [
    denied ? p.red(`${denied} denied`) : '0 denied',
    warned ? p.yellow(`${warned} warned`) : '0 warned',
    `${ok} ok`,
  ];
  const extra = patched ? `; ${patched} would be patched` : '';
  return `${plural(checked.length, 'object')}: ${parts.join(', ')}${extra}`;
}

export function formatText(checked: readonly Checked[], p: Palette): string {
  const lines = checked.flatMap((c) => formatObject(c, p));
  if (lines.length) lines.push('');
  lines.push(summaryLine(checked, p));
  return `${lines.join('\n')}\n`;
}
