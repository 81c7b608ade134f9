// `mtls-guard check` on large multi-document input: throughput and peak memory for a ~5 MB and a
// ~50 MB file of manifests (a third each Deployment, PeerAuthentication, DestinationRule, the
// fixtures of test/fixtures/cli with a distinct name per copy), generated in a temporary folder.
// Runs the built CLI (`npm run build` first) once per size and output format (text, then
// `-o json`), output to /dev/null, and reports wall time, CPU time and peak RSS (getrusage maxrss
// of the child), then the largest size again under a 64 MiB V8 heap to show memory does not grow
// with the input. Bounded: five runs, a few minutes at most.
//
//   node --import tsx bench/check-throughput.ts [--sizes 5,50]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'cli');

function generate(file: string, megabytes: number): number {
  const templates = [
    readFileSync(join(FIXTURES, 'deployment.yaml'), 'utf8'),
    readFileSync(join(FIXTURES, 'pa-disable.yaml'), 'utf8'),
    readFileSync(join(FIXTURES, 'dr-insecure-yes.yaml'), 'utf8'),
  ];
  const parts: string[] = [];
  let size = 0;
  for (let i = 0; size < megabytes * 1024 * 1024; i++) {
    const doc = (templates[i % templates.length] as string).replace(/^( {2}name: )/m, `$1n${i}-`);
    parts.push(doc);
    size += doc.length + 4;
  }
  writeFileSync(file, parts.join('---\n'));
  return parts.length;
}

interface Measured {
  seconds: number;
  cpuSeconds: number;
  maxRssMiB: number;
  status: number | null;
}

/** Runs the CLI in a child that reports its own getrusage at exit (maxRSS covers the whole run). */
function measure(file: string, extraArgs: string[], nodeArgs: string[]): Promise<Measured> {
  const script = `
    process.on('exit', () => {
      const u = process.resourceUsage();
      process.stderr.write('\\nrusage ' + JSON.stringify({ maxRSS: u.maxRSS, cpu: (u.userCPUTime + u.systemCPUTime) / 1e6 }) + '\\n');
    });
    const { main } = await import(${JSON.stringify(join(ROOT, 'dist', 'cli.js'))});
    await main(['check', '-f', ${JSON.stringify(file)}, ...${JSON.stringify(extraArgs)}]);`;
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, '--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const m = /rusage (\{.*\})/.exec(stderr);
      if (!m) return reject(new Error(`no rusage from the child (exit ${status}):\n${stderr.slice(0, 2000)}`));
      const u = JSON.parse(m[1] as string) as { maxRSS: number; cpu: number };
      resolve({ seconds, cpuSeconds: u.cpu, maxRssMiB: u.maxRSS / 1024, status });
    });
  });
}

const sizesArg = process.argv.indexOf('--sizes');
const sizes = (sizesArg > 0 ? (process.argv[sizesArg + 1] ?? '5,50') : '5,50').split(',').map(Number);
const dir = mkdtempSync(join(tmpdir(), 'mtls-guard-check-bench-'));
try {
  console.log(`node ${process.version}, ${availableParallelism()} CPUs, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  const calibration = process.cpuUsage();
  let x = 0;
  for (let i = 0; i < 3e8; i++) x += i;
  const spent = process.cpuUsage(calibration);
  console.log(`calibration: a 3e8-step loop took ${((spent.user + spent.system) / 1e6).toFixed(2)} s of CPU (${x > 0 ? 'about 0.3 s on an idle x86 core' : ''})`);
  console.log('| input | documents | output | node flags | wall | CPU (user+sys) | MB/s (wall) | MB/s (CPU) | peak RSS | exit |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  const runs: [number, string[], string[]][] = [
    ...sizes.flatMap((mb): [number, string[], string[]][] => [[mb, [], []], [mb, ['-o', 'json'], []]]),
    [Math.max(...sizes), [], ['--max-old-space-size=64']],
  ];
  const files = new Map<number, [string, number, number]>();
  for (const [mb, args, nodeArgs] of runs) {
    if (!files.has(mb)) {
      const file = join(dir, `${mb}mb.yaml`);
      const docs = generate(file, mb);
      files.set(mb, [file, docs, readFileSync(file).length / 1e6]);
    }
    const [file, docs, bytes] = files.get(mb) as [string, number, number];
    const r = await measure(file, args, nodeArgs);
    console.log(
      `| ${bytes.toFixed(1)} MB | ${docs.toLocaleString('en')} | ${args.length ? 'json' : 'text'} | ${nodeArgs.join(' ') || '—'} | ${r.seconds.toFixed(1)} s | ${r.cpuSeconds.toFixed(1)} s | ${(bytes / r.seconds).toFixed(1)} | ${(bytes / r.cpuSeconds).toFixed(1)} | ${r.maxRssMiB.toFixed(0)} MiB | ${r.status} |`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
