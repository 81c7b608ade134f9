// /healthz and /readyz answers, the same on the admission port and the metrics port.

/** What the server knows about its readiness. */
export interface Readiness {
  /** False while starting or draining, or while the certificate is not valid. */
  isReady: () => boolean;
  /** Why not ready, for the /readyz body. */
  notReadyReason?: () => string;
  /** More for the /readyz body (the certificate's validity), ready or not. */
  readinessDetail?: () => Record<string, unknown>;
}

/** GET /healthz: alive. */
export function healthAnswer(): { status: number; body: Record<string, unknown> } {
  return { status: 200, body: { status: 'ok' } };
}

/** GET /readyz: 200 `ready`, or 503 `not ready` with the reason; the detail either way. */
export function readinessAnswer(readiness: Readiness): { status: number; body: Record<string, unknown> } {
  const detail = readiness.readinessDetail?.() ?? {};
  if (readiness.isReady()) return { status: 200, body: { status: 'ready', ...detail } };
  return { status: 503, body: { status: 'not ready', reason: readiness.notReadyReason?.() ?? 'not ready', ...detail } };
}
