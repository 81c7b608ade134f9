// `mtls-guard scan` at work: read every manifest as `check` reads it (same inputs, same messages,
// exit 2 and nothing printed on bad input), or every object from a live cluster (--kubeconfig,
// --cluster: scan-cluster.ts), build the mesh model once, print one of three outputs.
import { MeshModel } from '../mesh/index.js';
import { splitApiVersion } from '../engine/index.js';
import { isClusterScoped } from './cluster-scoped.js';
import { palette, useColour } from './colour.js';
import { EXIT_DENIED, EXIT_OK, EXIT_USAGE } from './exit-codes.js';
import type { JsonRecord, Manifest } from './manifests.js';
import { readCheckPolicy } from './policy-file.js';
import { forEachManifest, InputProblems, readCommonOptions, reportInputProblems } from './read-manifests.js';
import { formatPolicyReports, policyReports } from '../reports/policy-report.js';
import { scanOf } from '../reports/scan-report.js';
import { formatScanJson } from './scan-json.js';
import { formatScanTable } from './scan-table.js';
import type { ScanIo, ScanOptions } from './scan.js';

/** The object as the API server would store it: namespaced kinds without a namespace take `-n`. */
function withNamespace(m: Manifest, defaultNamespace: string): JsonRecord {
  if (m.namespace !== undefined || isClusterScoped(splitApiVersion(m.apiVersion).group, m.kind)) return m.object;
  const metadata = m.object['metadata'];
  const base = typeof metadata === 'object' && metadata !== null && !Array.isArray(metadata) ? (metadata as JsonRecord) : {};
  return { ...m.object, metadata: { ...base, namespace: defaultNamespace } };
}

/** Every object of every input, or problems (the same messages as `check`). */
async function readObjects(filenames: readonly string[], opts: ScanOptions, io: ScanIo, problems: InputProblems): Promise<JsonRecord[]> {
  const objects: JsonRecord[] = [];
  await forEachManifest(filenames, io.openStdin, problems, 'scan', (m) => objects.push(withNamespace(m, opts.namespace)));
  return objects;
}

/** Prints the scan of `model` in the chosen format; returns the exit status (1 on a finding). */
function printScan(model: MeshModel, opts: ScanOptions, io: ScanIo, now: Date): number {
  // The same scan the server's cluster mode writes its PolicyReports from.
  const scan = scanOf(model);
  let text: string;
  if (opts.output === 'json') text = formatScanJson(scan);
  else if (opts.output === 'policyreport') text = formatPolicyReports(policyReports(scan, now));
  else text = formatScanTable(scan, palette(useColour(io.stdout, io.env, opts.color)));
  io.stdout.write(text);
  return scan.summary.findings > 0 ? EXIT_DENIED : EXIT_OK;
}

/** `--kubeconfig` or `--cluster`: the objects come from the cluster (manifests are refused). */
async function runClusterScan(opts: ScanOptions, io: ScanIo, now: Date): Promise<number> {
  const problems = new InputProblems();
  const flag = opts.kubeconfig !== undefined ? '--kubeconfig' : '--cluster';
  if ((opts.filename ?? []).length > 0) problems.add(`-f reads manifests and ${flag} reads a live cluster: give one of them (to scan both, save the cluster's objects with kubectl get -o yaml and pass every file with -f)`);
  const policyResult = await readCheckPolicy(opts.config);
  if (!policyResult.ok) problems.add(...policyResult.errors.map((e) => `invalid policy: ${e}`));
  if (problems.count > 0 || !policyResult.ok) return reportInputProblems(io.stderr, problems, 'scan', 'scanned');

  const { readCluster } = await import('./scan-cluster.js');
  const read = await readCluster(opts.kubeconfig !== undefined ? { kubeconfig: opts.kubeconfig } : {}, policyResult.policy);
  if (!read.ok) {
    for (const e of read.errors) io.stderr.write(`error: ${e}\n`);
    io.stderr.write(`mtls-guard scan: could not read the cluster; nothing was scanned\n`);
    return EXIT_USAGE;
  }
  return printScan(MeshModel.build(read.objects, policyResult.policy), opts, io, now);
}

/**
 * Runs `scan` and returns the exit status: 0 no finding, 1 at least one broken flow or
 * authorization conflict, 2 bad input or policy, or a cluster that could not be read (messages
 * on stderr, nothing on stdout).
 * @param now the time PolicyReport results carry (tests pass a fixed one).
 */
export async function runScan(opts: ScanOptions, io: ScanIo, now: Date = new Date()): Promise<number> {
  if (opts.kubeconfig !== undefined || opts.cluster === true) return runClusterScan(opts, io, now);
  const problems = new InputProblems();
  const filenames = opts.filename ?? [];
  const policy = await readCommonOptions(opts, problems);
  const objects = await readObjects(filenames, opts, io, problems);
  if (problems.count > 0 || !policy) return reportInputProblems(io.stderr, problems, 'scan', 'scanned');
  return printScan(MeshModel.build(objects, policy), opts, io, now);
}
