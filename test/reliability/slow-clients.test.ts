// Slow clients (headers or body trickled a byte at a time) are cut off by the server's header
// and request timeouts, and while they hang on, other clients are served normally.
import assert from 'node:assert/strict';
import { connect, type TLSSocket } from 'node:tls';
import { after, before, test } from 'node:test';
import { peerAuthenticationDisable } from '../../bench/payloads.js';
import { post, stop } from '../../bench/processes.js';
import { startGuardIn, workspace, type Workspace } from './helpers.js';

// src/server/tls.ts: HEADERS_TIMEOUT_MS 10 s, REQUEST_TIMEOUT_MS 30 s. Node enforces both from a
// periodic sweep (http.Server connectionsCheckingInterval, 30 s unless set), so a cut can come
// up to one sweep late: the bounds below are timeout + sweep + slack.
const HEADERS_TIMEOUT_S = 10;
const REQUEST_TIMEOUT_S = 30;
// The server sweeps connections every second (connectionsCheckingInterval in src/server/tls.ts).
const SWEEP_S = 1;
const SLACK_S = 3;

let ws: Workspace;
let guard: Awaited<ReturnType<typeof startGuardIn>>;
before(async () => {
  ws = await workspace();
  guard = await startGuardIn(ws);
});
after(async () => {
  await stop(guard);
  ws.cleanup();
});

interface Trickle {
  socket: TLSSocket;
  closedAfterS: Promise<number>;
  stop(): void;
}

/** Opens a TLS connection, writes `prefix` at once, then one byte of `rest` every `everyMs`. */
function trickle(port: number, prefix: string, rest: string, everyMs: number): Promise<Trickle> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const opened = performance.now();
      socket.write(prefix);
      let i = 0;
      const timer = setInterval(() => {
        if (i < rest.length && socket.writable) socket.write(rest[i++] ?? '');
      }, everyMs);
      const closedAfterS = new Promise<number>((done) => socket.once('close', () => done((performance.now() - opened) / 1000)));
      socket.on('error', () => undefined);
      socket.resume();
      void closedAfterS.then(() => clearInterval(timer));
      resolve({ socket, closedAfterS, stop: () => (clearInterval(timer), socket.destroy()) });
    });
    socket.once('error', reject);
  });
}

test('slow clients are cut off by the timeouts and do not block other clients', { timeout: 120_000 }, async () => {
  const body = JSON.stringify(peerAuthenticationDisable());
  const headers = `POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
  const slowHeaders = await Promise.all(Array.from({ length: 20 }, () => trickle(guard.port, 'POST /validate HTTP/1.1\r\nHost: localhost\r\n', 'X-Slow: ' + 'a'.repeat(10_000), 500)));
  const slowBodies = await Promise.all(Array.from({ length: 20 }, () => trickle(guard.port, headers, body, 500)));
  try {
    // Others are served while 40 connections trickle.
    const started = performance.now();
    for (let i = 0; i < 50; i++) {
      const res = await post(guard.port, '/validate', body);
      assert.equal(res.status, 200);
    }
    const perRequestMs = (performance.now() - started) / 50;
    // Served while they hang on: every trickling connection is still open when the 50 normal
    // requests are done, so none of them was answered only after the slow ones were cut.
    const stillOpen = [...slowHeaders, ...slowBodies].filter((t) => !t.socket.destroyed).length;
    assert.equal(stillOpen, 40, `only ${stillOpen} of 40 slow connections were still open when the normal requests were served`);

    const headerCuts = await Promise.all(slowHeaders.map((t) => t.closedAfterS));
    const bodyCuts = await Promise.all(slowBodies.map((t) => t.closedAfterS));
    const maxHeaderCut = Math.max(...headerCuts);
    const maxBodyCut = Math.max(...bodyCuts);
    process.stderr.write(`slow clients: trickled headers cut after ${Math.min(...headerCuts).toFixed(1)}-${maxHeaderCut.toFixed(1)} s, trickled bodies after ${Math.min(...bodyCuts).toFixed(1)}-${maxBodyCut.toFixed(1)} s, ${perRequestMs.toFixed(1)} ms per normal request meanwhile\n`);
    assert.ok(maxHeaderCut <= HEADERS_TIMEOUT_S + SWEEP_S + SLACK_S, `trickled headers were cut after ${maxHeaderCut.toFixed(1)} s`);
    assert.ok(maxBodyCut <= REQUEST_TIMEOUT_S + SWEEP_S + SLACK_S, `trickled body was cut after ${maxBodyCut.toFixed(1)} s`);
    assert.ok(Math.min(...headerCuts) >= HEADERS_TIMEOUT_S - 1, 'not cut before the header timeout');
  } finally {
    for (const t of [...slowHeaders, ...slowBodies]) t.stop();
  }
  assert.equal(guard.child.exitCode, null);
});
