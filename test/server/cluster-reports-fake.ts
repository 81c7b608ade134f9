// The wgpolicyk8s.io/v1alpha2 reports API in front of the fake API server (cluster-fake-api.ts):
// a relay on 127.0.0.1 that serves discovery of the group (when its CRDs are "installed"), the
// PolicyReport and ClusterPolicyReport collections (list with labelSelector, get, create, replace
// with resourceVersion conflicts, delete), and passes every other request (lists, watches) to the
// fake API server. Writes can be made to fail (500) to test the retries.
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import type { FakeApi } from './cluster-fake-api.js';

const BASE = '/apis/wgpolicyk8s.io/v1alpha2';

export interface StoredReport {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> };
  summary?: Record<string, number>;
  results?: Record<string, unknown>[];
}

export class FakeReportsApi {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  /** Key: `namespace/name` ('' namespace for ClusterPolicyReports). */
  readonly reports = new Map<string, StoredReport>();
  /** Every write: `POST ns`, `PUT ns/name`, `DELETE ns/name` ('' for cluster-scoped). */
  readonly writes: string[] = [];
  /** Whether the CRDs are served. */
  crds = true;
  /** Every request for reports answered 403 (no RBAC for them), discovery aside. */
  forbid = false;
  /** Writes answered 500 while above 0 (each failed write counts one down). */
  failWrites = 0;
  private rv = 1;

  constructor(private readonly upstream: FakeApi) {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  kubeConfig(): KubeConfig {
    const config = new KubeConfig();
    config.loadFromOptions({
      clusters: [{ name: 'fake', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'reader', token: 'not-a-secret' }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'reader' }],
      currentContext: 'fake',
    });
    return config;
  }

  /** Stores a report as if someone had created it (any labels). */
  seed(report: StoredReport): void {
    this.reports.set(`${report.metadata.namespace ?? ''}/${report.metadata.name}`, { ...report, metadata: { ...report.metadata, resourceVersion: String(++this.rv) } });
  }

  /** The stored report of mtls-guard's name in `namespace` ('' for the cluster one). */
  report(namespace: string, name = 'mtls-guard-mesh'): StoredReport | undefined {
    return this.reports.get(`${namespace}/${name}`);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private status(res: ServerResponse, code: number, reason: string, message: string): void {
    this.json(res, code, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, message, code });
  }

  private async body(req: IncomingMessage): Promise<StoredReport> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as StoredReport;
  }

  private relay(req: IncomingMessage, res: ServerResponse, rewrite?: (body: string) => string): void {
    const up = request(`${this.upstream.url}${req.url ?? '/'}`, { method: req.method, headers: req.headers }, (answer) => {
      if (!rewrite) {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        return;
      }
      const chunks: Buffer[] = [];
      answer.on('data', (c: Buffer) => chunks.push(c));
      answer.on('end', () => this.json(res, answer.statusCode ?? 502, JSON.parse(rewrite(Buffer.concat(chunks).toString('utf8')))));
    });
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy());
    req.pipe(up);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const path = url.pathname;
    if (path === '/apis') {
      return this.relay(req, res, (text) => {
        const list = JSON.parse(text) as { groups: unknown[] };
        if (this.crds) list.groups.push({ name: 'wgpolicyk8s.io', versions: [{ version: 'v1alpha2' }], preferredVersion: { version: 'v1alpha2' } });
        return JSON.stringify(list);
      });
    }
    if (!path.startsWith(`${BASE}`)) return this.relay(req, res);
    if (!this.crds) return this.status(res, 404, 'NotFound', 'the server could not find the requested resource');
    if (path === BASE) {
      return this.json(res, 200, { resources: [{ name: 'policyreports', kind: 'PolicyReport', namespaced: true }, { name: 'clusterpolicyreports', kind: 'ClusterPolicyReport', namespaced: false }] });
    }
    if (this.forbid) return this.status(res, 403, 'Forbidden', `policyreports.wgpolicyk8s.io is forbidden: User "reader" cannot ${req.method ?? 'GET'} resource "policyreports"`);
    const m = /^\/apis\/wgpolicyk8s\.io\/v1alpha2\/(?:namespaces\/([^/]+)\/)?(policyreports|clusterpolicyreports)(?:\/([^/]+))?$/.exec(path);
    if (!m) return this.status(res, 404, 'NotFound', `no such path ${path}`);
    const namespace = m[1] ?? '';
    const cluster = m[2] === 'clusterpolicyreports';
    const name = m[3];
    const method = req.method ?? 'GET';
    if (method !== 'GET' && this.failWrites > 0) {
      this.failWrites--;
      this.writes.push(`${method} failed`);
      return this.status(res, 500, 'InternalError', 'etcd is unhappy');
    }
    if (method === 'GET' && name === undefined) {
      const [key, value] = (url.searchParams.get('labelSelector') ?? '=').split('=');
      const items = [...this.reports.values()].filter(
        (r) => (cluster ? r.metadata.namespace === undefined : r.metadata.namespace !== undefined) && (!namespace || r.metadata.namespace === namespace) && (!key || r.metadata.labels?.[key] === value),
      );
      // The API server returns custom resources with their keys sorted.
      return this.json(res, 200, JSON.parse(JSON.stringify({ kind: cluster ? 'ClusterPolicyReportList' : 'PolicyReportList', metadata: { resourceVersion: String(this.rv) }, items }, sortKeys)));
    }
    const key = `${namespace}/${name ?? ''}`;
    if (method === 'GET') {
      const r = this.reports.get(key);
      return r ? this.json(res, 200, r) : this.status(res, 404, 'NotFound', `${key} not found`);
    }
    if (method === 'DELETE') {
      this.writes.push(`DELETE ${key}`);
      if (!this.reports.delete(key)) return this.status(res, 404, 'NotFound', `${key} not found`);
      return this.json(res, 200, { kind: 'Status', status: 'Success' });
    }
    const body = await this.body(req);
    if (method === 'POST') {
      const k = `${namespace}/${body.metadata.name}`;
      this.writes.push(`POST ${k}`);
      if (this.reports.has(k)) return this.status(res, 409, 'AlreadyExists', `${k} already exists`);
      const stored = { ...body, metadata: { ...body.metadata, ...(namespace && { namespace }), resourceVersion: String(++this.rv) } };
      this.reports.set(k, stored);
      return this.json(res, 201, stored);
    }
    if (method === 'PUT') {
      this.writes.push(`PUT ${key}`);
      const current = this.reports.get(key);
      if (!current) return this.status(res, 404, 'NotFound', `${key} not found`);
      if (body.metadata.resourceVersion !== current.metadata.resourceVersion) return this.status(res, 409, 'Conflict', 'the object has been modified');
      const stored = { ...body, metadata: { ...body.metadata, resourceVersion: String(++this.rv) } };
      this.reports.set(key, stored);
      return this.json(res, 200, stored);
    }
    return this.status(res, 405, 'MethodNotAllowed', method);
  }
}

function sortKeys(_key: string, value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value as Record<string, unknown>).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
}
