// Requests with a body (POST, PUT, DELETE) against the API server with the kubeconfig's
// credentials, for the PolicyReports the server writes (cluster-reports.ts). The same transport
// as cluster-api.ts's getJson: client-node's applyToHTTPSOptions (CA, client certificate, bearer
// token re-read per request), raw JSON in and out.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { ApiError } from './cluster-api.js';

const REQUEST_TIMEOUT_MS = 30_000;

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

/**
 * Sends `body` (as JSON, when given) to `path` and parses the JSON answer. A 4xx/5xx answer
 * becomes an ApiError with its status and the API server's `message`; no answer within 30 s, or
 * `signal` aborting, rejects with an Error.
 */
export async function requestJson(config: KubeConfig, method: Method, path: string, body?: unknown, signal?: AbortSignal): Promise<unknown> {
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const url = new URL(cluster.server.replace(/\/+$/, '') + path);
  const options: RequestOptions = {};
  await config.applyToHTTPSOptions(options);
  const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
  const headers: Record<string, string | number> = { Accept: 'application/json' };
  if (payload) Object.assign(headers, { 'Content-Type': 'application/json', 'Content-Length': payload.length });
  return new Promise((resolve, reject) => {
    const req = send(url, { ...options, method, headers: { ...options.headers, ...headers }, timeout: REQUEST_TIMEOUT_MS, ...(signal && { signal }) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 299) {
          let message = text.slice(0, 300);
          try {
            const parsed = JSON.parse(text) as { message?: unknown };
            if (typeof parsed.message === 'string') message = parsed.message;
          } catch {
            // not JSON: the start of the body is the message
          }
          reject(new ApiError(`${method} ${url.pathname}: ${status} ${message}`, status));
          return;
        }
        try {
          resolve(text ? JSON.parse(text) : {});
        } catch (err) {
          reject(new Error(`${method} ${url.pathname}: the answer is not JSON`, { cause: err }));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url.pathname}: no answer within ${REQUEST_TIMEOUT_MS / 1000} s`)));
    req.on('error', reject);
    req.end(payload);
  });
}
