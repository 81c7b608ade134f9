// Micro-benchmarks of the per-request work mtls-guard adds around the engine, each old way against
// new way in one process, CPU time per call (process.cpuUsage, so other work on the machine
// hardly moves it). Run: node --import tsx bench/micro.ts  (about 20 s; prints a table).
//   - decision log line: pino's default synchronous destination + stdTimeFunctions.isoTime (as
//     before) vs src/server/logger.ts (asynchronous destination, timestamp once per ms), both to
//     a file as in a pod, the async one measured until everything is written;
//   - decision metrics: prom-client inc()/observe() per request with fresh labels objects (as
//     before) vs src/server/record-metrics.ts (tallies added to prom-client at collect time).
import { closeSync, mkdtempSync, openSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import type { Decision } from '../src/engine/types.js';
import { decisionLabel, secondsSince, type AdmissionContext, type AdmissionHandler } from '../src/server/handler.js';
import { createLogger } from '../src/server/logger.js';
import { createMetrics, type Metrics } from '../src/server/metrics.js';
import { withMetrics } from '../src/server/with-metrics.js';

const N = Number(process.env['MICRO_N'] ?? 50_000);
const ROUNDS = 5;
const dir = mkdtempSync(join(tmpdir(), 'mtls-guard-micro-'));

const line = {
  uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
  webhook: 'validate',
  group: 'security.istio.io',
  kind: 'PeerAuthentication',
  namespace: 'payments',
  name: 'disable-mtls',
  operation: 'CREATE',
  user: 'alice@example.com',
  mode: 'enforce',
  decision: 'denied',
  rules: ['peerauthentication-disable'],
  durationMs: 0.123,
  dryRun: false,
};

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** CPU µs per line (whole process, writer threads included) and event-loop µs per line (the logger.info calls themselves). */
async function logCost(make: (fd: number) => Logger, name: string): Promise<{ cpu: number; loop: number }> {
  const file = join(dir, `${name}.log`);
  const fd = openSync(file, 'w');
  const logger = make(fd);
  const c0 = cpuMicros();
  let loop = 0;
  // 10 lines per event-loop turn, as 10 connections' requests arrive under load.
  for (let i = 0; i < N; i += 10) {
    const t0 = performance.now();
    for (let j = 0; j < 10; j++) logger.info(line, 'admission decision');
    loop += performance.now() - t0;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  // The asynchronous destination is done when the file stops growing at N full lines.
  let size = -1;
  while (statSync(file).size < N * 400 || statSync(file).size !== size) {
    size = statSync(file).size;
    await new Promise<void>((resolve) => setTimeout(resolve, 2));
  }
  const perCall = { cpu: (cpuMicros() - c0) / N, loop: (loop * 1000) / N };
  closeSync(fd);
  return perCall;
}

const oldLogger = (fd: number): Logger => pino({ level: 'info', timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest: fd, sync: true }));
const newLogger = (fd: number): Logger => createLogger('info', fd);

/** record-metrics.ts before the tallies, for comparison. */
function withMetricsBefore(inner: AdmissionHandler, metrics: Metrics): AdmissionHandler {
  return (ctx) => {
    const { request } = ctx.review;
    const labels = { webhook: ctx.webhook, kind: request.kind.kind, operation: request.operation };
    try {
      const decision = inner(ctx);
      metrics.admissionRequests.inc({ ...labels, decision: decisionLabel(decision), mode: decision.mode });
      for (const v of decision.violations) metrics.violations.inc({ rule: v.rule, action: v.action, mode: decision.mode });
      if (decision.mutations.length) metrics.mutations.inc({ mode: decision.mode });
      return decision;
    } catch (err) {
      metrics.admissionRequests.inc({ ...labels, decision: 'error', mode: 'unknown' });
      throw err;
    } finally {
      metrics.admissionDuration.observe({ webhook: ctx.webhook }, secondsSince(ctx.startedAt));
    }
  };
}

const deny = { allowed: false, mode: 'enforce', violations: [{ rule: 'peerauthentication-disable', action: 'deny' }], failures: [], warnings: [], notices: [], patch: [], mutations: [], auditAnnotations: {} } as unknown as Decision;
const ctx = { webhook: 'validate', startedAt: process.hrtime.bigint(), review: { apiVersion: 'admission.k8s.io/v1', uid: 'u', dryRun: false, request: { kind: { group: 'security.istio.io', version: 'v1', kind: 'PeerAuthentication' }, operation: 'CREATE' } } } as unknown as AdmissionContext;

/** CPU µs per decision counted, including one scrape's worth of collecting at the end. */
async function metricsCost(wrap: typeof withMetrics): Promise<number> {
  const metrics = createMetrics();
  const handler = wrap(() => deny, metrics);
  const c0 = cpuMicros();
  for (let i = 0; i < N * 4; i++) handler(ctx);
  const text = await metrics.registry.metrics();
  const perCall = (cpuMicros() - c0) / (N * 4);
  if (!text.includes(`mtls_guard_admission_requests_total{webhook="validate",kind="PeerAuthentication",operation="CREATE",decision="denied",mode="enforce"} ${N * 4}`)) throw new Error('metrics miscounted');
  return perCall;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

async function main(): Promise<void> {
  const rows: [string, (fd: number) => Logger][] = [
    ['log line, before (sync write, isoTime)', oldLogger],
    ['log line, after (async write, cached time)', newLogger],
  ];
  const results = new Map<string, { cpu: number; loop: number }[]>(rows.map(([name]) => [name, []]));
  for (let r = 0; r < ROUNDS; r++) for (const [name, make] of rows) results.get(name)?.push(await logCost(make, `${name.slice(10, 16)}-${r}`));
  const metricRows: [string, typeof withMetrics][] = [
    ['decision metrics, before (prom-client inc/observe per request)', withMetricsBefore],
    ['decision metrics, after (tallies, drained at collect)', withMetrics],
  ];
  for (const [name] of metricRows) results.set(name, []);
  for (let r = 0; r < ROUNDS; r++) for (const [name, wrap] of metricRows) { const cpu = await metricsCost(wrap); results.get(name)?.push({ cpu, loop: cpu }); }
  process.stdout.write(`| micro-benchmark (${N.toLocaleString('en')} calls × ${ROUNDS} rounds, median) | event-loop µs per call | CPU µs per call (all threads) |\n|---|--:|--:|\n`);
  for (const [name, xs] of results) {
    process.stdout.write(`| ${name} | ${median(xs.map((x) => x.loop)).toFixed(2)} | ${median(xs.map((x) => x.cpu)).toFixed(2)} |\n`);
  }
  rmSync(dir, { recursive: true, force: true });
}

void main();
