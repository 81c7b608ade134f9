// One JSON answer on a plain node:http response: the admission fast path and the metrics port
// both write their answers this way.
import type { ServerResponse } from 'node:http';

/**
 * Writes `body` as JSON with its length and ends the response.
 * @param options.close ask the client not to reuse the connection (`Connection: close`), as a
 *   draining server does; decided when the answer is written, not when the request arrived.
 * @param options.headers extra headers, e.g. `Allow` on a 405.
 */
export function sendJson(res: ServerResponse, status: number, body: unknown, options: { close?: boolean; headers?: Record<string, string> } = {}): void {
  const text = JSON.stringify(body);
  if (options.close) res.shouldKeepAlive = false;
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...options.headers });
  res.end(text);
}
