// SIGTERM with API-server-like clients: keep-alive connections reused back to back. The
// kube-apiserver (Go's http.Transport) never retries a POST that failed on a reused connection,
// so a connection reset during the drain is a failed admission. A client here behaves the same:
// it moves to a fresh connection only after the server said `Connection: close` on the last
// response (that is a graceful goodbye), and it counts every other error as a failure. A fresh
// connection that is refused is where a real client would reach another replica: that client
// is done.
import assert from 'node:assert/strict';
import { Agent, request } from 'node:https';
import { test } from 'node:test';
import { peerAuthenticationDisable } from '../../bench/payloads.js';
import { startGuardIn, workspace } from './helpers.js';

const CLIENTS = 50;
/** SIGTERM once this many requests have been answered: the connections are all warm by then. */
const WARM_UP = CLIENTS * 20;
/** A bound on every client, so a server that never stops answering cannot hang the test. */
const MAX_PER_CLIENT = 2000;

type Attempt =
  | { kind: 'ok'; close: boolean }
  | { kind: 'status'; status: number }
  | { kind: 'refused' }
  | { kind: 'error'; code: string; reused: boolean };

function postOnce(agent: Agent, port: number, body: string): Promise<Attempt> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/validate', method: 'POST', agent, rejectUnauthorized: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode !== 200) resolve({ kind: 'status', status: res.statusCode ?? 0 });
          else resolve({ kind: 'ok', close: /close/i.test(String(res.headers.connection ?? '')) });
        });
        res.on('error', (err: NodeJS.ErrnoException) => resolve({ kind: 'error', code: err.code ?? err.message, reused: req.reusedSocket }));
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED' && !req.reusedSocket) resolve({ kind: 'refused' });
      else resolve({ kind: 'error', code: err.code ?? err.message, reused: req.reusedSocket });
    });
    req.end(body);
  });
}

interface DrainTally {
  ok: number;
  okWithClose: number;
  resets: number;
  failures: string[];
  refusedAfterClose: number;
}

/** Runs the clients; `onAnswered` sees the running count of 200s (to send SIGTERM). */
async function keepAliveClients(port: number, onAnswered: (ok: number) => void): Promise<DrainTally> {
  const body = JSON.stringify(peerAuthenticationDisable());
  const tally: DrainTally = { ok: 0, okWithClose: 0, resets: 0, failures: [], refusedAfterClose: 0 };
  const client = async (): Promise<void> => {
    // One agent per client, several sockets across clients: like the API server's pool.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    let toldToLeave = false;
    try {
      for (let i = 0; i < MAX_PER_CLIENT; i++) {
        const a = await postOnce(agent, port, body);
        if (a.kind === 'ok') {
          tally.ok++;
          if (a.close) {
            tally.okWithClose++;
            toldToLeave = true;
          }
          onAnswered(tally.ok);
          continue;
        }
        if (a.kind === 'refused' && toldToLeave) {
          tally.refusedAfterClose++;
          return;
        }
        if (a.kind === 'error' && /ECONNRESET|hang up/i.test(a.code)) tally.resets++;
        tally.failures.push(a.kind === 'status' ? `HTTP ${a.status}` : a.kind === 'error' ? `${a.code}${a.reused ? ' (reused connection)' : ''}` : 'refused without Connection: close');
        return;
      }
    } finally {
      agent.destroy();
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, client));
  return tally;
}

test('SIGTERM with 50 keep-alive clients posting back to back: no reset, no failed request', { timeout: 120_000 }, async () => {
  const ws = await workspace();
  const guard = await startGuardIn(ws, ['--shutdown-grace-seconds', '20']);
  try {
    let signalled = false;
    const tally = await keepAliveClients(guard.port, (ok) => {
      if (!signalled && ok >= WARM_UP) {
        signalled = true;
        guard.child.kill('SIGTERM');
      }
    });
    const exitCode = await guard.exited;
    process.stderr.write(`drain with ${CLIENTS} keep-alive clients: ${JSON.stringify({ ...tally, failures: tally.failures.length, firstFailures: tally.failures.slice(0, 5) })}\n`);
    assert.ok(signalled, 'SIGTERM was sent under load');
    assert.equal(exitCode, 0);
    assert.equal(tally.resets, 0, `connections reset; first failures: ${tally.failures.slice(0, 5).join(', ')}`);
    assert.deepEqual(tally.failures, [], 'no request failed');
    assert.equal(tally.refusedAfterClose, CLIENTS, 'every client was told Connection: close, then found the listener gone');
  } finally {
    if (guard.child.exitCode === null) guard.child.kill('SIGKILL');
    ws.cleanup();
  }
});
