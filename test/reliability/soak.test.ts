// The 10-minute soak (RELIABILITY_FULL=1, npm run soak): a moderate steady rate of mixed
// reviews; RSS growth from the end of the first minute to the end under 10 %, no error.
// SOAK_SECONDS shortens it for a trial run.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deploymentCreate, peerAuthenticationDisable } from '../../bench/payloads.js';
import { rssBytes, sleep, stop } from '../../bench/processes.js';
import { FULL, countOutcomes, pacedLoad, startGuardIn, workspace } from './helpers.js';

const SECONDS = Number(process.env['SOAK_SECONDS'] ?? 600);
const RATE = 100; // per webhook: 200 req/s in all, a busy cluster's admission traffic

test(`soak: ${SECONDS} s at ${RATE * 2} req/s, RSS growth < 10 %`, { skip: !FULL && 'full form only (npm run soak)', timeout: (SECONDS + 120) * 1000 }, async () => {
  const ws = await workspace();
  const guard = await startGuardIn(ws);
  try {
    const samples: { t: number; rss: number }[] = [];
    const started = performance.now();
    const load = Promise.all([
      pacedLoad(guard.port, '/validate', JSON.stringify(peerAuthenticationDisable()), RATE, SECONDS),
      pacedLoad(guard.port, '/mutate', JSON.stringify(deploymentCreate()), RATE, SECONDS),
    ]);
    let finished = false;
    void load.then(() => (finished = true));
    while (!finished) {
      await sleep(5000);
      samples.push({ t: (performance.now() - started) / 1000, rss: rssBytes(guard.pid) ?? 0 });
    }
    const records = (await load).flat();
    const counts = countOutcomes(records);
    const warm = samples.find((s) => s.t >= Math.min(60, SECONDS / 5)) ?? samples[0];
    const end = samples.at(-1);
    assert.ok(warm && end, 'RSS was sampled');
    const growth = (end.rss - warm.rss) / warm.rss;
    const mib = (b: number): string => (b / 2 ** 20).toFixed(1);
    process.stderr.write(`soak: ${records.length} requests in ${SECONDS} s, outcomes ${JSON.stringify(counts)}, RSS ${mib(warm.rss)} MiB at ${warm.t.toFixed(0)} s -> ${mib(end.rss)} MiB at end (${(growth * 100).toFixed(1)} %), max ${mib(Math.max(...samples.map((s) => s.rss)))} MiB\n`);
    assert.equal(counts.ok, records.length, JSON.stringify(counts));
    assert.ok(growth < 0.1, `RSS grew ${(growth * 100).toFixed(1)} %`);
  } finally {
    await stop(guard);
    ws.cleanup();
  }
});
