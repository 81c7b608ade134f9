// The scan as wgpolicyk8s.io/v1alpha2 PolicyReports (one per namespace with results) and one
// ClusterPolicyReport, the format Kyverno's Policy Reporter and other tools read: what
// `scan -o policyreport` prints and what the server keeps in the cluster (cluster-reports.ts), one
// implementation for both. Field names and enums follow the published CRDs (Kyverno v1.19.1's
// config/crds/policyreport/wgpolicyk8s.io_{policyreports,clusterpolicyreports}.yaml, which
// test/cli/scan-policyreport.test.ts validates against); `results` and `summary` sit at the top
// level, not under `spec`, and `timestamp` is a protobuf Timestamp ({seconds, nanos}).
//
// Rules and where a result goes (the report of the namespace of the object to change):
//   destinationrule-strict-conflict    fail/high   a DestinationRule makes clients send what the server
//                                                  refuses (broken flow with a DestinationRule tls):
//                                                  the DestinationRule's namespace
//   peerauthentication-strict-conflict fail/high   a broken flow no DestinationRule decides: the
//                                                  PeerAuthentication's namespace (the workload's
//                                                  when Istio's default decides)
//   peerauthentication-authz-conflict  fail/high   a plaintext-accepting port under an
//                                                  AuthorizationPolicy matching identity: as above
//   plaintext-port                     pass/info   a workload port that accepts only mTLS
//                                      warn/low    one that accepts plaintext too (medium when some
//                                                  clients do send plaintext to it): the workload's
//                                                  namespace
// A result whose namespace is the mesh root namespace (a mesh-wide policy) goes to the
// ClusterPolicyReport instead.
import type { AuthorizationConflict, Flow, MeshObjectRef, SettingSource } from '../mesh/index.js';
import { yamlDocument } from './policy-report-yaml.js';
import { clientsText, destinationText, drainSteps, refText, serverText, setByText, settingText, type MeshScan, type ScanRow } from './scan-report.js';

export const POLICY_REPORT_API_VERSION = 'wgpolicyk8s.io/v1alpha2';
export const POLICY_NAME = 'mtls-guard';
/** metadata.name of every report mtls-guard writes (one per namespace, one cluster-wide). */
export const REPORT_NAME = 'mtls-guard-mesh';

export type PolicyResultValue = 'pass' | 'fail' | 'warn' | 'error' | 'skip';
export type PolicySeverity = 'critical' | 'high' | 'medium' | 'low' | 'info';
export type ScanRule = 'destinationrule-strict-conflict' | 'peerauthentication-strict-conflict' | 'peerauthentication-authz-conflict' | 'plaintext-port';

/** CRD `ObjectReference` (results[].resources[], scope). */
export interface ObjectReference {
  apiVersion?: string;
  kind: string;
  namespace?: string;
  name: string;
  /** The field of the object the result is about, e.g. `spec.trafficPolicy.tls.mode`. */
  fieldPath?: string;
}

/** CRD `PolicyReportResult`. */
export interface PolicyReportResult {
  policy: typeof POLICY_NAME;
  rule: ScanRule;
  category: string;
  result: PolicyResultValue;
  severity: PolicySeverity;
  message: string;
  resources: ObjectReference[];
  /** `additionalProperties: string`: every value is a string. */
  properties: Record<string, string>;
  source: typeof POLICY_NAME;
  timestamp: { seconds: number; nanos: number };
}

/** CRD `PolicyReportSummary`. */
export interface PolicyReportSummary {
  pass: number;
  fail: number;
  warn: number;
  error: number;
  skip: number;
}

export interface PolicyReport {
  apiVersion: typeof POLICY_REPORT_API_VERSION;
  kind: 'PolicyReport' | 'ClusterPolicyReport';
  metadata: { name: string; namespace?: string; labels: Record<string, string> };
  summary: PolicyReportSummary;
  results: PolicyReportResult[];
}

const CATEGORY = 'Istio mTLS';
const LABELS = { 'app.kubernetes.io/managed-by': 'mtls-guard' };

/** apiVersion of the kinds the mesh model names; other kinds get none (the field is optional). */
const API_VERSIONS: Record<string, string> = {
  PeerAuthentication: 'security.istio.io/v1',
  AuthorizationPolicy: 'security.istio.io/v1',
  DestinationRule: 'networking.istio.io/v1',
  ServiceEntry: 'networking.istio.io/v1',
  Service: 'v1',
  Pod: 'v1',
  ReplicationController: 'v1',
  Deployment: 'apps/v1',
  StatefulSet: 'apps/v1',
  DaemonSet: 'apps/v1',
  ReplicaSet: 'apps/v1',
  Job: 'batch/v1',
  CronJob: 'batch/v1',
  Rollout: 'argoproj.io/v1alpha1',
  DeploymentConfig: 'apps.openshift.io/v1',
};

function objectReference(ref: MeshObjectRef, fieldPath?: string): ObjectReference {
  const apiVersion = API_VERSIONS[ref.kind];
  const out: ObjectReference = apiVersion ? { apiVersion, kind: ref.kind, name: ref.name } : { kind: ref.kind, name: ref.name };
  if (ref.namespace) out.namespace = ref.namespace;
  if (fieldPath) out.fieldPath = fieldPath;
  return out;
}

function settingReference(s: SettingSource): ObjectReference {
  return objectReference(s.ref, s.path);
}

/** Same object and field listed once, first mention first. */
function unique(refs: ObjectReference[]): ObjectReference[] {
  const seen = new Set<string>();
  return refs.filter((r) => {
    const key = `${r.kind}\u0000${r.namespace ?? ''}\u0000${r.name}\u0000${r.fieldPath ?? ''}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

interface Placed {
  /** '' for the ClusterPolicyReport. */
  namespace: string;
  result: PolicyReportResult;
}

type Stamp = PolicyReportResult['timestamp'];

function timestampOf(now: Date): Stamp {
  const ms = now.getTime();
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: (ms - seconds * 1000) * 1_000_000 };
}

function result(rule: ScanRule, outcome: PolicyResultValue, severity: PolicySeverity, message: string, resources: ObjectReference[], properties: Record<string, string>, timestamp: Stamp): PolicyReportResult {
  return { policy: POLICY_NAME, rule, category: CATEGORY, result: outcome, severity, message, resources: unique(resources), properties, source: POLICY_NAME, timestamp: { ...timestamp } };
}

function modeText(row: { server: ScanRow['server'] }): string {
  return `${row.server.mode}, set by ${setByText(row.server)}`;
}

function plaintextPortResult(row: ScanRow, timestamp: Stamp): PolicyReportResult {
  const s = row.server;
  const resources = [objectReference(s.workload)];
  if (s.setBy) resources.push(settingReference(s.setBy));
  for (const f of row.plaintextFrom) if (f.clientTlsFrom) resources.push(settingReference(f.clientTlsFrom));
  const properties: Record<string, string> = { port: String(s.port), mode: s.mode, accepts: row.accepts, proxy: row.proxy };
  if (row.accepts === 'mtls') {
    return result('plaintext-port', 'pass', 'info', `${serverText(s)} accepts only Istio mTLS (${modeText(row)})`, resources, properties, timestamp);
  }
  const why = row.proxy === 'none' ? 'no sidecar or ambient proxy: the application receives plaintext' : `mode ${modeText(row)}${row.proxy === 'ambient' && s.mode === 'DISABLE' ? ' (ambient: ztunnel reads DISABLE as PERMISSIVE)' : ''}`;
  const senders = [...new Set(row.plaintextFrom.map((f) => `clients in ${clientsText(f.clients)}${f.clientTlsFrom ? ` (${settingText(f.clientTlsFrom)}: ${f.clientTls})` : ''}`))];
  if (senders.length) properties['plaintextFrom'] = senders.join('; ');
  const message = `${serverText(s)} accepts plaintext: ${why}${senders.length ? `; plaintext arrives from ${senders.join('; ')}` : ''}`;
  return result('plaintext-port', 'warn', senders.length ? 'medium' : 'low', message, resources, properties, timestamp);
}

function flowProperties(f: Flow): Record<string, string> {
  const p: Record<string, string> = { clients: clientsText(f.clients), host: f.host, servicePort: String(f.servicePort), clientTls: f.clientTls, outcome: f.outcome };
  if (f.subset) p['subset'] = f.subset;
  if (f.server) {
    p['port'] = String(f.server.port);
    p['mode'] = f.server.mode;
  }
  return p;
}

function brokenFlowResult(f: Flow, timestamp: Stamp): { rule: ScanRule; primary: MeshObjectRef | undefined; result: PolicyReportResult } {
  const rule: ScanRule = f.clientTlsFrom ? 'destinationrule-strict-conflict' : 'peerauthentication-strict-conflict';
  const resources: ObjectReference[] = [];
  if (f.clientTlsFrom) resources.push(settingReference(f.clientTlsFrom));
  if (f.server?.setBy) resources.push(settingReference(f.server.setBy));
  if (f.server) resources.push(objectReference(f.server.workload));
  resources.push(objectReference(f.service));
  const client = f.clientTlsFrom ? `${settingText(f.clientTlsFrom)}: ${f.clientTls}` : `${f.clientTls} (no DestinationRule tls)`;
  const server = f.server ? `, which ${serverText(f.server)} refuses (${modeText({ server: f.server })})` : '';
  const message = `clients in ${clientsText(f.clients)} call ${destinationText(f)} with ${client}${server}: ${f.reason}`;
  const primary = f.clientTlsFrom?.ref ?? f.server?.setBy?.ref ?? f.server?.workload ?? f.service;
  return { rule, primary, result: result(rule, 'fail', 'high', message, resources, flowProperties(f), timestamp) };
}

function conflictResult(c: AuthorizationConflict, timestamp: Stamp): PolicyReportResult {
  const resources: ObjectReference[] = [];
  if (c.server.setBy) resources.push(settingReference(c.server.setBy));
  for (const path of c.paths) resources.push(objectReference(c.authorizationPolicy, path));
  if (c.paths.length === 0) resources.push(objectReference(c.authorizationPolicy));
  resources.push(objectReference(c.server.workload));
  const effect = c.action === 'ALLOW' ? 'the ALLOW policy refuses plaintext callers' : 'the DENY policy stops matching plaintext callers';
  const message = `${serverText(c.server)} accepts plaintext (${modeText(c)}) while ${refText(c.authorizationPolicy)} (${c.action}) matches peer identity (${c.paths.join(', ')}): plaintext carries none, so ${effect}`;
  const properties = { port: String(c.server.port), mode: c.server.mode, action: c.action };
  return result('peerauthentication-authz-conflict', 'fail', 'high', message, resources, properties, timestamp);
}

function emptySummary(): PolicyReportSummary {
  return { pass: 0, fail: 0, warn: 0, error: 0, skip: 0 };
}

/**
 * The scan as reports: the ClusterPolicyReport first (always present, so applying the output also
 * clears old cluster-wide results), then one PolicyReport per namespace with results, sorted by
 * namespace. Results keep the scan's order. Throws nothing.
 * @param now the time written in every result's `timestamp`.
 */
export function policyReports(scan: MeshScan, now: Date): PolicyReport[] {
  return drainSteps(policyReportSteps(scan, now));
}

/** How many results a step of policyReportSteps builds. */
const RESULTS_PER_STEP = 32;

/**
 * policyReports in small steps (a few dozen results each): what the server runs between
 * admissions. Returns the same reports as policyReports (which drains it).
 */
export function* policyReportSteps(scan: MeshScan, now: Date): Generator<void, PolicyReport[]> {
  const timestamp = timestampOf(now);
  const placed: Placed[] = [];
  const place = (namespace: string, r: PolicyReportResult): void => {
    placed.push({ namespace: namespace === scan.rootNamespace ? '' : namespace, result: r });
  };
  for (const f of scan.broken) {
    const b = brokenFlowResult(f, timestamp);
    place(b.primary?.namespace ?? '', b.result);
    if (placed.length % RESULTS_PER_STEP === 0) yield;
  }
  for (const c of scan.conflicts) {
    place((c.server.setBy?.ref ?? c.server.workload).namespace, conflictResult(c, timestamp));
    if (placed.length % RESULTS_PER_STEP === 0) yield;
  }
  for (const row of scan.rows) {
    place(row.server.workload.namespace, plaintextPortResult(row, timestamp));
    if (placed.length % RESULTS_PER_STEP === 0) yield;
  }
  yield;

  const byNamespace = new Map<string, PolicyReportResult[]>([['', []]]);
  let n = 0;
  for (const p of placed) {
    const list = byNamespace.get(p.namespace);
    if (list) list.push(p.result);
    else byNamespace.set(p.namespace, [p.result]);
    if (++n % (RESULTS_PER_STEP * 32) === 0) yield;
  }
  const namespaces = [...byNamespace.keys()].sort();
  const reports: PolicyReport[] = [];
  for (const namespace of namespaces) {
    const results = byNamespace.get(namespace) ?? [];
    const summary = emptySummary();
    for (const r of results) summary[r.result]++;
    const metadata: PolicyReport['metadata'] = namespace ? { name: REPORT_NAME, namespace, labels: { ...LABELS } } : { name: REPORT_NAME, labels: { ...LABELS } };
    reports.push({ apiVersion: POLICY_REPORT_API_VERSION, kind: namespace ? 'PolicyReport' : 'ClusterPolicyReport', metadata, summary, results });
    yield;
  }
  return reports;
}

/**
 * `-o policyreport` output: the reports as a multi-document YAML stream for `kubectl apply -f -`.
 * Strings that YAML 1.1 (kubectl) would read as something else, such as `on` or `9080`, are quoted.
 */
export function formatPolicyReports(reports: readonly PolicyReport[]): string {
  return reports.map((r) => `---\n${yamlDocument(r)}`).join('');
}
