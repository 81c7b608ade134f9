// Shared pieces of the reliability tests: a running mtls-guard (the built CLI, a separate
// process so a crash is seen as an exit), a paced client that classifies every request's
// outcome, and the short/full switch (RELIABILITY_FULL=1 is `npm run soak`).
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCerts, startGuard } from '../../bench/processes.js';

export const FULL = process.env['RELIABILITY_FULL'] === '1';

export interface Workspace {
  dir: string;
  certDir: string;
  policyFile: string;
  logFile: string;
  cleanup(): void;
}

export async function workspace(policy = 'mode: enforce\n'): Promise<Workspace> {
  const dir = mkdtempSync(join(tmpdir(), 'mtls-guard-reliability-'));
  const certDir = join(dir, 'certs');
  await makeCerts(certDir);
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(policyFile, policy);
  return { dir, certDir, policyFile, logFile: join(dir, 'mtls-guard.log'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function startGuardIn(ws: Workspace, extraArgs: string[] = [], nodeFlags: string[] = []): ReturnType<typeof startGuard> {
  // Short watch intervals are not flags; the defaults (polling) are what production runs.
  return startGuard({ certDir: ws.certDir, logFile: ws.logFile, config: ws.policyFile, extraArgs, nodeFlags });
}

/** Replaces a file the way a kubelet updates a mounted Secret/ConfigMap: write aside, rename. */
export function replaceFile(file: string, content: string | Buffer): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, content);
  renameSync(tmp, file);
}

export type Outcome = 'ok' | 'non2xx' | 'refused' | 'reset-reused' | 'reset' | 'timeout' | 'other';

export interface PacedRecord {
  sentAt: number;
  doneAt: number;
  outcome: Outcome;
  status?: number;
  error?: string;
}

/**
 * Sends `rate` requests per second for `seconds`, open loop, over a keep-alive pool, and
 * records each outcome. 'reset-reused' is a request written on a pooled connection that the
 * server closed at the same moment (the keep-alive race every HTTP/1.1 client has);
 * 'reset' is a connection cut while a request was in flight on a fresh connection.
 */
export async function pacedLoad(port: number, path: string, body: string, rate: number, seconds: number, connections = 8): Promise<PacedRecord[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections, rejectUnauthorized: false });
  const records: PacedRecord[] = [];
  const total = Math.round(rate * seconds);
  const start = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i / rate) * 1000;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(
      new Promise<void>((resolve) => {
        const sentAt = performance.now();
        const req = request(
          { hostname: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }, timeout: 15_000 },
          (res) => {
            res.resume();
            res.on('end', () => {
              const status = res.statusCode ?? 0;
              records.push({ sentAt, doneAt: performance.now(), outcome: status === 200 ? 'ok' : 'non2xx', status });
              resolve();
            });
            res.on('error', (err) => {
              records.push({ sentAt, doneAt: performance.now(), outcome: 'reset', error: err.message });
              resolve();
            });
          },
        );
        req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
        req.on('error', (err: NodeJS.ErrnoException) => {
          const outcome: Outcome = err.code === 'ECONNREFUSED' ? 'refused' : err.code === 'TIMEOUT' ? 'timeout' : err.code === 'ECONNRESET' || /hang up/.test(err.message) ? (req.reusedSocket ? 'reset-reused' : 'reset') : 'other';
          records.push({ sentAt, doneAt: performance.now(), outcome, error: `${err.code ?? ''} ${err.message}` });
          resolve();
        });
        req.end(body);
      }),
    );
  }
  await Promise.all(pending);
  agent.destroy();
  return records;
}

export function countOutcomes(records: PacedRecord[]): Record<Outcome, number> {
  const counts: Record<Outcome, number> = { ok: 0, non2xx: 0, refused: 0, 'reset-reused': 0, reset: 0, timeout: 0, other: 0 };
  for (const r of records) counts[r.outcome]++;
  return counts;
}
