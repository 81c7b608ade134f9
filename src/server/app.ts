// The HTTP layer, kept thin: the admission routes (admission-listener.ts) check the content type,
// parse the body, decode the AdmissionReview, call the handler and encode the answer; express
// serves health, readiness and the helpful 404/405 answers. Every refusal is JSON that says what was wrong; nothing
// becomes a bare 500.
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type ErrorRequestHandler, type Express, type Response } from 'express';
import type { Logger } from 'pino';
import type { Policy } from '../engine/types.js';
import { createAdmissionListener } from './admission-listener.js';
import { decide } from './handler.js';
import { withDecisionLog } from './log-decision.js';
import type { Metrics } from './metrics.js';
import { withMetrics } from './record-metrics.js';

/** An UPDATE review carries two objects of up to 1.5 MiB each plus managedFields. */
export const DEFAULT_BODY_LIMIT = 8 * 1024 * 1024;

export interface AppOptions {
  getPolicy: () => Policy;
  logger: Logger;
  metrics: Metrics;
  /** False while starting or draining; /readyz then answers 503. */
  isReady: () => boolean;
  /** Why not ready, for the /readyz body. */
  notReadyReason?: () => string;
  bodyLimitBytes?: number;
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

/** Errors that reach express, worded for a person holding curl; anything else is a bug. */
function errorHandler(logger: Logger, limit: number): ErrorRequestHandler {
  return (err: unknown, req, res, next) => {
    if (res.headersSent) return next(err);
    const e = (typeof err === 'object' && err !== null ? err : {}) as { type?: unknown; status?: unknown; message?: unknown; length?: unknown };
    const message = typeof e.message === 'string' ? e.message : String(err);
    let status = 500;
    let error: string;
    switch (e.type) {
      case 'entity.too.large':
        status = 413;
        error = `request body${typeof e.length === 'number' ? ` of ${e.length} bytes` : ''} is over the limit of ${limit} bytes`;
        break;
      case 'entity.parse.failed':
        status = 400;
        error = `body is not valid JSON: ${message}`;
        break;
      case 'encoding.unsupported':
      case 'charset.unsupported':
        status = 415;
        error = message;
        break;
      default:
        if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
          status = e.status;
          error = message;
        } else {
          error = `internal error in mtls-guard while handling ${req.method} ${req.path}: ${message}. This is a bug in mtls-guard, not in your request; the request was not judged. Please report it.`;
        }
    }
    if (status === 500) logger.error({ err, method: req.method, path: req.path }, 'unexpected error while handling a request (a bug in mtls-guard)');
    else logger.warn({ status, path: req.path, error }, 'rejected a request body');
    sendError(res, status, error);
  };
}

/** A node request listener: the admission routes on the fast path, the rest through express. */
export type App = (req: IncomingMessage, res: ServerResponse) => void;

export function createApp(options: AppOptions): App {
  const { logger, metrics, isReady } = options;
  const limit = options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT;
  const handler = withDecisionLog(withMetrics(decide(options.getPolicy), metrics), logger);
  const admission = createAdmissionListener({ handler, logger, limit, isReady });
  const app = createExpressApp(options, limit);
  return (req, res) => {
    if (!admission(req, res)) app(req, res);
  };
}

function createExpressApp(options: AppOptions, limit: number): Express {
  const { logger, isReady } = options;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use((req, res, next) => {
    // While draining, ask keep-alive clients to reconnect, which lands them on another replica.
    if (!isReady()) res.set('Connection', 'close');
    next();
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', (_req, res) => {
    if (isReady()) res.json({ status: 'ready' });
    else res.status(503).json({ status: 'not ready', reason: options.notReadyReason?.() ?? 'not ready' });
  });

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
  app.use(errorHandler(logger, limit));
  return app;
}
