// The admission handler: the one function between transport and engine. It never sees HTTP;
// logging, metrics and timing wrap it (log-decision.ts, with-metrics.ts), each in its own file.
import type { DecodedReview } from '../admission/review.js';
import { evaluate, type Decision, type EvaluateOptions, type Policy } from '../engine/index.js';

export type Webhook = 'validate' | 'mutate';

export interface AdmissionContext {
  webhook: Webhook;
  review: DecodedReview;
  /** process.hrtime.bigint() when the HTTP request arrived, so wrappers time the whole answer. */
  startedAt: bigint;
}

export type AdmissionHandler = (ctx: AdmissionContext) => Decision;

// Two webhooks over one engine: the API server calls the mutating one first and validates the
// mutated object afterwards, so each does only its half.
const WEBHOOK_OPTIONS: Record<Webhook, EvaluateOptions> = {
  validate: { validate: true, mutate: false },
  mutate: { validate: false, mutate: true },
};

/** The inner handler. The policy is read per request so a reload applies to the next one. */
export function decide(getPolicy: () => Policy): AdmissionHandler {
  return (ctx) => evaluate(ctx.review.request, getPolicy(), WEBHOOK_OPTIONS[ctx.webhook]);
}

export type DecisionLabel = 'allowed' | 'denied' | 'warned' | 'patched' | 'skipped';

/** One word for logs and metrics; the most consequential outcome wins. */
export function decisionLabel(decision: Decision): DecisionLabel {
  if (decision.skipped !== undefined) return 'skipped';
  if (!decision.allowed) return 'denied';
  if (decision.patch.length) return 'patched';
  if (decision.warnings.length) return 'warned';
  return 'allowed';
}

export function secondsSince(startedAt: bigint): number {
  return Number(process.hrtime.bigint() - startedAt) / 1e9;
}
