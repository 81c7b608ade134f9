// The mesh model's answers arranged for reporting, shared by `mtls-guard scan` (table, JSON,
// PolicyReports) and the server's PolicyReports in cluster mode: server ports in a stable order,
// each with the flows that reach it in plaintext or fail there, the findings (broken flows,
// authorization conflicts) and the counts. Pure: the model's values in, plain values out.
import type { AuthorizationConflict, ClientGroup, Flow, FlowOutcome, MeshModel, MeshObjectRef, ServerPort, SettingSource } from '../mesh/index.js';

/** What the mesh model answered about a whole snapshot. */
export interface MeshAnswers {
  serverPorts: readonly ServerPort[];
  flows: readonly Flow[];
  conflicts: readonly AuthorizationConflict[];
  /** Istio's `rootNamespace`: objects there without a selector apply mesh-wide. */
  rootNamespace: string;
}

/** What a server port lets in: Istio mTLS only, both, or plaintext only. */
export type Accepts = 'mtls' | 'mtls+plaintext' | 'plaintext';

/** The proxy in front of a workload: an injected sidecar, ztunnel (ambient), or none. */
export type Proxy = 'sidecar' | 'ambient' | 'none';

export interface ScanRow {
  server: ServerPort;
  proxy: Proxy;
  accepts: Accepts;
  /** Flows that reach this port in plaintext and are accepted (outcome `plaintext`). */
  plaintextFrom: Flow[];
  /** Flows that the server side refuses here (outcome `broken`: the 503). */
  failingFrom: Flow[];
}

export interface ScanSummary {
  /** Namespaces holding at least one server port. */
  namespaces: number;
  workloads: number;
  serverPorts: number;
  /** Server ports whose `accepts` is not `mtls`. */
  plaintextPorts: number;
  flows: number;
  outcomes: Record<FlowOutcome, number>;
  conflicts: number;
  /** Broken flows plus authorization conflicts: what makes `scan` exit 1. */
  findings: number;
}

export interface MeshScan {
  rootNamespace: string;
  rows: ScanRow[];
  flows: Flow[];
  broken: Flow[];
  conflicts: AuthorizationConflict[];
  summary: ScanSummary;
}

/** Every flow outcome, in the order summaries list them. */
export const OUTCOMES: readonly FlowOutcome[] = ['mtls', 'plaintext', 'tls', 'broken', 'unknown'];

export function proxyOf(server: ServerPort): Proxy {
  if (server.sidecar) return 'sidecar';
  return server.ambient ? 'ambient' : 'none';
}

/**
 * What a server port accepts. Without a sidecar or ztunnel nothing terminates Istio mTLS, so only
 * plaintext reaches the application, whatever the mode says. In ambient namespaces ztunnel reads
 * DISABLE as PERMISSIVE.
 */
export function acceptsOf(server: ServerPort): Accepts {
  const proxy = proxyOf(server);
  if (proxy === 'none') return 'plaintext';
  if (server.mode === 'STRICT') return 'mtls';
  if (server.mode === 'PERMISSIVE' || proxy === 'ambient') return 'mtls+plaintext';
  return 'plaintext';
}

/** `Deployment bookinfo/details-v1`, as the engine's messages name objects. */
export function refText(ref: MeshObjectRef): string {
  return `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`;
}

/** `PeerAuthentication istio-system/default spec.mtls.mode`. */
export function settingText(setting: SettingSource): string {
  return `${refText(setting.ref)} ${setting.path}`;
}

/** Who set a server port's mode: the PeerAuthentication field, or Istio's default. */
export function setByText(server: ServerPort): string {
  return server.setBy ? settingText(server.setBy) : 'mesh default (no PeerAuthentication: PERMISSIVE)';
}

/** Client namespaces named in text before the rest are counted ("and 195 more namespaces"). */
export const CLIENT_NAMESPACES_SHOWN = 5;

/**
 * `bookinfo, other namespaces`, with `{app=x}` when a workloadSelector narrows the clients. Past
 * `limit` namespaces the rest are counted, so a mesh of hundreds of namespaces stays readable.
 */
export function clientsText(clients: ClientGroup, limit = CLIENT_NAMESPACES_SHOWN): string {
  const shown = clients.namespaces.slice(0, limit);
  const hidden = clients.namespaces.length - shown.length;
  const names = [...shown];
  if (hidden > 0) names.push(`${hidden} more namespace${hidden === 1 ? '' : 's'}`);
  if (clients.otherNamespaces) names.push(names.length ? 'other namespaces' : 'every namespace');
  const text = names.length ? names.join(', ') : 'no namespace';
  const selector = clients.workloadSelector;
  if (!selector || Object.keys(selector).length === 0) return text;
  const labels = Object.keys(selector)
    .sort()
    .map((k) => `${k}=${selector[k] ?? ''}`)
    .join(',');
  return `${text} {${labels}}`;
}

/** `details.bookinfo.svc.cluster.local:9080` plus `(subset v1)`. */
export function destinationText(flow: Flow): string {
  return `${flow.host}:${flow.servicePort}${flow.subset ? ` (subset ${flow.subset})` : ''}`;
}

export function serverText(server: ServerPort): string {
  return `${refText(server.workload)} port ${server.port}`;
}

/** Identity of a server port across the model's answers (flows carry copies, not the same object). */
export function serverKey(server: ServerPort): string {
  const w = server.workload;
  return `${w.namespace}\u0000${w.name}\u0000${w.kind}\u0000${server.port}`;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function refKey(ref: MeshObjectRef): string {
  return `${ref.namespace}\u0000${ref.name}\u0000${ref.kind}`;
}

/** Orders server ports by workload (namespace, name, kind), then port: refKey's parts hold no
 * U+0000 and a port has at most 5 digits, so comparing these keys compares workloads, then ports. */
function serverSortKey(s: ServerPort): string {
  return `${refKey(s.workload)}\u0000${String(s.port).padStart(5, '0')}`;
}

function flowKey(f: Flow, clientKeys: Map<ClientGroup, string>): string {
  const server = f.server ? serverKey(f.server) : '';
  // Flows share their client group objects: its text (hundreds of namespaces) is built once.
  let clients = clientKeys.get(f.clients);
  if (clients === undefined) clientKeys.set(f.clients, (clients = clientsText(f.clients, Infinity)));
  return [f.host, String(f.servicePort).padStart(5, '0'), f.subset ?? '', clients, server].join('\u0000');
}

/** How many items a step of the scan's walks handles (a step is microseconds of work). */
const ITEMS_PER_STEP = 64;

/** How many comparisons a step of mergeSortSteps makes. */
const COMPARISONS_PER_STEP = 1024;

/**
 * A stable bottom-up merge sort in steps: the same order as Array.prototype.sort (stable too) with
 * the same comparator, without one long step (sorting 23,000 flow keys of kilobytes took 40-50 ms).
 */
function* mergeSortSteps<T>(items: readonly T[], compare: (a: T, b: T) => number): Generator<void, T[]> {
  const n = items.length;
  let src = items.slice();
  let dst = new Array<T>(n);
  let work = 0;
  for (let width = 1; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(lo + width, n);
      const hi = Math.min(lo + 2 * width, n);
      let i = lo;
      let j = mid;
      let k = lo;
      while (i < mid && j < hi) {
        // The left one first unless the right one is strictly smaller: stable.
        dst[k++] = compare(src[j] as T, src[i] as T) < 0 ? (src[j++] as T) : (src[i++] as T);
        if (++work % COMPARISONS_PER_STEP === 0) yield;
      }
      while (i < mid) dst[k++] = src[i++] as T;
      while (j < hi) dst[k++] = src[j++] as T;
    }
    [src, dst] = [dst, src];
    yield;
  }
  return src;
}

/** Sorts by a key computed once per item (keys are long strings; a comparator would rebuild
 * them), in steps. Stable. */
function* sortedBySteps<T>(items: readonly T[], key: (item: T) => string): Generator<void, T[]> {
  const keyed: { item: T; key: string }[] = [];
  for (let i = 0; i < items.length; i++) {
    const item = items[i] as T;
    keyed.push({ item, key: key(item) });
    if (i % ITEMS_PER_STEP === ITEMS_PER_STEP - 1) yield;
  }
  yield;
  const sorted = yield* mergeSortSteps(keyed, (a, b) => compareText(a.key, b.key));
  yield;
  return sorted.map((k) => k.item);
}

function conflictKey(c: AuthorizationConflict): string {
  return `${serverKey(c.server)}\u0000${refKey(c.authorizationPolicy)}\u0000${c.action}`;
}

/** Runs a step-wise computation (a generator yielding between small units of work) to its end. */
export function drainSteps<T>(steps: Generator<unknown, T>): T {
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
  }
}

/** Sorted copies: the same snapshot gives the same output, whatever order the files came in. */
export function buildScan(answers: MeshAnswers): MeshScan {
  return drainSteps(buildScanSteps(answers));
}

/**
 * buildScan in small steps (a few dozen items each; each sort is one step): what the server runs
 * between admissions. Returns the same scan as buildScan (which drains it).
 */
export function* buildScanSteps(answers: MeshAnswers): Generator<void, MeshScan> {
  const servers = yield* sortedBySteps(answers.serverPorts, serverSortKey);
  const clientKeys = new Map<ClientGroup, string>();
  const flows = yield* sortedBySteps(answers.flows, (f) => flowKey(f, clientKeys));
  const conflicts = yield* sortedBySteps(answers.conflicts, conflictKey);
  const rows = new Map<string, ScanRow>();
  let n = 0;
  for (const server of servers) {
    rows.set(serverKey(server), { server, proxy: proxyOf(server), accepts: acceptsOf(server), plaintextFrom: [], failingFrom: [] });
    if (++n % ITEMS_PER_STEP === 0) yield;
  }
  const outcomes: Record<FlowOutcome, number> = { mtls: 0, plaintext: 0, tls: 0, broken: 0, unknown: 0 };
  for (const flow of flows) {
    if (++n % ITEMS_PER_STEP === 0) yield;
    outcomes[flow.outcome]++;
    const row = flow.server ? rows.get(serverKey(flow.server)) : undefined;
    if (!row) continue;
    if (flow.outcome === 'plaintext') row.plaintextFrom.push(flow);
    if (flow.outcome === 'broken') row.failingFrom.push(flow);
  }
  yield;
  const broken = flows.filter((f) => f.outcome === 'broken');
  yield;
  const list = [...rows.values()];
  const namespaces = new Set<string>();
  const workloads = new Set<string>();
  for (const s of servers) {
    namespaces.add(s.workload.namespace);
    workloads.add(refKey(s.workload));
    if (++n % ITEMS_PER_STEP === 0) yield;
  }
  const summary: ScanSummary = {
    namespaces: namespaces.size,
    workloads: workloads.size,
    serverPorts: list.length,
    plaintextPorts: list.filter((r) => r.accepts !== 'mtls').length,
    flows: flows.length,
    outcomes,
    conflicts: conflicts.length,
    findings: broken.length + conflicts.length,
  };
  return { rootNamespace: answers.rootNamespace, rows: list, flows, broken, conflicts, summary };
}

/** The questions `scanOf` asks a mesh model. */
export type ScannedModel = Pick<MeshModel, 'serverPorts' | 'flows' | 'authorizationConflicts' | 'rootNamespace'>;

/**
 * The whole mesh as `scan` reports it: every server port, flow and authorization conflict of the
 * model, sorted (buildScan). Walks every flow: seconds of CPU on a mesh of 10,000 Services
 * (BENCHMARKS.md "Mesh model"), so the server runs the step-wise form (scanSteps) in slices.
 */
export function scanOf(model: ScannedModel): MeshScan {
  return buildScan({ serverPorts: model.serverPorts(), flows: model.flows(), conflicts: model.authorizationConflicts(), rootNamespace: model.rootNamespace });
}

/**
 * scanOf in small steps: the model's walk (MeshModel.scanSteps, a workload or Service per step),
 * then buildScanSteps. The same scan as scanOf for a model that does not change meanwhile; one
 * that changes between steps gives a scan mixing both meshes (the caller computes again).
 */
export function* scanSteps(model: Pick<MeshModel, 'scanSteps' | 'rootNamespace'>): Generator<void, MeshScan> {
  const rootNamespace = model.rootNamespace;
  const answers = yield* model.scanSteps();
  return yield* buildScanSteps({ ...answers, rootNamespace });
}
