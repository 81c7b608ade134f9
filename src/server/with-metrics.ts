// Counts every decision and times it. A handler that throws is counted as decision="error"
// before the error travels on to the HTTP error handler. The decision counters go through the
// tallies of metrics.ts (added to prom-client when it collects); the duration histogram is
// observed per request with one shared labels object per webhook.
import { decisionLabel, secondsSince, type AdmissionHandler, type Webhook } from './handler.js';
import type { Metrics } from './metrics.js';

const WEBHOOK_LABELS: Record<Webhook, { webhook: Webhook }> = { validate: { webhook: 'validate' }, mutate: { webhook: 'mutate' } };

export function withMetrics(inner: AdmissionHandler, metrics: Metrics): AdmissionHandler {
  const { tallies } = metrics;
  return (ctx) => {
    const { webhook } = ctx;
    const { kind: { kind }, operation } = ctx.review.request;
    try {
      const decision = inner(ctx);
      const label = decisionLabel(decision);
      const { mode } = decision;
      tallies.admissionRequests.add(`${webhook}\0${kind}\0${operation}\0${label}\0${mode}`, () => ({ webhook, kind, operation, decision: label, mode }));
      for (const v of decision.violations) tallies.violations.add(`${v.rule}\0${v.action}\0${mode}`, () => ({ rule: v.rule, action: v.action, mode }));
      if (decision.mutations.length) tallies.mutations.add(mode, () => ({ mode }));
      return decision;
    } catch (err) {
      metrics.admissionRequests.inc({ webhook, kind, operation, decision: 'error', mode: 'unknown' });
      throw err;
    } finally {
      metrics.admissionDuration.observe(WEBHOOK_LABELS[webhook], secondsSince(ctx.startedAt));
    }
  };
}
