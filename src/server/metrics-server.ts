// The plain-HTTP listener for Prometheus, apart from the admission port so scraping needs no
// TLS client setup and cannot queue behind admission traffic. It repeats /healthz and /readyz
// for probes that prefer plain HTTP, and it stays up while the admission port drains.
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { healthAnswer, readinessAnswer, type Readiness } from './health.js';
import { sendJson } from './send-json.js';

export interface MetricsServerOptions extends Readiness {
  registry: Registry;
  logger: Logger;
}

export function createMetricsServer(options: MetricsServerOptions): Server {
  const { registry, logger } = options;
  // Scrapes are small and quick; a stuck client must not hold a socket for long.
  return createServer({ requestTimeout: 10_000, headersTimeout: 10_000 }, (req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const known = path === '/metrics' || path === '/healthz' || path === '/readyz';
    if (!known) return sendJson(res, 404, { error: `no such endpoint: ${path}; this port serves GET /metrics, /healthz, /readyz` });
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return sendJson(res, 405, { error: `method ${req.method ?? ''} is not allowed on ${path}; use GET` }, { headers: { allow: 'GET, HEAD' } });
    }
    if (path === '/healthz' || path === '/readyz') {
      const answer = path === '/healthz' ? healthAnswer() : readinessAnswer(options);
      return sendJson(res, answer.status, answer.body);
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
