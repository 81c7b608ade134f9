// `npm run bench:cli`: the offline CLI against the peer CI pipelines use for the same job - the
// Kyverno CLI (`kyverno apply`, built from its Go module pinned in bench/kyverno/go.mod) with
// bench/kyverno/policies.yaml, two ClusterPolicies equivalent to Kyverno's published Istio samples
// (enforce-strict-mtls, enforce-tls-hosts-host-subnets). Both judge the same generated
// multi-document YAML files (100 and 2,000 objects: PeerAuthentications, DestinationRules,
// Deployments), one process per file as in a CI step, interleaved round by round with the order
// alternating, so other work on the machine falls on both alike. Wall time from spawn to exit
// CPU time and peak RSS (the child's getrusage, through /usr/bin/time -f '%M %U %S') are the medians
// over the rounds. The verdicts of the last round are compared object by object.
// Writes bench/cli-results.json and the `npm run bench:cli` section of BENCHMARKS.md.
//
//   npm run bench:cli                     # 100 and 2,000 objects, 9 rounds (~2 minutes)
//   npm run bench:cli -- --rounds 3       # fewer rounds; --no-build (use dist/ as it is);
//   npm run bench:cli -- --quick          # 2 rounds, prints the section, writes no files
//   npm run bench:cli -- --emit DIR       # only write the generated files (objects-N.yaml) to DIR
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, run } from './processes.js';
import { replaceSection } from './report.js';

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string' },
    sizes: { type: 'string' },
    quick: { type: 'boolean', default: false },
    'no-build': { type: 'boolean', default: false },
    emit: { type: 'string' },
  },
});
const ROUNDS = Number(flags.rounds ?? (flags.quick ? 2 : 9));
const SIZES = (flags.sizes ?? '100,2000').split(',').map(Number);
const POLICIES = join(ROOT, 'bench/kyverno/policies.yaml');
const log = (msg: string): void => void process.stderr.write(`bench:cli: ${msg}\n`);

// ---------------------------------------------------------------------------------------------
// The generated manifests: a cycle of 20 cases, each object with a unique kind/namespace/name.
// Most are compliant (as in a real repository); each non-compliant shape appears once a cycle.

interface Case {
  id: string;
  /** How the difference reads in the report, when there is one. */
  reason: string;
  kind: 'PeerAuthentication' | 'DestinationRule' | 'Deployment';
  spec: (name: string, ns: string) => string;
}

const paCase = (id: string, reason: string, spec: string): Case => ({ id, reason, kind: 'PeerAuthentication', spec: () => spec });
const drCase = (id: string, reason: string, spec: (host: string) => string): Case => ({ id, reason, kind: 'DestinationRule', spec: (name) => spec(name) });

const deployment = (exclude: boolean) => (name: string): string =>
  [
    'spec:',
    '  replicas: 2',
    `  selector: {matchLabels: {app: ${name}}}`,
    '  template:',
    '    metadata:',
    `      labels: {app: ${name}, version: v1}`,
    `      annotations: {sidecar.istio.io/inject: "true"${exclude ? ', traffic.sidecar.istio.io/excludeInboundPorts: "9102"' : ''}}`,
    '    spec:',
    '      containers:',
    `        - name: ${name}`,
    '          image: registry.example.com/shop/app:1.4.2',
    '          ports: [{containerPort: 8080}, {containerPort: 9102}]',
    '          readinessProbe: {httpGet: {path: /healthz, port: 8080}}',
  ].join('\n');

const CASES: Case[] = [
  { id: 'deployment', reason: 'Deployment', kind: 'Deployment', spec: deployment(false) },
  { id: 'deployment-2', reason: 'Deployment', kind: 'Deployment', spec: deployment(false) },
  { id: 'deployment-3', reason: 'Deployment', kind: 'Deployment', spec: deployment(false) },
  { id: 'deployment-4', reason: 'Deployment', kind: 'Deployment', spec: deployment(false) },
  { id: 'deployment-5', reason: 'Deployment', kind: 'Deployment', spec: deployment(false) },
  { id: 'deployment-exclude', reason: 'Deployment excluding an inbound port from the sidecar', kind: 'Deployment', spec: deployment(true) },
  paCase('pa-strict', 'PeerAuthentication STRICT', 'spec:\n  mtls: {mode: STRICT}'),
  paCase('pa-unset', 'PeerAuthentication without mode', 'spec:\n  selector: {matchLabels: {app: web}}'),
  paCase('pa-permissive', 'PeerAuthentication PERMISSIVE', 'spec:\n  mtls: {mode: PERMISSIVE}'),
  paCase('pa-disable', 'PeerAuthentication DISABLE', 'spec:\n  mtls: {mode: DISABLE}'),
  paCase('pa-port-disable', 'PeerAuthentication STRICT with a port-level DISABLE', "spec:\n  selector: {matchLabels: {app: metrics}}\n  mtls: {mode: STRICT}\n  portLevelMtls:\n    '9102': {mode: DISABLE}"),
  drCase('dr-istio-mutual', 'DestinationRule ISTIO_MUTUAL', (h) => `spec:\n  host: ${h}\n  trafficPolicy:\n    tls: {mode: ISTIO_MUTUAL}`),
  drCase('dr-no-tls', 'DestinationRule without tls', (h) => `spec:\n  host: ${h}\n  trafficPolicy:\n    connectionPool: {tcp: {maxConnections: 100}}`),
  drCase('dr-subsets-ok', 'DestinationRule subsets, ISTIO_MUTUAL', (h) => `spec:\n  host: ${h}\n  trafficPolicy:\n    tls: {mode: ISTIO_MUTUAL}\n  subsets:\n    - name: v1\n      labels: {version: v1}\n    - name: v2\n      labels: {version: v2}`),
  drCase('dr-tls-no-mode', 'tls without mode (Istio: DISABLE)', (h) => `spec:\n  host: ${h}\n  trafficPolicy:\n    tls: {sni: ${h}.example.com}`),
  drCase('dr-disable', 'top-level tls DISABLE', (h) => `spec:\n  host: ${h}\n  trafficPolicy:\n    tls: {mode: DISABLE}`),
  drCase('dr-subset-disable', 'subset tls DISABLE', (h) => `spec:\n  host: ${h}\n  trafficPolicy:\n    tls: {mode: ISTIO_MUTUAL}\n  subsets:\n    - name: v1\n      labels: {version: v1}\n    - name: legacy\n      labels: {version: legacy}\n      trafficPolicy:\n        tls: {mode: DISABLE}`),
  drCase('dr-port-disable', 'port-level tls DISABLE', (h) => `spec:\n  host: ${h}\n  trafficPolicy:\n    tls: {mode: ISTIO_MUTUAL}\n    portLevelSettings:\n      - port: {number: 9102}\n        tls: {mode: DISABLE}`),
  drCase('dr-insecure', 'insecureSkipVerify: true', (h) => `spec:\n  host: ${h}.example.com\n  trafficPolicy:\n    tls: {mode: SIMPLE, insecureSkipVerify: true}`),
  {
    id: 'dr-allowlisted',
    reason: 'tls DISABLE to the API server (allowlisted in the default policy, OSSM)',
    kind: 'DestinationRule',
    spec: () => 'spec:\n  host: kubernetes.default.svc.cluster.local\n  trafficPolicy:\n    tls: {mode: DISABLE}',
  },
];

const API_VERSION: Record<Case['kind'], string> = { PeerAuthentication: 'security.istio.io/v1', DestinationRule: 'networking.istio.io/v1', Deployment: 'apps/v1' };

/** A multi-document YAML file of `count` objects, and the case of each object by kind/namespace/name. */
export function generate(count: number): { yaml: string; cases: Map<string, Case> } {
  const docs: string[] = [];
  const cases = new Map<string, Case>();
  for (let i = 0; i < count; i++) {
    const c = CASES[i % CASES.length] as Case;
    const ns = `team-${String(Math.floor(i / CASES.length) % 25).padStart(2, '0')}`;
    const name = `${c.id}-${i}`;
    docs.push(`apiVersion: ${API_VERSION[c.kind]}\nkind: ${c.kind}\nmetadata:\n  name: ${name}\n  namespace: ${ns}\n  labels: {app.kubernetes.io/part-of: shop}\n${c.spec(name, ns)}\n`);
    cases.set(key(c.kind, ns, name), c);
  }
  return { yaml: docs.join('---\n'), cases };
}

const key = (kind: string, ns: string | undefined, name: string): string => `${kind}/${ns ?? ''}/${name}`;

// ---------------------------------------------------------------------------------------------
// Running the two commands.

interface Sample {
  ms: number;
  /** User + system CPU time of the child. */
  cpuMs: number;
  rssKiB: number;
  exit: number;
  stdout: string;
}

/** Runs a command under /usr/bin/time (the child's ru_maxrss in KiB and its CPU time to a file); wall time from spawn to exit. */
function timed(cmd: string, args: string[], okExits: number[], rssFile: string): Sample {
  const start = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%M %U %S', '-o', rssFile, cmd, ...args], { cwd: ROOT, encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const exit = r.status ?? -1;
  if (!okExits.includes(exit)) throw new Error(`${cmd} ${args.join(' ')} exited ${exit}: ${r.stderr.slice(-2000)}`);
  const m = /(\d+) ([\d.]+) ([\d.]+)\s*$/.exec(readFileSync(rssFile, 'utf8'));
  if (!m) throw new Error(`/usr/bin/time wrote no figures: ${readFileSync(rssFile, 'utf8')}`);
  return { ms, cpuMs: (Number(m[2]) + Number(m[3])) * 1000, rssKiB: Number(m[1]), exit, stdout: r.stdout };
}

type ToolId = 'mtls-guard' | 'kyverno';

interface Tool {
  id: ToolId;
  label: string;
  command: (file: string) => [string, string[]];
  /** Objects refused, by kind/namespace/name, and every object the tool reported on. */
  verdicts: (stdout: string) => { refused: Map<string, string[]>; seen: Set<string> };
}

const guardTool: Tool = {
  id: 'mtls-guard',
  label: 'mtls-guard check',
  command: (file) => [process.execPath, [join(ROOT, 'bin/mtls-guard.js'), 'check', '-f', file, '-o', 'json']],
  verdicts: (stdout) => {
    const out = JSON.parse(stdout) as { results: { kind: string; namespace?: string; name: string; allowed: boolean; violations: { rule: string; action: string }[] }[] };
    const refused = new Map<string, string[]>();
    const seen = new Set<string>();
    for (const r of out.results) {
      const k = key(r.kind, r.namespace, r.name);
      seen.add(k);
      if (!r.allowed) refused.set(k, [...new Set(r.violations.filter((v) => v.action === 'deny').map((v) => v.rule))]);
    }
    return { refused, seen };
  },
};

interface ReportResult {
  policy: string;
  rule: string;
  result: string;
  resources?: { kind: string; namespace?: string; name: string }[];
}

function kyvernoTool(binary: string): Tool {
  return {
    id: 'kyverno',
    label: 'kyverno apply',
    command: (file) => [binary, ['apply', POLICIES, '--resource', file, '--policy-report', '--output-format', 'json', '--remove-color']],
    verdicts: (stdout) => {
      // The policy report follows a line or two of progress on stdout.
      const at = stdout.search(/^\{/m);
      if (at < 0) throw new Error(`kyverno printed no JSON policy report: ${stdout.slice(0, 500)}`);
      const report = JSON.parse(stdout.slice(at)) as { results?: ReportResult[]; items?: { results?: ReportResult[] }[] };
      const results = [...(report.results ?? []), ...(report.items ?? []).flatMap((i) => i.results ?? [])];
      const refused = new Map<string, string[]>();
      const seen = new Set<string>();
      for (const r of results) {
        for (const res of r.resources ?? []) {
          const k = key(res.kind, res.namespace, res.name);
          seen.add(k);
          if (r.result === 'fail' || r.result === 'error') refused.set(k, [...(refused.get(k) ?? []), `${r.policy}/${r.rule}${r.result === 'error' ? ' (error)' : ''}`]);
        }
      }
      return { refused, seen };
    },
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

// ---------------------------------------------------------------------------------------------
// Results and report.

export interface ToolFigures {
  tool: ToolId;
  wallMsMedian: number;
  wallMsMin: number;
  wallMsMax: number;
  /** Median user + system CPU time (all threads). */
  cpuMsMedian: number;
  rssMiBMedian: number;
  objectsPerSecond: number;
  refused: number;
  exitCodes: number[];
}

export interface DifferenceRow {
  case: string;
  reason: string;
  kind: string;
  objects: number;
  mtlsGuard: string;
  kyverno: string;
}

export interface SizeResult {
  objects: number;
  bytes: number;
  rounds: number;
  figures: ToolFigures[];
  /** mtls-guard objects/s ÷ kyverno objects/s (same as kyverno wall ÷ mtls-guard wall). */
  ratio: number | null;
  guardOnly: DifferenceRow[];
  kyvernoOnly: DifferenceRow[];
  bothRefuse: DifferenceRow[];
}

export interface CliResults {
  startedAt: string;
  finishedAt: string;
  node: string;
  cpus: string;
  kyvernoVersion: string | null;
  loadavgBefore: number[];
  loadavgAfter: number[];
  sizes: SizeResult[];
}

function differences(cases: Map<string, Case>, guard: Map<string, string[]>, kyverno: Map<string, string[]>): Pick<SizeResult, 'guardOnly' | 'kyvernoOnly' | 'bothRefuse'> {
  const groups = { guardOnly: new Map<string, DifferenceRow>(), kyvernoOnly: new Map<string, DifferenceRow>(), bothRefuse: new Map<string, DifferenceRow>() };
  for (const [k, c] of cases) {
    const g = guard.get(k);
    const ky = kyverno.get(k);
    const bucket = g && ky ? groups.bothRefuse : g ? groups.guardOnly : ky ? groups.kyvernoOnly : undefined;
    if (!bucket) continue;
    const row = bucket.get(c.id) ?? { case: c.id, reason: c.reason, kind: c.kind, objects: 0, mtlsGuard: g ? `refused: ${g.join(', ')}` : 'allowed', kyverno: ky ? `fail: ${ky.join(', ')}` : 'pass' };
    row.objects++;
    bucket.set(c.id, row);
  }
  return { guardOnly: [...groups.guardOnly.values()], kyvernoOnly: [...groups.kyvernoOnly.values()], bothRefuse: [...groups.bothRefuse.values()] };
}

const BEGIN = '<!-- BEGIN GENERATED: npm run bench:cli -->';
const END = '<!-- END GENERATED: npm run bench:cli -->';
const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

export function cliMarkdown(r: CliResults): string {
  const lines = [
    BEGIN,
    `Run ${r.startedAt} → ${r.finishedAt}, Node ${r.node}, ${r.cpus} CPUs, Kyverno ${r.kyvernoVersion ?? '(not built)'}, load average ${r.loadavgBefore.join(' ')} before and ${r.loadavgAfter.join(' ')} after; every command under the bench's own \`nice\` level. One process per file and tool, ${r.sizes[0]?.rounds ?? 0} interleaved rounds (alternating order); medians.`,
    '',
    '| objects | file | tool | median wall | min–max wall | median CPU (user+sys) | median peak RSS | objects/s (wall) | refused | exit |',
    '|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const s of r.sizes)
    for (const f of s.figures)
      lines.push(
        `| ${fmt(s.objects)} | ${fmt(s.bytes / 1024, 1)} KiB | ${f.tool === 'kyverno' ? '`kyverno apply`' : '`mtls-guard check`'} | ${fmt(f.wallMsMedian)} ms | ${fmt(f.wallMsMin)}–${fmt(f.wallMsMax)} ms | ${fmt(f.cpuMsMedian)} ms | ${fmt(f.rssMiBMedian, 1)} MiB | ${fmt(f.objectsPerSecond)} | ${fmt(f.refused)} | ${[...new Set(f.exitCodes)].join(', ')} |`,
      );
  const [small, large] = [r.sizes[0], r.sizes.at(-1)];
  if (small && large && small !== large) {
    // Start-up is paid once per file: the difference between the two files is the cost per object.
    const perObject = (t: ToolId): number => {
      const a = small.figures.find((f) => f.tool === t)?.wallMsMedian ?? NaN;
      const b = large.figures.find((f) => f.tool === t)?.wallMsMedian ?? NaN;
      return (b - a) / (large.objects - small.objects);
    };
    const g = perObject('mtls-guard');
    const k = perObject('kyverno');
    lines.push(
      '',
      `Per object beyond start-up ((wall at ${fmt(large.objects)} − wall at ${fmt(small.objects)}) ÷ ${fmt(large.objects - small.objects)}): mtls-guard ${fmt(g * 1000)} µs (${fmt(1000 / g)} objects/s), Kyverno ${fmt(k * 1000)} µs (${fmt(1000 / k)} objects/s), ${fmt(k / g, 2)}×.`,
    );
  }
  lines.push('', '| target | measured | met |', '|---|--:|:-:|');
  for (const s of r.sizes) {
    const met = s.ratio === null ? '–' : s.ratio >= 3 ? 'yes' : '**no**';
    lines.push(`| \`check\` ≥ 3× Kyverno's throughput at ${fmt(s.objects)} objects${s.objects === 2000 ? ' (the target)' : ' (for reference)'} | ${s.ratio === null ? '–' : `${fmt(s.ratio, 2)}×`} | ${met} |`);
  }
  const big = r.sizes.at(-1);
  if (big) {
    const table = (title: string, rows: DifferenceRow[]): void => {
      lines.push('', `${title} (${fmt(big.objects)}-object file, ${fmt(rows.reduce((n, x) => n + x.objects, 0))} objects):`, '');
      if (rows.length === 0) {
        lines.push('none');
        return;
      }
      lines.push('| reason | kind | objects | mtls-guard | Kyverno samples |', '|---|---|--:|---|---|');
      for (const x of rows) lines.push(`| ${x.reason} | ${x.kind} | ${fmt(x.objects)} | ${x.mtlsGuard} | ${x.kyverno} |`);
    };
    table('Objects the Kyverno samples let through and mtls-guard refuses', big.guardOnly);
    table('Objects the Kyverno samples refuse and mtls-guard lets through', big.kyvernoOnly);
    table('Refused by both', big.bothRefuse);
  }
  lines.push(END);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (flags.emit) {
    for (const count of SIZES) writeFileSync(join(flags.emit, `objects-${count}.yaml`), generate(count).yaml);
    return;
  }
  const startedAt = new Date().toISOString();
  const loadavgBefore = loadavg().map((x) => Number(x.toFixed(2)));
  if (!flags['no-build']) {
    log('building dist/ (npm run build)');
    await run('npm', ['run', 'build']);
  }
  log('building or reusing the pinned Kyverno CLI (bench/kyverno/build.sh)');
  const kyvernoBinary = (await run('bash', [join(ROOT, 'bench/kyverno/build.sh')])).trim().split('\n').at(-1) ?? '';
  const kyvernoVersion = /kyverno-(v[^/]+)/.exec(kyvernoBinary)?.[1] ?? null;
  const tools = [guardTool, kyvernoTool(kyvernoBinary)];

  const dir = mkdtempSync(join(tmpdir(), 'mtls-guard-bench-cli-'));
  const rssFile = join(dir, 'rss');
  const sizes: SizeResult[] = [];
  try {
    for (const count of SIZES) {
      const { yaml, cases } = generate(count);
      const file = join(dir, `objects-${count}.yaml`);
      writeFileSync(file, yaml);
      for (const t of tools) timed(...t.command(file), [0, 1], rssFile); // warm the page cache
      const samples = new Map<ToolId, Sample[]>(tools.map((t) => [t.id, []]));
      let last = new Map<ToolId, Sample>();
      for (let round = 0; round < ROUNDS; round++) {
        for (const t of round % 2 ? [...tools].reverse() : tools) {
          const s = timed(...t.command(file), [0, 1], rssFile);
          samples.get(t.id)?.push(s);
          last.set(t.id, s);
          log(`${count} objects, round ${round + 1}: ${t.id} ${s.ms.toFixed(0)} ms (CPU ${s.cpuMs.toFixed(0)} ms), ${(s.rssKiB / 1024).toFixed(1)} MiB, exit ${s.exit}`);
        }
      }
      const verdicts = new Map(tools.map((t) => [t.id, t.verdicts(last.get(t.id)?.stdout ?? '')]));
      last = new Map();
      const guardSeen = verdicts.get('mtls-guard')?.seen.size ?? 0;
      if (guardSeen !== count) throw new Error(`mtls-guard reported ${guardSeen} objects of ${count}`);
      const figures: ToolFigures[] = tools.map((t) => {
        const s = samples.get(t.id) ?? [];
        const wall = median(s.map((x) => x.ms));
        return {
          tool: t.id,
          wallMsMedian: Number(wall.toFixed(1)),
          wallMsMin: Number(Math.min(...s.map((x) => x.ms)).toFixed(1)),
          wallMsMax: Number(Math.max(...s.map((x) => x.ms)).toFixed(1)),
          cpuMsMedian: Number(median(s.map((x) => x.cpuMs)).toFixed(0)),
          rssMiBMedian: Number((median(s.map((x) => x.rssKiB)) / 1024).toFixed(1)),
          objectsPerSecond: Number(((count * 1000) / wall).toFixed(1)),
          refused: verdicts.get(t.id)?.refused.size ?? 0,
          exitCodes: s.map((x) => x.exit),
        };
      });
      const g = figures.find((f) => f.tool === 'mtls-guard');
      const k = figures.find((f) => f.tool === 'kyverno');
      sizes.push({
        objects: count,
        bytes: Buffer.byteLength(yaml),
        rounds: ROUNDS,
        figures,
        ratio: g && k ? Number((g.objectsPerSecond / k.objectsPerSecond).toFixed(2)) : null,
        ...differences(cases, verdicts.get('mtls-guard')?.refused ?? new Map(), verdicts.get('kyverno')?.refused ?? new Map()),
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const results: CliResults = {
    startedAt,
    finishedAt: new Date().toISOString(),
    node: process.version,
    cpus: (await run('nproc', [])).trim(),
    kyvernoVersion,
    loadavgBefore,
    loadavgAfter: loadavg().map((x) => Number(x.toFixed(2))),
    sizes,
  };
  const md = cliMarkdown(results);
  process.stdout.write(`${md}\n`);
  if (flags.quick) return;
  writeFileSync(join(ROOT, 'bench/cli-results.json'), `${JSON.stringify(results, null, 2)}\n`);
  replaceSection(BEGIN, END, md);
  log('done: BENCHMARKS.md, bench/cli-results.json');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:cli: failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
