// The plain-HTTP listener for Prometheus, apart from the admission port so scraping needs no
// TLS client setup and cannot queue behind admission traffic. It repeats /healthz and /readyz
// for probes that prefer plain HTTP, and it stays up while the admission port drains.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

export interface MetricsServerOptions {
  registry: Registry;
  logger: Logger;
  isReady: () => boolean;
  notReadyReason?: () => string;
  /** More for the /readyz body (the certificate's validity), ready or not. */
  readinessDetail?: () => Record<string, unknown>;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify(body));
}

export function createMetricsServer(options: MetricsServerOptions): Server {
  const { registry, logger, isReady } = options;
  // Scrapes are small and quick; a stuck client must not hold a socket for long.
  return createServer({ requestTimeout: 10_000, headersTimeout: 10_000 }, (req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const known = path === '/metrics' || path === '/healthz' || path === '/readyz';
    if (!known) return sendJson(res, 404, { error: `no such endpoint: ${path}; this port serves GET /metrics, /healthz, /readyz` });
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return sendJson(res, 405, { error: `method ${req.method ?? ''} is not allowed on ${path}; use GET` }, { allow: 'GET, HEAD' });
    }
    if (path === '/healthz') return sendJson(res, 200, { status: 'ok' });
    if (path === '/readyz') {
      const detail = options.readinessDetail?.() ?? {};
      if (isReady()) return sendJson(res, 200, { status: 'ready', ...detail });
      return sendJson(res, 503, { status: 'not ready', reason: options.notReadyReason?.() ?? 'not ready', ...detail });
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType });
        res.end(text);
      },
      (err: unknown) => {
        logger.error({ err }, 'collecting metrics failed');
        sendJson(res, 500, { error: 'collecting metrics failed; see the server log' });
      },
    );
  });
}
