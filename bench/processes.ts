// Starting, sampling and stopping the processes the benchmark and the reliability tests drive:
// mtls-guard (the built CLI), the baseline server, OPA, and the load generator. Everything
// listens on 127.0.0.1 with a free port and is stopped by pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { join } from 'node:path';
import ts from 'typescript';
import type { LoadResult, LoadSpec } from './load.js';

export const ROOT = new URL('..', import.meta.url).pathname.replace(/\/$/, '');

export interface Running {
  name: string;
  pid: number;
  port: number;
  child: ChildProcess;
  exited: Promise<number | null>;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function exitOf(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs: number, child?: ChildProcess): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = probe();
    if (value !== undefined) return value;
    if (child && (child.exitCode !== null || child.signalCode !== null)) throw new Error(`${what}: process exited (${child.exitCode ?? child.signalCode}) before it was ready`);
    await sleep(50);
  }
  throw new Error(`${what}: not ready within ${timeoutMs} ms`);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Resident set size in bytes from /proc (Linux), or undefined once the process is gone. */
export function rssBytes(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Samples RSS every `everyMs` until stopped; reports the maximum and the last value. */
export function sampleRss(pid: number, everyMs = 100): { stop(): { maxBytes: number; lastBytes: number } } {
  let max = rssBytes(pid) ?? 0;
  let last = max;
  const timer = setInterval(() => {
    const v = rssBytes(pid);
    if (v === undefined) return;
    last = v;
    if (v > max) max = v;
  }, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      return { maxBytes: max, lastBytes: last };
    },
  };
}

export interface GuardOptions {
  certDir: string;
  logFile: string;
  config?: string;
  logLevel?: string;
  /** Extra node flags, e.g. ['--cpu-prof', '--cpu-prof-dir=DIR']. */
  nodeFlags?: string[];
  extraArgs?: string[];
  env?: NodeJS.ProcessEnv;
}

/** `node bin/mtls-guard.js serve` on a free port; its JSON log goes to a file, as in a pod. */
export async function startGuard(options: GuardOptions): Promise<Running & { metricsPort: number }> {
  writeFileSync(options.logFile, '');
  const fd = openSync(options.logFile, 'a');
  // Ports chosen here rather than 0, so readiness is a probe and does not depend on the log level.
  const port = await freePort();
  const metricsPort = await freePort();
  const args = [
    ...(options.nodeFlags ?? []),
    join(ROOT, 'bin/mtls-guard.js'),
    'serve',
    '--tls-cert',
    join(options.certDir, 'tls.crt'),
    '--tls-key',
    join(options.certDir, 'tls.key'),
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--metrics-port',
    String(metricsPort),
    '--log-level',
    options.logLevel ?? 'info',
    ...(options.config ? ['--config', options.config] : []),
    ...(options.extraArgs ?? []),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', fd, fd], env: options.env ?? process.env });
  closeSync(fd);
  await waitUntilServing(port, child, 15_000);
  return { name: 'mtls-guard', pid: child.pid ?? 0, port, metricsPort, child, exited: exitOf(child) };
}

async function waitUntilServing(port: number, child: ChildProcess, timeoutMs: number, readyPath = '/readyz'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await post(port, readyPath, undefined, 'GET').then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return;
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`process exited (${child.exitCode ?? child.signalCode}) before it was ready`);
    if (Date.now() > deadline) throw new Error(`not ready within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** TypeScript to an .mjs next to the other run files, so the baseline runs on bare node (no loader in its RSS). */
export function transpile(tsFile: string, outFile: string): string {
  const out = ts.transpileModule(readFileSync(tsFile, 'utf8'), { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
  writeFileSync(outFile, out.outputText);
  return outFile;
}

export async function startBaseline(script: string, certDir: string): Promise<Running> {
  const child = spawn(process.execPath, [script, '--cert', join(certDir, 'tls.crt'), '--key', join(certDir, 'tls.key')], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  const port = await waitFor('baseline', () => (/\{"port":(\d+)\}/.exec(out)?.[1] ? Number(/\{"port":(\d+)\}/.exec(out)?.[1]) : undefined), 10_000, child);
  return { name: 'baseline', pid: child.pid ?? 0, port, child, exited: exitOf(child) };
}

export async function startOpa(opa: string, policy: string, certDir: string): Promise<Running> {
  const port = await freePort();
  const child = spawn(
    opa,
    ['run', '--server', '--addr', `127.0.0.1:${port}`, '--tls-cert-file', join(certDir, 'tls.crt'), '--tls-private-key-file', join(certDir, 'tls.key'), '--log-level', 'error', '--skip-version-check', policy],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const exited = exitOf(child);
  await waitUntilServing(port, child, 20_000, '/health');
  return { name: 'opa', pid: child.pid ?? 0, port, child, exited };
}

/** One HTTPS request to 127.0.0.1 (certificate not verified: this is a probe). */
export function post(port: number, path: string, body: string | Buffer | undefined, method = 'POST', headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ hostname: '127.0.0.1', port, path, method, headers, rejectUnauthorized: false, agent: false, timeout: 30_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

export async function stop(p: Running, timeoutMs = 30_000): Promise<number | null> {
  if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  const code = await p.exited;
  clearTimeout(timer);
  return code;
}

/** Runs bench/load.ts in its own process (optionally on one CPU) and returns its result. */
export function runLoadProcess(spec: LoadSpec, cpu?: number): Promise<LoadResult> {
  const nodeArgs = ['--import', 'tsx', join(ROOT, 'bench/load.ts'), JSON.stringify(spec)];
  const [cmd, args] = cpu === undefined ? [process.execPath, nodeArgs] : ['taskset', ['-c', String(cpu), process.execPath, ...nodeArgs]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], cwd: ROOT });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`load process exited ${code}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '') as LoadResult);
      } catch (err) {
        reject(new Error(`load process printed no result: ${out}`, { cause: err }));
      }
    });
  });
}

/** Runs a command and returns its stdout (throws with stderr on failure). */
export function run(cmd: string, args: string[], cwd = ROOT): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${err.slice(-2000)}`))));
  });
}

export async function makeCerts(dir: string): Promise<void> {
  await run(process.execPath, [join(ROOT, 'bin/mtls-guard.js'), 'certs', '--service', 'bench', '--namespace', 'bench', '--out', dir, '--ip', '127.0.0.1', '--dns', 'localhost']);
}
