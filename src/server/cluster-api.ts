// Requests to the API server with the kubeconfig's credentials (client-node's
// applyToHTTPSOptions: CA, client certificate, bearer token re-read per request, so a rotated
// in-cluster token is picked up). Raw JSON, not client-node's typed models: list items then
// look like watch events (timestamps as strings), and each page is slimmed as it arrives. GETs
// for the informers, discovery and scan; writes only for the PolicyReports (cluster-reports.ts).
import { request as httpRequest } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { collectionPath, groupVersionPath, ISTIO_KINDS, slimObject, type KindToDiscover, type SlimObject, type WatchedKind } from './cluster-kinds.js';

/** An API error with the HTTP status (ListWatch re-lists on 410). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly statusCode: number,
  ) {
    super(message);
  }
}

/** No answer from the API server: refused, reset, unresolvable, timed out (`code`: ECONNREFUSED, ...). */
export class ConnectionError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

const REQUEST_TIMEOUT_MS = 30_000;
const PAGE_SIZE = 500;

/** The methods mtls-guard sends: GET (lists, discovery); POST, PUT, DELETE only for its PolicyReports. */
export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

/**
 * Sends `body` (as JSON, when given) to `path` (with query) and parses the JSON answer (an empty
 * answer is `{}`). A 4xx/5xx answer becomes an ApiError with its status and the API server's
 * `message`; no answer (refused, reset, no answer within 30 s, `signal` aborting) a ConnectionError.
 */
export async function requestJson(config: KubeConfig, method: Method, path: string, body?: unknown, signal?: AbortSignal): Promise<unknown> {
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const url = new URL(cluster.server.replace(/\/+$/, '') + path);
  const options: RequestOptions = {};
  await config.applyToHTTPSOptions(options);
  const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
  const headers: Record<string, string | number> = { Accept: 'application/json' };
  if (payload) Object.assign(headers, { 'Content-Type': 'application/json', 'Content-Length': payload.length });
  return new Promise((resolve, reject) => {
    const req = send(url, { ...options, method, headers: { ...options.headers, ...headers }, timeout: REQUEST_TIMEOUT_MS, ...(signal && { signal }) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 299) {
          let message = text.slice(0, 300);
          try {
            const parsed = JSON.parse(text) as { message?: unknown };
            if (typeof parsed.message === 'string') message = parsed.message;
          } catch {
            // not JSON: the start of the body is the message
          }
          reject(new ApiError(`${method} ${url.pathname}: ${status} ${message}`, status));
          return;
        }
        try {
          resolve(text ? JSON.parse(text) : {});
        } catch (err) {
          reject(new Error(`${method} ${url.pathname}: the answer is not JSON`, { cause: err }));
        }
      });
    });
    req.on('timeout', () => req.destroy(new ConnectionError(`${method} ${url.pathname}: no answer within ${REQUEST_TIMEOUT_MS / 1000} s`, 'ETIMEDOUT')));
    req.on('error', (err: NodeJS.ErrnoException) => {
      reject(err instanceof ConnectionError ? err : new ConnectionError(`${method} ${url.pathname}: ${err.message}`, err.code, { cause: err }));
    });
    req.end(payload);
  });
}

/** GET `path` (with query) and parse the JSON answer; 4xx/5xx become an ApiError. */
export function getJson(config: KubeConfig, path: string): Promise<unknown> {
  return requestJson(config, 'GET', path);
}

export interface SlimList {
  metadata: { resourceVersion: string };
  items: SlimObject[];
}

/** Lists every object of `kind` in pages of 500 (one consistent snapshot), slimmed page by page. */
export async function listSlim(config: KubeConfig, kind: WatchedKind): Promise<SlimList> {
  const items: SlimObject[] = [];
  let resourceVersion = '';
  let next: string | undefined;
  do {
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (next) query.set('continue', next);
    const page = (await getJson(config, `${collectionPath(kind)}?${query.toString()}`)) as { metadata?: { resourceVersion?: string; continue?: string }; items?: unknown[] };
    for (const raw of page.items ?? []) {
      const slim = slimObject(kind, raw);
      if (slim) items.push(slim);
    }
    resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
    next = page.metadata?.continue || undefined;
  } while (next);
  return { metadata: { resourceVersion }, items };
}

interface GroupList {
  groups?: { name?: string; preferredVersion?: { version?: string }; versions?: { version?: string }[] }[];
}

interface ResourceList {
  resources?: { name?: string; kind?: string }[];
}

/**
 * Which of `wanted` the API server serves (their CRDs installed, their add-on present), each at the
 * preferred version of its group that has the resource (plural and kind both match), else the
 * first other version that has it (Kubernetes' discovery order). Kinds not served are left out,
 * not an error. Core-group kinds (group "") are looked for in `/api/v1`.
 * @throws ApiError / ConnectionError when discovery itself fails.
 */
export async function discoverKinds(config: KubeConfig, wanted: readonly KindToDiscover[]): Promise<WatchedKind[]> {
  const groupNames = [...new Set(wanted.map((k) => k.group))];
  const groups = groupNames.some((g) => g !== '') ? (((await getJson(config, '/apis')) as GroupList).groups ?? []) : [];
  const found: WatchedKind[] = [];
  for (const groupName of groupNames) {
    let versions: string[];
    if (groupName === '') versions = ['v1'];
    else {
      const group = groups.find((g) => g.name === groupName);
      if (!group) continue;
      const preferred = group.preferredVersion?.version;
      versions = [...new Set([preferred, ...(group.versions ?? []).map((v) => v.version)])].filter((v): v is string => typeof v === 'string');
    }
    const inGroup = wanted.filter((k) => k.group === groupName);
    const missing = new Set(inGroup.map((k) => k.kind));
    for (const version of versions) {
      if (missing.size === 0) break;
      const resources = ((await getJson(config, groupVersionPath(groupName, version))) as ResourceList).resources ?? [];
      for (const k of inGroup) {
        if (!missing.has(k.kind) || !resources.some((r) => r.name === k.plural && r.kind === k.kind)) continue;
        missing.delete(k.kind);
        found.push({ ...k, version });
      }
    }
  }
  return found;
}

/** Which of Istio's kinds the API server serves (discoverKinds on ISTIO_KINDS). */
export async function discoverIstioKinds(config: KubeConfig): Promise<WatchedKind[]> {
  return discoverKinds(config, ISTIO_KINDS);
}
