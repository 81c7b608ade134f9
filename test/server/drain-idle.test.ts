// The drain and a keep-alive connection that went quiet: the API server keeps such connections in
// its pool and may write a review onto one at any moment, so the drain must not end one that has
// been idle only briefly (that races the client's write: "failed calling webhook ... EOF").
// With the default idle threshold, a request sent on a connection idle for 1.5 s after SIGTERM is
// answered (with `Connection: close`), where the old 1 s threshold had already ended it.
import assert from 'node:assert/strict';
import { Agent, request } from 'node:https';
import { after, before, test } from 'node:test';
import type { Pem } from '../../src/certs/generate.js';
import { DEFAULT_DRAIN_IDLE_CLOSE_MS, startServer, type RunningServer } from '../../src/server/start.js';
import { generateCa, localhostCert, peerAuthentication, silentLogger, tempDir, writePem } from './helpers.js';

interface Answer {
  status: number;
  connection: string;
  reused: boolean;
}

function post(port: number, agent: Agent, ca: Pem): Promise<Answer> {
  const body = JSON.stringify(peerAuthentication('STRICT'));
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/validate', method: 'POST', agent, ca: ca.cert, servername: 'localhost', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: String(res.headers.connection ?? ''), reused: req.reusedSocket }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

let ca: Pem;
let server: RunningServer | undefined;
let remove: (() => Promise<void>) | undefined;
before(async () => {
  ca = await generateCa();
});
after(async () => {
  await server?.close();
  await remove?.();
});

test('a connection idle for 1.5 s during the drain still gets its answer, then Connection: close', async () => {
  assert.ok(DEFAULT_DRAIN_IDLE_CLOSE_MS > 1_500, 'the default threshold outlasts the quiet spell of this test');
  const tmp = await tempDir();
  remove = tmp.remove;
  const started = await startServer({ tls: await writePem(tmp.dir, 'tls', await localhostCert(ca)), host: '127.0.0.1', port: 0, metricsPort: 0, logger: silentLogger() });
  assert.ok(started.ok);
  server = started.server;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const first = await post(server.port, agent, ca);
    assert.deepEqual([first.status, first.reused], [200, false]);
    const closed = server.close();
    // The client's pooled connection sits idle past the old 1 s threshold, then carries a review.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const second = await post(server.port, agent, ca);
    assert.deepEqual(second, { status: 200, connection: 'close', reused: true });
    await closed;
  } finally {
    agent.destroy();
  }
});
