// What an engine decision becomes in an AdmissionResponse: the HTTP-style status of a refusal
// and the audit annotations. Admission-response concepts live here, not in the engine.
import type { Decision } from '../engine/index.js';

/** `response.status` of a refused request (metav1.Status fields the API server reads). */
export interface AdmissionStatus {
  code: number;
  reason: string;
  message: string;
}

/**
 * The status of a refused request: 403 Forbidden for denying violations, 500 InternalError for
 * a rule that failed (a bug, and the message says so). Undefined when allowed.
 */
export function admissionStatus(decision: Decision): AdmissionStatus | undefined {
  const refusal = decision.refusal;
  if (!refusal) return undefined;
  return refusal.cause === 'violations'
    ? { code: 403, reason: 'Forbidden', message: refusal.message }
    : { code: 500, reason: 'InternalError', message: refusal.message };
}

/**
 * `response.auditAnnotations` (the API server prefixes each key with the webhook's name):
 * `violations` (rule ids) and `mode` on every warn or would-deny; in audit mode also `mutations`
 * (the annotation keys that would have been added). Empty when there is nothing to record.
 */
export function auditAnnotations(decision: Decision): Record<string, string> {
  const out: Record<string, string> = {};
  if (decision.violations.length) {
    out['violations'] = [...new Set(decision.violations.map((v) => v.rule))].join(',');
    out['mode'] = decision.mode;
  }
  if (decision.mode === 'audit' && decision.mutations.length) {
    out['mutations'] = decision.mutations.map((m) => m.key).join(',');
    out['mode'] = decision.mode;
  }
  return out;
}
