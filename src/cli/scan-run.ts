// `mtls-guard scan` at work: read every manifest as `check` reads it (same inputs, same messages,
// exit 2 and nothing printed on bad input), build the mesh model once, print one of three outputs.
import { MeshModel } from '../mesh/index.js';
import { splitApiVersion } from '../engine/index.js';
import { isClusterScoped } from './cluster-scoped.js';
import { palette, useColour } from './colour.js';
import { EXIT_DENIED, EXIT_OK, EXIT_USAGE } from './exit-codes.js';
import { InputError, listInputs, readDocuments, STDIN_NAME } from './inputs.js';
import { parseDocument, type JsonRecord, type Manifest } from './manifests.js';
import { readCheckPolicy } from './policy-file.js';
import { formatPolicyReports, policyReports } from './policy-report.js';
import { formatScanJson } from './scan-json.js';
import { buildScan } from './scan-report.js';
import { formatScanTable } from './scan-table.js';
import type { ScanIo, ScanOptions } from './scan.js';

/** Errors kept in full, as `check` keeps them; beyond this many only a count. */
const MAX_REPORTED_ERRORS = 100;

class Problems {
  readonly shown: string[] = [];
  count = 0;

  add(...messages: string[]): void {
    for (const m of messages) {
      this.count++;
      if (this.shown.length < MAX_REPORTED_ERRORS) this.shown.push(m);
    }
  }
}

function reportErrors(io: ScanIo, problems: Problems): number {
  for (const e of problems.shown) io.stderr.write(`error: ${e}\n`);
  const hidden = problems.count - problems.shown.length;
  if (hidden > 0) io.stderr.write(`error: … and ${hidden} more\n`);
  io.stderr.write(`mtls-guard scan: ${problems.count} problem${problems.count === 1 ? '' : 's'} with the input; nothing was scanned\n`);
  return EXIT_USAGE;
}

function noObjectsMessage(empty: readonly string[]): string {
  const what = empty.length === 1 ? (empty[0] === STDIN_NAME ? 'standard input (-f -)' : empty[0]) : `${empty.length} inputs`;
  const hint = empty.includes(STDIN_NAME) ? '; if a generator (kustomize build, helm template) feeds -f -, it printed nothing' : '';
  return `no objects found in ${what}: nothing to scan, as \`kubectl apply\` says "no objects passed to apply"${hint}`;
}

/** The object as the API server would store it: namespaced kinds without a namespace take `-n`. */
function withNamespace(m: Manifest, defaultNamespace: string): JsonRecord {
  if (m.namespace !== undefined || isClusterScoped(splitApiVersion(m.apiVersion).group, m.kind)) return m.object;
  const metadata = m.object['metadata'];
  const base = typeof metadata === 'object' && metadata !== null && !Array.isArray(metadata) ? (metadata as JsonRecord) : {};
  return { ...m.object, metadata: { ...base, namespace: defaultNamespace } };
}

/** Every object of every input, or problems (the same messages as `check`). */
async function readObjects(filenames: readonly string[], opts: ScanOptions, io: ScanIo, problems: Problems): Promise<JsonRecord[]> {
  const objects: JsonRecord[] = [];
  const listed = await listInputs(filenames, io.openStdin);
  problems.add(...listed.errors);
  const empty: string[] = [];
  for (const source of listed.sources) {
    let count = 0;
    try {
      for await (const doc of readDocuments(source)) {
        const parsed = parseDocument(doc, source.name);
        problems.add(...parsed.errors);
        count += parsed.manifests.length;
        if (problems.count > 0) continue;
        for (const m of parsed.manifests) objects.push(withNamespace(m, opts.namespace));
      }
    } catch (err) {
      if (err instanceof InputError) problems.add(err.message);
      else if (err instanceof RangeError) problems.add(`${source.name}: too large to read: ${err.message}`);
      else throw err;
    }
    if (count === 0) empty.push(source.name);
  }
  if (listed.sources.length > 0 && empty.length === listed.sources.length && problems.count === 0) problems.add(noObjectsMessage(empty));
  return objects;
}

/**
 * Runs `scan` and returns the exit status: 0 no finding, 1 at least one broken flow or
 * authorization conflict, 2 bad input or policy (messages on stderr, nothing on stdout).
 * @param now the time PolicyReport results carry (tests pass a fixed one).
 */
export async function runScan(opts: ScanOptions, io: ScanIo, now: Date = new Date()): Promise<number> {
  const problems = new Problems();
  const filenames = opts.filename ?? [];
  if (filenames.length === 0) problems.add('no manifests given: use -f PATH (a file, a folder, or - for stdin)');
  if (opts.namespace.trim() === '') problems.add('--namespace must not be empty');
  const policyResult = await readCheckPolicy(opts.config);
  if (!policyResult.ok) problems.add(...policyResult.errors.map((e) => `invalid policy: ${e}`));
  const objects = await readObjects(filenames, opts, io, problems);
  if (problems.count > 0 || !policyResult.ok) return reportErrors(io, problems);

  const model = MeshModel.build(objects, policyResult.policy);
  const scan = buildScan({ serverPorts: model.serverPorts(), flows: model.flows(), conflicts: model.authorizationConflicts(), rootNamespace: model.rootNamespace });
  let text: string;
  if (opts.output === 'json') text = formatScanJson(scan);
  else if (opts.output === 'policyreport') text = formatPolicyReports(policyReports(scan, now));
  else text = formatScanTable(scan, palette(useColour(io.stdout, io.env, opts.color)));
  io.stdout.write(text);
  return scan.summary.findings > 0 ? EXIT_DENIED : EXIT_OK;
}
