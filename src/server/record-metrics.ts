// Counts every decision and times it. A handler that throws is counted as decision="error"
// before the error travels on to the HTTP error handler.
import { decisionLabel, secondsSince, type AdmissionHandler } from './handler.js';
import type { Metrics } from './metrics.js';

export function withMetrics(inner: AdmissionHandler, metrics: Metrics): AdmissionHandler {
  return (ctx) => {
    const { request } = ctx.review;
    const labels = { webhook: ctx.webhook, kind: request.kind.kind, operation: request.operation };
    try {
      const decision = inner(ctx);
      metrics.admissionRequests.inc({ ...labels, decision: decisionLabel(decision), mode: decision.mode });
      for (const v of decision.violations) metrics.violations.inc({ rule: v.rule, action: v.action, mode: decision.mode });
      if (decision.mutations.length) metrics.mutations.inc({ mode: decision.mode });
      return decision;
    } catch (err) {
      metrics.admissionRequests.inc({ ...labels, decision: 'error', mode: 'unknown' });
      throw err;
    } finally {
      metrics.admissionDuration.observe({ webhook: ctx.webhook }, secondsSince(ctx.startedAt));
    }
  };
}
