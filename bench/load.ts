// The load generator, run as its own process so it never shares an event loop with the server
// it measures. HTTPS keep-alive, bounded by duration, every response time recorded at full
// (sub-millisecond) resolution: autocannon's own histogram keeps whole milliseconds, too
// coarse for a 1-5 ms budget.
// - Saturation (no rate): autocannon, N connections each sending its next request as soon as
//   the previous answer arrives (closed loop).
// - Fixed rate: by default a paced open-loop sender (one request every 1/rate s, spread evenly,
//   over a keep-alive pool). autocannon's overallRate is also available (pacing: 'autocannon')
//   but it lets every connection send its whole per-second quota back to back at the start of
//   each second and then idle, so its "1000 req/s" is really a 10-deep burst every second,
//   which measures queueing in the burst, not the latency the API server sees at that rate.
//
//   node --import tsx bench/load.ts '<LoadSpec as JSON>'   -> one LoadResult as JSON on stdout
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import autocannon from 'autocannon';

export interface LoadSpec {
  url: string;
  /** File holding the request body (POSTed as application/json). */
  bodyFile: string;
  connections: number;
  durationSeconds: number;
  /** Requests per second over all connections; absent = as fast as the server answers. */
  rate?: number;
  /** Per-request timeout in seconds (autocannon default 10). */
  timeoutSeconds?: number;
  /** How a fixed rate is produced; default 'paced'. */
  pacing?: 'paced' | 'autocannon';
  /** Paced mode: trust this CA instead of skipping verification. */
  caFile?: string;
}

export interface LoadResult {
  requests: number;
  durationSeconds: number;
  rps: number;
  latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
  statusCodes: Record<string, number>;
  /** Connection errors, timeouts and non-2xx answers, as autocannon counts them. */
  errors: number;
  timeouts: number;
  non2xx: number;
  resets: number;
}

class Samples {
  private data = new Float64Array(1 << 16);
  private n = 0;
  add(v: number): void {
    if (this.n === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.n++] = v;
  }
  summary(): LoadResult['latencyMs'] {
    const sorted = this.data.slice(0, this.n).sort();
    const at = (q: number): number => (sorted.length ? (sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0) : 0);
    let total = 0;
    for (const v of sorted) total += v;
    const round = (v: number): number => Math.round(v * 1000) / 1000;
    return { p50: round(at(0.5)), p90: round(at(0.9)), p99: round(at(0.99)), p999: round(at(0.999)), max: round(sorted.at(-1) ?? 0), mean: round(sorted.length ? total / sorted.length : 0) };
  }
}

/** Open loop: request k is sent at start + k/rate whatever happened to earlier ones. */
async function runPaced(spec: LoadSpec & { rate: number }): Promise<LoadResult> {
  const body = readFileSync(spec.bodyFile);
  const url = new URL(spec.url);
  const agent = new Agent({ keepAlive: true, maxSockets: spec.connections, ...(spec.caFile ? { ca: readFileSync(spec.caFile) } : { rejectUnauthorized: false }) });
  const samples = new Samples();
  const statusCodes: Record<string, number> = {};
  let errors = 0;
  let timeouts = 0;
  let inFlight = 0;
  const total = Math.round(spec.rate * spec.durationSeconds);
  const timeoutMs = (spec.timeoutSeconds ?? 10) * 1000;
  const start = performance.now();
  let sent = 0;
  let settle: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (settle = resolve));
  const finishOne = (): void => {
    inFlight--;
    if (sent === total && inFlight === 0) settle();
  };
  const fire = (): void => {
    const t0 = performance.now();
    inFlight++;
    const req = request(
      { hostname: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length } },
      (res) => {
        res.on('data', () => undefined);
        res.on('end', () => {
          samples.add(performance.now() - t0);
          const code = String(res.statusCode ?? 0);
          statusCodes[code] = (statusCodes[code] ?? 0) + 1;
          finishOne();
        });
        res.on('error', () => {
          errors++;
          finishOne();
        });
      },
    );
    req.setTimeout(timeoutMs, () => {
      timeouts++;
      req.destroy(new Error('timeout'));
    });
    req.on('error', () => {
      errors++;
      finishOne();
    });
    req.end(body);
  };
  const tick = (): void => {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * spec.rate) + 1);
    while (sent < due) {
      sent++;
      fire();
    }
    if (sent < total) setTimeout(tick, Math.max(0, ((sent / spec.rate) * 1000 - (performance.now() - start)) | 0));
  };
  tick();
  await done;
  const elapsed = (performance.now() - start) / 1000;
  agent.destroy();
  const requests = Object.values(statusCodes).reduce((a, b) => a + b, 0);
  const non2xx = Object.entries(statusCodes).reduce((n, [code, count]) => (code.startsWith('2') ? n : n + count), 0);
  return {
    requests,
    durationSeconds: Math.round(elapsed * 100) / 100,
    rps: Math.round((requests / elapsed) * 10) / 10,
    latencyMs: samples.summary(),
    statusCodes,
    errors: errors + timeouts,
    timeouts,
    non2xx,
    resets: 0,
  };
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  if (spec.rate !== undefined && spec.pacing !== 'autocannon') return runPaced({ ...spec, rate: spec.rate });
  const body = readFileSync(spec.bodyFile);
  const samples = new Samples();
  const statusCodes: Record<string, number> = {};
  const instance = autocannon({
    url: spec.url,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    connections: spec.connections,
    duration: spec.durationSeconds,
    timeout: spec.timeoutSeconds ?? 10,
    ...(spec.rate !== undefined && { overallRate: spec.rate }),
    // Without a callback autocannon returns its tracker (an EventEmitter) made thenable.
  }) as unknown as autocannon.Instance & PromiseLike<autocannon.Result>;
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    samples.add(responseTime);
    statusCodes[statusCode] = (statusCodes[statusCode] ?? 0) + 1;
  });
  const result = await instance;
  const requests = Object.values(statusCodes).reduce((a, b) => a + b, 0);
  return {
    requests,
    durationSeconds: result.duration,
    rps: Math.round((requests / result.duration) * 10) / 10,
    latencyMs: samples.summary(),
    statusCodes,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    resets: result.resets,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec;
  runLoad(spec).then(
    (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
    (err: unknown) => {
      process.stderr.write(`load: ${String(err)}\n`);
      process.exit(1);
    },
  );
}
