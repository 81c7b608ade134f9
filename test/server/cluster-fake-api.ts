// A fake Kubernetes API server on 127.0.0.1 for the cluster-mode tests: discovery, lists (one
// page) and watches (JSON lines) of whatever collections the test fills, with the failures the
// informers must survive: everything refused (503), watches cut, 410 Gone on a resumed watch,
// and lists held back (not synced yet); more groups served (and withdrawn) at run time, lists
// paged with limit/continue, collections refused with 403.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

type Obj = { metadata: { name: string; namespace?: string; resourceVersion?: string; [key: string]: unknown } } & Record<string, unknown>;

interface Watcher {
  path: string;
  res: ServerResponse;
}

export interface FakeApiOptions {
  /** Serve the Istio groups (their CRDs installed); default true. */
  istio?: boolean;
}

export class FakeApi {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly collections = new Map<string, Map<string, Obj>>();
  private readonly watchers = new Set<Watcher>();
  /** Every event, so a watch resuming from a resourceVersion gets what happened since. */
  private readonly history: { rv: number; path: string; line: string }[] = [];
  private rv = 100;
  /** Watches resuming from a resourceVersion below this get 410 Gone. */
  private oldestRv = 0;
  private failing = false;
  private holdLists: Promise<void> | undefined;
  private releaseLists: (() => void) | undefined;
  readonly requests: string[] = [];
  /** List pages served (a paged list counts each page). */
  pages = 0;
  /** Groups served besides apps and Istio's: group -> version -> resources (a CRD installed). */
  private readonly groups = new Map<string, Map<string, { name: string; kind: string }[]>>();
  private readonly forbidden = new Set<string>();

  constructor(private readonly options: FakeApiOptions = {}) {
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

  /** Lists wait until release() (the informers cannot sync meanwhile). */
  hold(): void {
    this.holdLists = new Promise((resolve) => (this.releaseLists = resolve));
  }

  release(): void {
    this.releaseLists?.();
    this.holdLists = undefined;
  }

  /** Refuses every request with 503 and cuts every open watch. */
  fail(): void {
    this.failing = true;
    this.cutWatches();
  }

  recover(): void {
    this.failing = false;
  }

  /** Ends every open watch (as the API server does at its timeout, or on restart). */
  cutWatches(): void {
    for (const w of this.watchers) w.res.socket?.destroy();
    this.watchers.clear();
  }

  /** Forgets the history: a watch resuming from an older resourceVersion gets 410 Gone. */
  compact(): void {
    this.oldestRv = this.rv + 1;
  }

  /** Serves `group/version` with these resources from now on (a CRD installed, an add-on present). */
  serveGroup(group: string, version: string, resources: { name: string; kind: string }[]): void {
    let versions = this.groups.get(group);
    if (!versions) this.groups.set(group, (versions = new Map()));
    versions.set(version, resources);
  }

  /** Stops serving a group added with serveGroup (its CRDs removed). */
  withdrawGroup(group: string): void {
    this.groups.delete(group);
  }

  /** Answers 403 Forbidden to lists and watches of this collection path (RBAC missing). */
  forbid(path: string): void {
    this.forbidden.add(path);
  }

  put(path: string, object: Obj): void {
    const items = this.collection(path);
    const key = `${object.metadata.namespace ?? ''}/${object.metadata.name}`;
    const type = items.has(key) ? 'MODIFIED' : 'ADDED';
    const stored = { ...object, metadata: { ...object.metadata, resourceVersion: String(++this.rv) } };
    items.set(key, stored);
    this.notify(path, type, stored);
  }

  remove(path: string, namespace: string, name: string): void {
    const items = this.collection(path);
    const key = `${namespace}/${name}`;
    const stored = items.get(key);
    if (!stored) return;
    items.delete(key);
    this.notify(path, 'DELETED', { ...stored, metadata: { ...stored.metadata, resourceVersion: String(++this.rv) } });
  }

  async close(): Promise<void> {
    this.release();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private collection(path: string): Map<string, Obj> {
    let items = this.collections.get(path);
    if (!items) this.collections.set(path, (items = new Map()));
    return items;
  }

  private notify(path: string, type: string, object: Obj): void {
    const line = `${JSON.stringify({ type, object })}\n`;
    this.history.push({ rv: this.rv, path, line });
    for (const w of this.watchers) if (w.path === path) w.res.write(line);
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    this.requests.push(`${url.pathname}${url.searchParams.get('watch') ? '?watch' : ''}`);
    if (this.failing) return this.json(res, 503, { kind: 'Status', message: 'the fake API server is down', code: 503 });
    const path = url.pathname;
    if (path === '/apis') {
      const istio = this.options.istio ?? true;
      const groups = istio
        ? ['security.istio.io', 'networking.istio.io'].map((name) => ({ name, versions: [{ version: 'v1' }, { version: 'v1beta1' }], preferredVersion: { version: 'v1' } }))
        : [];
      const more = [...this.groups].map(([name, versions]) => ({ name, versions: [...versions.keys()].map((version) => ({ version })), preferredVersion: { version: [...versions.keys()][0] } }));
      return this.json(res, 200, { kind: 'APIGroupList', groups: [{ name: 'apps', versions: [{ version: 'v1' }], preferredVersion: { version: 'v1' } }, ...groups, ...more] });
    }
    const served = /^\/apis\/([^/]+)\/([^/]+)$/.exec(path);
    const resources = served && this.groups.get(served[1] ?? '')?.get(served[2] ?? '');
    if (resources) return this.json(res, 200, { resources });
    if (this.forbidden.has(path)) {
      const plural = path.split('/').pop() ?? '';
      return this.json(res, 403, { kind: 'Status', code: 403, reason: 'Forbidden', message: `${plural} is forbidden: User "reader" cannot list resource "${plural}" at the cluster scope` });
    }
    if (path === '/apis/security.istio.io/v1') {
      return this.json(res, 200, { resources: [{ name: 'peerauthentications', kind: 'PeerAuthentication' }, { name: 'authorizationpolicies', kind: 'AuthorizationPolicy' }] });
    }
    if (path === '/apis/networking.istio.io/v1') {
      return this.json(res, 200, { resources: [{ name: 'destinationrules', kind: 'DestinationRule' }, { name: 'serviceentries', kind: 'ServiceEntry' }] });
    }
    if (url.searchParams.get('watch') === 'true') {
      const from = Number(url.searchParams.get('resourceVersion') ?? '0');
      res.writeHead(200, { 'content-type': 'application/json' });
      if (from < this.oldestRv) {
        res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' } })}\n`);
        return;
      }
      const watcher = { path, res };
      this.watchers.add(watcher);
      res.on('close', () => this.watchers.delete(watcher));
      for (const e of this.history) if (e.path === path && e.rv > from) res.write(e.line);
      res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { kind: 'Bookmark', metadata: { resourceVersion: String(this.rv) } } })}\n`);
      return;
    }
    if (this.holdLists) await this.holdLists;
    if (this.failing) return this.json(res, 503, { kind: 'Status', message: 'the fake API server is down', code: 503 });
    // List items carry no apiVersion/kind, as from the real API server.
    const all = [...this.collection(path).values()].map((o) => {
      const copy: Record<string, unknown> = { ...o };
      delete copy['apiVersion'];
      delete copy['kind'];
      return copy;
    });
    // Pages as the API server makes them: `limit` items, and a continue token for the rest.
    const limit = Number(url.searchParams.get('limit') ?? '0');
    const from = Number(url.searchParams.get('continue') ?? '0');
    const items = limit > 0 ? all.slice(from, from + limit) : all.slice(from);
    const rest = limit > 0 && from + limit < all.length ? { continue: String(from + limit) } : {};
    this.pages++;
    return this.json(res, 200, { kind: 'List', metadata: { resourceVersion: String(this.rv), ...rest }, items });
  }
}

export const PATHS = {
  namespaces: '/api/v1/namespaces',
  services: '/api/v1/services',
  deployments: '/apis/apps/v1/deployments',
  jobs: '/apis/batch/v1/jobs',
  cronJobs: '/apis/batch/v1/cronjobs',
  deploymentConfigs: '/apis/apps.openshift.io/v1/deploymentconfigs',
  rollouts: '/apis/argoproj.io/v1alpha1/rollouts',
  peerAuthentications: '/apis/security.istio.io/v1/peerauthentications',
  destinationRules: '/apis/networking.istio.io/v1/destinationrules',
};
