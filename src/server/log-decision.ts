// One log line per admission decision: enough to answer "why was my apply refused / changed"
// and to audit a rollout in audit mode. Never the object itself (it can hold Secrets' data in
// env or annotations), never userInfo.extra (it can carry tokens' details).
import type { Logger } from 'pino';
import { decisionLabel, secondsSince, type AdmissionHandler } from './handler.js';

export function withDecisionLog(inner: AdmissionHandler, logger: Logger): AdmissionHandler {
  return (ctx) => {
    const decision = inner(ctx);
    const { request } = ctx.review;
    const line = {
      uid: ctx.review.uid,
      webhook: ctx.webhook,
      group: request.kind.group,
      kind: request.kind.kind,
      namespace: request.namespace,
      name: request.name,
      operation: request.operation,
      user: request.user?.username,
      mode: decision.mode,
      decision: decisionLabel(decision),
      rules: [...new Set(decision.violations.map((v) => v.rule))],
      durationMs: Math.round(secondsSince(ctx.startedAt) * 1e6) / 1e3,
      dryRun: ctx.review.dryRun,
      ...(decision.skipped !== undefined && { reason: decision.skipped }),
      ...(decision.mutations.length > 0 && { annotations: decision.mutations.map((m) => m.key) }),
      ...(decision.failures.length > 0 && { failures: decision.failures }),
    };
    // A rule that threw is a bug in mtls-guard: it must stand out from ordinary denials.
    if (decision.failures.length) logger.error(line, 'admission decision with rule failures (a bug in mtls-guard)');
    else logger.info(line, 'admission decision');
    return decision;
  };
}
