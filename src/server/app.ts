// The HTTP layer, kept thin: the admission routes (admission-listener.ts) check the content type,
// parse the body, decode the AdmissionReview, call the handler and encode the answer; express
// serves health, readiness and the helpful 404/405 answers. Every refusal is JSON that says what was wrong; nothing
// becomes a bare 500.
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type ErrorRequestHandler, type Express, type Response } from 'express';
import type { Logger } from 'pino';
import type { Policy } from '../engine/index.js';
import { createAdmissionListener } from './admission-listener.js';
import { decide } from './handler.js';
import { healthAnswer, readinessAnswer, type Readiness } from './health.js';
import { reportInternalError } from './internal-error.js';
import { errorMessage } from '../util/errors.js';
import { withDecisionLog } from './log-decision.js';
import type { Metrics } from './metrics.js';
import { decideWithMesh, type MeshSource } from './mesh-handler.js';
import { withMetrics } from './with-metrics.js';

/** An UPDATE review carries two objects of up to 1.5 MiB each plus managedFields. */
export const DEFAULT_BODY_LIMIT = 8 * 1024 * 1024;

export interface AppOptions extends Readiness {
  getPolicy: () => Policy;
  logger: Logger;
  metrics: Metrics;
  /** True once shutting down: every answer then carries `Connection: close`. Defaults to not ready. */
  isDraining?: () => boolean;
  bodyLimitBytes?: number;
  /** Cluster mode: the mesh around the object, for the validating webhook's mesh-aware rules. */
  mesh?: MeshSource;
}

const ROUTES = new Map<string, string[]>([
  ['/validate', ['POST']],
  ['/mutate', ['POST']],
  ['/healthz', ['GET', 'HEAD']],
  ['/readyz', ['GET', 'HEAD']],
]);

function sendError(res: Response, status: number, error: string): void {
  res.status(status).json({ error });
}

/** Errors that reach express (the admission routes never do): its own 4xx, such as a path that
 * does not decode, keep their status; anything else is a bug. */
function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) return next(err);
    const status = typeof err === 'object' && err !== null ? (err as { status?: unknown }).status : undefined;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      const error = errorMessage(err);
      logger.warn({ status, path: req.path, error }, 'rejected a request body');
      sendError(res, status, error);
      return;
    }
    res.status(500).json(reportInternalError(err, req.method, req.path, logger));
  };
}

/** A node request listener: the admission routes on the fast path, the rest through express. */
export type App = (req: IncomingMessage, res: ServerResponse) => void;

export function createApp(options: AppOptions): App {
  const { logger, metrics, isReady } = options;
  const limit = options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT;
  const inner = options.mesh ? decideWithMesh(options.getPolicy, options.mesh) : decide(options.getPolicy);
  const handler = withDecisionLog(withMetrics(inner, metrics), logger);
  const isDraining = options.isDraining ?? (() => !isReady());
  const admission = createAdmissionListener({ handler, logger, limit, isDraining });
  const app = createExpressApp(options);
  return (req, res) => {
    if (!admission(req, res)) app(req, res);
  };
}

function createExpressApp(options: AppOptions): Express {
  const { logger, isReady } = options;
  const isDraining = options.isDraining ?? (() => !isReady());
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use((req, res, next) => {
    // While draining, ask keep-alive clients to reconnect, which lands them on another replica.
    // These routes answer synchronously, so this is also the moment the answer is written.
    if (isDraining()) res.set('Connection', 'close');
    next();
  });

  for (const [path, answer] of [
    ['/healthz', healthAnswer],
    ['/readyz', () => readinessAnswer(options)],
  ] as const) {
    app.get(path, (_req, res) => {
      const { status, body } = answer();
      res.status(status).json(body);
    });
  }

  app.use((req, res) => {
    const allowed = ROUTES.get(req.path.length > 1 ? req.path.replace(/\/+$/, '') : req.path);
    if (allowed) {
      res.set('Allow', allowed.join(', '));
      sendError(res, 405, `method ${req.method} is not allowed on ${req.path}; use ${allowed.join(' or ')}`);
      return;
    }
    const served = [...ROUTES].map(([path, methods]) => `${methods[0] ?? ''} ${path}`).join(', ');
    sendError(res, 404, `no such endpoint: ${req.method} ${req.path}; mtls-guard serves ${served}`);
  });
  app.use(errorHandler(logger));
  return app;
}
