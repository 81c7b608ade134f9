// Under steady load: the serving certificate rotated on disk, the policy reloaded (valid, then
// invalid), then SIGTERM. Every request is accounted for from the client's side.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { MIB, deploymentUpdate, peerAuthenticationDisable } from '../../bench/payloads.js';
import { makeCerts, post, sleep } from '../../bench/processes.js';
import { FULL, countOutcomes, pacedLoad, replaceFile, startGuardIn, workspace } from './helpers.js';

const RATE = 200;

function logLines(file: string): { msg: string; level: number; serial?: string }[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg: string; level: number; serial?: string });
}

test('certificate rotation and policy reloads under load drop no request', { timeout: 90_000 }, async () => {
  const ws = await workspace();
  const guard = await startGuardIn(ws);
  try {
    const seconds = FULL ? 30 : 10;
    const body = JSON.stringify(peerAuthenticationDisable());
    const load = pacedLoad(guard.port, '/validate', body, RATE, seconds);
    await sleep(seconds * 200);
    const fresh = join(ws.dir, 'fresh');
    await makeCerts(fresh);
    // Key first, then certificate, as a Secret update lands: the watcher must cope with the pair
    // being briefly mismatched and keep the old one until both agree.
    replaceFile(join(ws.certDir, 'tls.key'), readFileSync(join(fresh, 'tls.key')));
    replaceFile(join(ws.certDir, 'tls.crt'), readFileSync(join(fresh, 'tls.crt')));
    await sleep(seconds * 200);
    replaceFile(ws.policyFile, 'mode: audit\n');
    await sleep(seconds * 200);
    replaceFile(ws.policyFile, 'mode: enforce\nrules:\n  peerauthentication-disable:\n    action: maybe\n');
    const records = await load;
    const counts = countOutcomes(records);
    // The last change is made near the end of the load, and a reload waits for the file to
    // settle (300 ms) after the watch sees it: wait for its verdict rather than race it.
    const refusedLine = (l: { msg: string; level: number }): boolean => l.level >= 50 && /polic/i.test(l.msg);
    for (let i = 0; i < 100 && !logLines(ws.logFile).some(refusedLine); i++) await sleep(100);
    const lines = logLines(ws.logFile);
    const reloads = {
      certificate: lines.filter((l) => l.msg === 'serving certificate reloaded').length,
      policyOk: lines.filter((l) => l.msg === 'policy reloaded').length,
      policyRefused: lines.filter(refusedLine).length,
    };
    process.stderr.write(`rotation/reload under load: ${records.length} requests at ${RATE}/s, outcomes ${JSON.stringify(counts)}, reloads ${JSON.stringify(reloads)}\n`);
    assert.equal(counts.ok, records.length, `every request answered 200: ${JSON.stringify(counts)}`);
    assert.ok(reloads.certificate >= 1, 'the rotated certificate was loaded');
    assert.ok(reloads.policyOk >= 1, 'the valid policy was loaded');
    assert.ok(reloads.policyRefused >= 1, 'the invalid policy was refused');
    // The new certificate is the one served now, and the server still answers.
    assert.equal((await post(guard.port, '/readyz', undefined, 'GET')).status, 200);
  } finally {
    guard.child.kill('SIGKILL');
    await guard.exited;
    ws.cleanup();
  }
});

test('SIGTERM under load: in-flight requests complete, then new connections are refused', { timeout: 90_000 }, async () => {
  const ws = await workspace();
  const guard = await startGuardIn(ws, ['--shutdown-grace-seconds', '20']);
  try {
    // 1 MiB reviews at 40/s keep several requests in flight at any moment.
    const body = JSON.stringify(deploymentUpdate(MIB));
    const load = pacedLoad(guard.port, '/mutate', body, 40, 8);
    await sleep(3000);
    const killedAt = performance.now();
    guard.child.kill('SIGTERM');
    const exitCode = await guard.exited;
    const exitedAt = performance.now();
    const records = await load;
    const counts = countOutcomes(records);
    const inFlight = records.filter((r) => r.sentAt < killedAt && r.doneAt > killedAt);
    const afterExit = records.filter((r) => r.sentAt > exitedAt);
    process.stderr.write(
      `SIGTERM under load: exit ${exitCode} after ${(exitedAt - killedAt).toFixed(0)} ms, ${records.length} requests, outcomes ${JSON.stringify(counts)}, in flight at SIGTERM ${inFlight.length} (${inFlight.filter((r) => r.outcome === 'ok').length} ok), sent after exit ${afterExit.length} (${afterExit.filter((r) => r.outcome === 'refused').length} refused)\n`,
    );
    assert.equal(exitCode, 0);
    assert.ok(inFlight.length > 0, 'some requests were in flight at SIGTERM');
    assert.deepEqual(
      inFlight.filter((r) => r.outcome !== 'ok').map((r) => r.error),
      [],
      'every request in flight at SIGTERM completed with 200',
    );
    assert.ok(records.filter((r) => r.sentAt < killedAt).every((r) => r.outcome === 'ok'), 'every request sent before SIGTERM completed with 200');
    assert.ok(afterExit.length > 0 && afterExit.every((r) => r.outcome === 'refused'), 'after exit, connections are refused');
    assert.equal(counts.reset, 0, 'no request was reset mid-flight on a fresh connection');
  } finally {
    if (guard.child.exitCode === null) guard.child.kill('SIGKILL');
    ws.cleanup();
  }
});
