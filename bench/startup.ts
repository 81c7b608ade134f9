// `npm run bench:startup`: how long `mtls-guard check` takes to start and judge one small file,
// against `node -e 0` (the floor: starting Node at all), in one run, interleaved round by round
// so machine noise falls on every command alike. Optionally also an older checkout's build
// (`--before DIR`, e.g. a git worktree at an earlier commit with `npm ci` run in it), to show a
// change's effect in the same run. Prints a Markdown table and writes bench/startup-results.json.
//
//   npm run bench:startup                           # 15 rounds
//   npm run bench:startup -- --before /tmp/before   # compare with another build
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = join(import.meta.dirname, '..');
const { values: flags } = parseArgs({ options: { rounds: { type: 'string', default: '15' }, before: { type: 'string' } } });
const ROUNDS = Number(flags.rounds);

const dir = mkdtempSync(join(tmpdir(), 'mtls-guard-startup-'));
const manifest = join(dir, 'small.yaml');
writeFileSync(manifest, 'apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: shop}\nspec: {mtls: {mode: STRICT}}\n');

interface Command {
  label: string;
  args: string[];
}
const commands: Command[] = [
  { label: 'node -e 0 (floor)', args: ['-e', '0'] },
  { label: 'mtls-guard check, this build', args: [join(ROOT, 'bin', 'mtls-guard.js'), 'check', '-f', manifest] },
];
if (flags.before) commands.push({ label: `mtls-guard check, ${flags.before}`, args: [join(flags.before, 'bin', 'mtls-guard.js'), 'check', '-f', manifest] });

interface Sample {
  ms: number;
  rssKiB: number;
}
const samples = new Map<string, Sample[]>(commands.map((c) => [c.label, []]));

function runOnce(c: Command): Sample {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ['--import', join(ROOT, 'bench', 'exit-rss.mjs'), ...c.args], {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
  });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${c.label} exited ${r.status}: ${r.stderr}`);
  const rssKiB = Number(String(r.output[3] ?? '').trim());
  return { ms, rssKiB };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

try {
  for (const c of commands) runOnce(c); // warm the file cache
  for (let round = 0; round < ROUNDS; round++) for (const c of commands) samples.get(c.label)?.push(runOnce(c));
  const floor = median((samples.get(commands[0]?.label ?? '') ?? []).map((s) => s.ms));
  const rows = commands.map((c) => {
    const s = samples.get(c.label) ?? [];
    const ms = median(s.map((x) => x.ms));
    return { label: c.label, medianMs: Math.round(ms), overFloorMs: Math.round(ms - floor), ratioToFloor: Number((ms / floor).toFixed(2)), medianRssMiB: Number((median(s.map((x) => x.rssKiB)) / 1024).toFixed(1)) };
  });
  const lines = ['| command | median wall | over the floor | × floor | median peak RSS |', '|---|---|---|---|---|'];
  for (const r of rows) lines.push(`| ${r.label} | ${r.medianMs} ms | ${r.overFloorMs} ms | ${r.ratioToFloor} | ${r.medianRssMiB} MiB |`);
  process.stdout.write(`${lines.join('\n')}\n(${ROUNDS} rounds, interleaved; ${new Date().toISOString()})\n`);
  writeFileSync(join(ROOT, 'bench', 'startup-results.json'), `${JSON.stringify({ rounds: ROUNDS, date: new Date().toISOString(), rows }, null, 2)}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
