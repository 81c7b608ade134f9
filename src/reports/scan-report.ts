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

function compareServers(a: ServerPort, b: ServerPort): number {
  return compareText(refKey(a.workload), refKey(b.workload)) || a.port - b.port;
}

function flowKey(f: Flow): string {
  const server = f.server ? serverKey(f.server) : '';
  return [f.host, String(f.servicePort).padStart(5, '0'), f.subset ?? '', clientsText(f.clients, Infinity), server].join('\u0000');
}

/** Sorts by a key computed once per item (keys are long strings; a comparator would rebuild them). */
function sortedBy<T>(items: readonly T[], key: (item: T) => string): T[] {
  return items
    .map((item) => ({ item, key: key(item) }))
    .sort((a, b) => compareText(a.key, b.key))
    .map((k) => k.item);
}

function conflictKey(c: AuthorizationConflict): string {
  return `${serverKey(c.server)}\u0000${refKey(c.authorizationPolicy)}\u0000${c.action}`;
}

/** Sorted copies: the same snapshot gives the same output, whatever order the files came in. */
export function buildScan(answers: MeshAnswers): MeshScan {
  const servers = [...answers.serverPorts].sort(compareServers);
  const flows = sortedBy(answers.flows, flowKey);
  const conflicts = sortedBy(answers.conflicts, conflictKey);
  const rows = new Map<string, ScanRow>();
  for (const server of servers) {
    rows.set(serverKey(server), { server, proxy: proxyOf(server), accepts: acceptsOf(server), plaintextFrom: [], failingFrom: [] });
  }
  const outcomes: Record<FlowOutcome, number> = { mtls: 0, plaintext: 0, tls: 0, broken: 0, unknown: 0 };
  for (const flow of flows) {
    outcomes[flow.outcome]++;
    const row = flow.server ? rows.get(serverKey(flow.server)) : undefined;
    if (!row) continue;
    if (flow.outcome === 'plaintext') row.plaintextFrom.push(flow);
    if (flow.outcome === 'broken') row.failingFrom.push(flow);
  }
  const broken = flows.filter((f) => f.outcome === 'broken');
  const list = [...rows.values()];
  const summary: ScanSummary = {
    namespaces: new Set(servers.map((s) => s.workload.namespace)).size,
    workloads: new Set(servers.map((s) => refKey(s.workload))).size,
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
 * (BENCHMARKS.md "Mesh model"), so the server runs it off the request path.
 */
export function scanOf(model: ScannedModel): MeshScan {
  return buildScan({ serverPorts: model.serverPorts(), flows: model.flows(), conflicts: model.authorizationConflicts(), rootNamespace: model.rootNamespace });
}
