// `mtls-guard check`: the webhooks' verdict on manifests, offline, for CI pipelines and GitOps
// repositories. Exit 0: nothing denied; 1: something denied; 2: bad input or policy.
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { Option, type Command } from 'commander';
import type { Mode, Policy } from '../engine/index.js';
import { palette, useColour, type Palette } from './colour.js';
import { toResult } from './format-json.js';
import { formatObject, summaryLine } from './format-text.js';
import { stdinChunks } from './inputs.js';
import { forEachManifest, InputProblems, readCommonOptions, reportInputProblems } from './read-manifests.js';
import { checkManifest, type Checked } from './judge.js';
import type { Manifest } from './manifests.js';
import { MeshModel } from '../mesh/index.js';
import { withForcedMode } from './policy-file.js';
import { EXIT_DENIED, EXIT_OK } from './exit-codes.js';

export interface CheckOptions {
  filename?: string[];
  config?: string;
  output: 'text' | 'json';
  namespace: string;
  mode?: Mode;
  color: boolean;
  /** Judge PeerAuthentications and DestinationRules against the mesh made of all the inputs
   * (`--no-mesh`: each object alone). */
  mesh: boolean;
}

export interface CheckIo {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown };
  env: NodeJS.ProcessEnv;
  /** Standard input as byte chunks (read only for `-f -`). */
  openStdin: () => AsyncIterable<Uint8Array>;
}

const EXAMPLES = `
Exit status: 0 nothing denied, 1 at least one object denied, 2 bad input or policy.

Folders are read recursively (*.yaml, *.yml, *.json; hidden entries such as .git are skipped).
Each object is judged as a CREATE: the verdict of validate.mtls-guard.io and the patch of
mutate.mtls-guard.io. Objects without metadata.namespace take --namespace.
All inputs together are one mesh: each PeerAuthentication and DestinationRule is also judged by
the mesh-aware rules against all the other objects (so a conflict between two files is found),
once every input has been read. --no-mesh judges each object alone.

Examples:
  $ mtls-guard check -f deploy/                          # a whole GitOps folder
  $ mtls-guard check -f pa.yaml -f dr.yaml --config policy.yaml
  $ kustomize build overlays/prod | mtls-guard check -f - -n bookinfo
  $ helm template charts/app | mtls-guard check -f - -o json | jq '.results[] | select(.allowed == false)'
  $ mtls-guard check -f deploy/ --mode audit             # report only: never exits 1
`;

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function registerCheck(program: Command, io: CheckIo = processIo()): Command {
  return program
    .command('check')
    .summary('evaluate manifests offline with the webhook rules')
    .description('Evaluate Kubernetes manifests offline with the same engine and policy as the admission webhooks.')
    .option('-f, --filename <path>', 'manifest file, folder, or - for stdin (repeatable)', collect)
    .option('--config <file>', 'policy file (YAML or JSON); the built-in defaults without it')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .option('-n, --namespace <namespace>', 'namespace of objects that do not name one', 'default')
    .addOption(new Option('--mode <mode>', 'force this mode for every object (ignores the policy mode and namespaces[])').choices(['enforce', 'audit']))
    .option('--no-color', 'never colour the text output (colour needs a terminal and NO_COLOR unset)')
    .option('--no-mesh', 'judge each object alone, without the mesh-aware rules (all inputs are one mesh by default)')
    .addHelpText('after', EXAMPLES)
    .action(async (opts: CheckOptions) => {
      process.exitCode = await runCheck(opts, io);
    });
}

export function processIo(): CheckIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, openStdin: stdinChunks };
}

/**
 * The report, held until every input has been read (bad input anywhere means nothing is printed):
 * in memory up to a few MiB, then in a temporary file, so memory does not grow with the input.
 */
class OutputSpool {
  /** Characters held before they go to the file, in one write. */
  private static readonly MEMORY_LIMIT = 4 * 1024 * 1024;
  private parts: string[] = [];
  private size = 0;
  /** Bytes of the report so far, in memory and in the file. */
  private written = 0;
  /** Places kept for text that comes later (objects judged once the whole mesh is known), by
   * byte position, so the report keeps the input order. */
  private readonly holes: { at: number; text: string }[] = [];
  private dir: string | undefined;
  private fd: number | undefined;

  write(text: string): void {
    this.parts.push(text);
    this.size += text.length;
    this.written += Buffer.byteLength(text);
    if (this.size <= OutputSpool.MEMORY_LIMIT) return;
    if (this.fd === undefined) {
      this.dir = mkdtempSync(join(tmpdir(), 'mtls-guard-check-'));
      this.fd = openSync(join(this.dir, 'report'), 'w+', 0o600);
    }
    this.flush(this.fd);
  }

  /** Keeps a place at the current end; its `text` is written there by `copyTo`. */
  hole(): { text: string } {
    const hole = { at: this.written, text: '' };
    this.holes.push(hole);
    return hole;
  }

  private flush(fd: number): void {
    writeSync(fd, this.parts.join(''));
    this.parts = [];
    this.size = 0;
  }

  async copyTo(out: CheckIo['stdout']): Promise<void> {
    const write = async (text: string): Promise<void> => {
      const more = out.write(text) as boolean | undefined;
      if (more === false && 'once' in out) await new Promise<void>((resolve) => (out as NodeJS.WritableStream).once('drain', () => resolve()));
    };
    const memory = this.fd === undefined ? Buffer.from(this.parts.join('')) : undefined;
    if (this.fd !== undefined) this.flush(this.fd);
    const fd = this.fd;
    const buffer = Buffer.alloc(1024 * 1024);
    // Holes sit between writes, so every range starts and ends on a character boundary.
    const copyRange = async (from: number, to: number): Promise<void> => {
      if (memory) return write(memory.subarray(from, to).toString('utf8'));
      const utf8 = new StringDecoder('utf8');
      for (let position = from; position < to; ) {
        const n = readSync(fd as number, buffer, 0, Math.min(buffer.length, to - position), position);
        if (n === 0) break;
        position += n;
        await write(utf8.write(buffer.subarray(0, n)));
      }
    };
    let position = 0;
    for (const hole of this.holes) {
      await copyRange(position, hole.at);
      await write(hole.text);
      position = hole.at;
    }
    await copyRange(position, this.written);
  }

  dispose(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    if (this.dir !== undefined) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Writes each judged object as it comes; the JSON is byte for byte formatJson's. */
class Report {
  private objects = 0;
  denied = false;
  /** summaryLine only counts verdicts: one shared stand-in per kind of verdict, not the objects. */
  private readonly verdicts: Checked[] = [];
  private readonly standIns = new Map<string, Checked>();

  constructor(
    private readonly spool: OutputSpool,
    private readonly output: CheckOptions['output'],
    private readonly p: Palette,
  ) {}

  private render(c: Checked, index: number): string {
    if (this.output !== 'json') return `${formatObject(c, this.p).join('\n')}\n`;
    const json = `    ${JSON.stringify(toResult(c), null, 2).replaceAll('\n', '\n    ')}`;
    return `${index === 0 ? '{\n  "results": [\n' : ',\n'}${json}`;
  }

  private count(c: Checked): void {
    this.denied ||= !c.allowed;
    const key = `${c.verdict}/${c.allowed}/${c.mutation.mutations.length > 0}`;
    let standIn = this.standIns.get(key);
    if (!standIn) {
      standIn = { verdict: c.verdict, allowed: c.allowed, mutation: { mutations: c.mutation.mutations.length ? [c.mutation.mutations[0]] : [] } } as unknown as Checked;
      this.standIns.set(key, standIn);
    }
    this.verdicts.push(standIn);
  }

  add(c: Checked): void {
    this.spool.write(this.render(c, this.objects++));
    this.count(c);
  }

  /** Keeps this object's place in the report; the returned function fills it once judged. */
  reserve(): (c: Checked) => void {
    const index = this.objects++;
    const hole = this.spool.hole();
    return (c) => {
      hole.text = this.render(c, index);
      this.count(c);
    };
  }

  finish(): void {
    if (this.output === 'json') this.spool.write(this.objects === 0 ? '{\n  "results": []\n}\n' : '\n  ]\n}\n');
    else this.spool.write(`${this.objects ? '\n' : ''}${summaryLine(this.verdicts, this.p)}\n`);
  }
}

/** Reads every input; objects are judged as they come, and PeerAuthentications and
 * DestinationRules once the whole mesh is known, each in its place in the report. */
async function judgeInputs(filenames: readonly string[], policy: Policy | undefined, opts: CheckOptions, io: CheckIo, problems: InputProblems, report: Report): Promise<void> {
  const mesh = opts.mesh && policy ? MeshModel.build([], policy) : undefined;
  // Judged once the whole mesh is known: the objects the mesh-aware rules look at, each with
  // its place in the report.
  const deferred: { manifest: Manifest; fill: (c: Checked) => void }[] = [];
  await forEachManifest(filenames, io.openStdin, problems, 'check', (m) => {
    if (!policy) return;
    if (!mesh) return report.add(checkManifest(m, policy, opts.namespace));
    mesh.apply(m.object, opts.namespace);
    if (judgedWithMesh(m)) deferred.push({ manifest: m, fill: report.reserve() });
    else report.add(checkManifest(m, policy, opts.namespace));
  });
  if (policy && mesh && problems.count === 0) for (const d of deferred) d.fill(checkManifest(d.manifest, policy, opts.namespace, mesh));
}

/** PeerAuthentications and DestinationRules: the kinds the mesh-aware rules judge. */
function judgedWithMesh(m: Manifest): boolean {
  return (
    (m.kind === 'PeerAuthentication' && m.apiVersion.startsWith('security.istio.io/')) ||
    (m.kind === 'DestinationRule' && m.apiVersion.startsWith('networking.istio.io/'))
  );
}

export async function runCheck(opts: CheckOptions, io: CheckIo): Promise<number> {
  const problems = new InputProblems();
  const filenames = opts.filename ?? [];
  const read = await readCommonOptions(opts, problems);
  const policy = read ? withForcedMode(read, opts.mode) : undefined;

  const spool = new OutputSpool();
  try {
    const report = new Report(spool, opts.output, palette(useColour(io.stdout, io.env, opts.color)));
    await judgeInputs(filenames, policy, opts, io, problems, report);
    if (problems.count > 0 || !policy) return reportInputProblems(io.stderr, problems, 'check', 'judged');
    report.finish();
    await spool.copyTo(io.stdout);
    return report.denied ? EXIT_DENIED : EXIT_OK;
  } finally {
    spool.dispose();
  }
}
