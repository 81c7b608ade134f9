// Cluster mode: the mesh's wgpolicyk8s.io/v1alpha2 reports kept in the cluster, the same reports
// `mtls-guard scan -o policyreport` prints for the same objects (src/reports/policy-report.ts, one
// implementation): a PolicyReport `mtls-guard-mesh` in each namespace with results, and one
// ClusterPolicyReport `mtls-guard-mesh` for mesh-wide findings (the root namespace's).
//
// cluster-state.ts hands the writer the reports it computed with the gauges (off the request
// path, after a change, at most every 10 s, longer when slow); the writer compares them with what
// it last wrote and does nothing when no report's content changed. Otherwise it lists the reports
// carrying its label (app.kubernetes.io/managed-by=mtls-guard), replaces those whose results or
// summary differ (timestamps aside), creates the missing ones and deletes its reports from
// namespaces that no longer have results. A report of the same name without the label is never
// touched. Only when the CRDs are served (discovered; looked for again every minute while absent).
//
// Never blocks admissions: requests run in the background, failures are logged and counted
// (mtls_guard_policy_report_writes_total{result="error"}) and retried at the next interval.
// Several replicas each write: their content is identical for the same objects and a replica
// writes only what differs from the cluster's copy, so they converge (docs/cluster-mode.md).
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Counter } from 'prom-client';
import { POLICY_REPORT_API_VERSION, REPORT_NAME, type PolicyReport } from '../reports/policy-report.js';
import { errorMessage } from '../util/errors.js';
import { ApiError, getJson, requestJson, type Method } from './cluster-api.js';
import type { Metrics } from './metrics.js';

const GROUP = 'wgpolicyk8s.io';
const VERSION = 'v1alpha2';
const BASE = `/apis/${GROUP}/${VERSION}`;
export const MANAGED_BY = { key: 'app.kubernetes.io/managed-by', value: 'mtls-guard' };
const SELECTOR = `${MANAGED_BY.key}=${MANAGED_BY.value}`;
const PAGE_SIZE = 500;

/** What a write did: created, replaced, deleted, skipped (a report of ours by name without our label), error. */
export type WriteResult = 'created' | 'replaced' | 'deleted' | 'skipped' | 'error';

const writeCounters = new WeakMap<Metrics, Counter<'result'>>();

/** mtls_guard_policy_report_writes_total{result}, registered once per registry. */
export function policyReportWrites(metrics: Metrics): Counter<'result'> {
  let counter = writeCounters.get(metrics);
  if (!counter) {
    counter = new Counter({
      name: 'mtls_guard_policy_report_writes_total',
      help: 'Cluster mode: PolicyReport and ClusterPolicyReport writes by result: created, replaced (content changed), deleted (namespace without results), skipped (a report of that name without the managed-by label: left alone), error (retried at the next interval).',
      labelNames: ['result'],
      registers: [metrics.registry],
    });
    writeCounters.set(metrics, counter);
  }
  return counter;
}

/** '' for the ClusterPolicyReport, else the namespace. */
function keyOf(r: { metadata: { namespace?: string } }): string {
  return r.metadata.namespace ?? '';
}

/** JSON with object keys sorted (undefined members left out), as the API server returns custom resources. */
function sortedJson(value: unknown): string {
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      // As Array.prototype.join: an element JSON cannot write (undefined) writes nothing.
      out += (sortedJson(value[i]) as string | undefined) ?? '';
    }
    return `${out}]`;
  }
  if (typeof value === 'object' && value !== null) {
    const o = value as Record<string, unknown>;
    let out = '{';
    let first = true;
    for (const k of Object.keys(o).sort()) {
      const v = o[k];
      if (v === undefined) continue;
      out += `${first ? '' : ','}${JSON.stringify(k)}:${sortedJson(v)}`;
      first = false;
    }
    return `${out}}`;
  }
  return JSON.stringify(value);
}

/**
 * reportContent in pieces, a result per piece: `{"results":[`, each result without its timestamp
 * as sorted JSON, then `],"summary":...}` (keys sorted: results before summary).
 */
function* contentPieces(report: { summary?: unknown; results?: unknown }): Generator<string> {
  const results: unknown[] = Array.isArray(report.results) ? (report.results as unknown[]) : [];
  yield '{"results":[';
  for (let i = 0; i < results.length; i++) {
    const r = results[i];
    let stripped = r;
    if (typeof r === 'object' && r !== null) {
      const copy: Record<string, unknown> = { ...(r as Record<string, unknown>) };
      delete copy['timestamp'];
      stripped = copy;
    }
    yield `${i > 0 ? ',' : ''}${(sortedJson(stripped) as string | undefined) ?? ''}`;
  }
  yield `],"summary":${sortedJson(report.summary ?? {})}}`;
}

/**
 * The part of a report that says something: its summary and results without their timestamps,
 * as canonical JSON (keys sorted, as the API server returns custom resources). Two reports with
 * the same content are not written twice, whatever time they were computed at.
 */
export function reportContent(report: { summary?: unknown; results?: unknown }): string {
  let out = '';
  for (const piece of contentPieces(report)) out += piece;
  return out;
}

/**
 * The SHA-256 (hex) of reportContent, one result per step: a report of hundreds of results takes
 * tens of milliseconds to hash, so cluster mode hashes between admissions. The hash of a report
 * we build and of the cluster's copy of it are equal when their content is (both canonical).
 */
export function* contentHashSteps(report: { summary?: unknown; results?: unknown }): Generator<void, string> {
  const hash = createHash('sha256');
  for (const piece of contentPieces(report)) {
    hash.update(piece);
    yield;
  }
  return hash.digest('hex');
}

function contentHash(report: { summary?: unknown; results?: unknown }): string {
  const steps = contentHashSteps(report);
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
  }
}

/** Longest synchronous stretch of the background writer's hashing of listed reports (ms). */
const LIST_SLICE_MS = 15;

function collection(namespace: string): string {
  return namespace ? `${BASE}/namespaces/${encodeURIComponent(namespace)}/policyreports` : `${BASE}/clusterpolicyreports`;
}

function what(namespace: string): string {
  return namespace ? `PolicyReport ${namespace}/${REPORT_NAME}` : `ClusterPolicyReport ${REPORT_NAME}`;
}

interface Existing {
  resourceVersion: string;
  hash: string;
}

interface ListedReport {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> };
  summary?: unknown;
  results?: unknown;
}

export interface ReportWriterOptions {
  logger: Logger;
  metrics: Metrics;
  /** How often the CRDs are looked for again while absent (ms). */
  rediscoverMs: number;
  /** Called when the CRDs appear after having been absent: the caller hands in fresh reports. */
  onServed?: () => void;
  /**
   * How often the cluster's reports are compared again even without a change in the mesh (ms;
   * default 10 min): a report deleted or edited by hand comes back then.
   */
  resyncMs?: number;
}

export const DEFAULT_RESYNC_MS = 10 * 60_000;

/** The PolicyReports of one server kept current in the cluster; see the file comment. */
export class PolicyReportWriter {
  /** undefined until discovery answered; false while the CRDs are not served. */
  private served: boolean | undefined;
  private lastDiscovery = 0;
  private absentLogged = false;
  /** Why the reports may not be listed (403: no RBAC for them), while served is false for it. */
  private forbidden: string | undefined;
  /** Content hash by key of what the cluster holds after the last run that fully succeeded. */
  private written: Map<string, string> | undefined;
  /** When the cluster's reports were last listed and compared (ms since the epoch). */
  private lastCompared = 0;
  /** The reports as they should be, with their content hashes, by key. */
  private desired: Map<string, { report: PolicyReport; hash: string }> | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private failed = false;
  private lastError: string | undefined;
  private readonly foreign = new Set<string>();
  private readonly abort = new AbortController();
  private readonly log: Logger;
  private readonly writes: Counter<'result'>;

  constructor(
    private readonly config: KubeConfig,
    private readonly options: ReportWriterOptions,
  ) {
    this.log = options.logger.child({ component: 'policy-reports' });
    this.writes = policyReportWrites(options.metrics);
  }

  /** Whether reports are worth computing: the CRDs are served, or not known yet to be absent. */
  wanted(): boolean {
    return this.served !== false && !this.abort.signal.aborted;
  }

  /**
   * The reports as they should be now; written in the background (only what changed). Their
   * content hashes are computed here, synchronously, so the caller's duty-cycle timing counts them.
   */
  update(reports: PolicyReport[]): void {
    this.updateHashed(reports.map((report) => ({ report, hash: contentHash(report) })));
  }

  /** As update, with each report's content hash already computed (contentHashSteps), so a caller can hash step by step. */
  updateHashed(reports: readonly { report: PolicyReport; hash: string }[]): void {
    this.desired = new Map(reports.map((r) => [keyOf(r.report), r]));
    this.kick();
  }

  /** At each interval: retries after a failure, looks for the CRDs again while they are absent. */
  tick(): void {
    if (this.running || this.abort.signal.aborted) return;
    if (this.failed) return this.kick();
    if (this.written && Date.now() - this.lastCompared >= (this.options.resyncMs ?? DEFAULT_RESYNC_MS)) {
      this.written = undefined;
      return this.kick();
    }
    if (this.served === false && Date.now() - this.lastDiscovery >= this.options.rediscoverMs) this.kick();
  }

  /** For /readyz's detail. */
  status(): string {
    if (this.served === false) return this.forbidden ? `not written: ${this.forbidden}` : `not written: the ${GROUP}/${VERSION} CRDs are not served`;
    if (this.failed) return `failing: ${this.lastError ?? 'error'}`;
    if (this.written) return `current: ${this.written.size} reports`;
    return 'pending';
  }

  /** Resolves once no write is in flight (tests); never rejects. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Stops: requests in flight are aborted, nothing new is started. */
  async close(): Promise<void> {
    this.abort.abort();
    await this.idle();
  }

  private kick(): void {
    if (this.abort.signal.aborted) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.run()
      .catch((err: unknown) => {
        this.fail(undefined, err);
      })
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private fail(namespace: string | undefined, err: unknown): void {
    if (this.abort.signal.aborted) return;
    this.failed = true;
    this.lastError = errorMessage(err);
    this.writes.inc({ result: 'error' });
    this.log.warn({ ...(namespace !== undefined && { report: what(namespace) }), err: this.lastError }, 'policy reports could not be written: retrying at the next interval');
  }

  private request(method: Method, path: string, body?: unknown): Promise<unknown> {
    return requestJson(this.config, method, path, body, this.abort.signal);
  }

  /** Whether the CRDs are served (asks the API server when not known, or when due again). */
  private async discover(): Promise<boolean> {
    if (this.served === true) return true;
    if (this.served === false && Date.now() - this.lastDiscovery < this.options.rediscoverMs) return false;
    this.lastDiscovery = Date.now();
    const groups = ((await getJson(this.config, '/apis')) as { groups?: { name?: string; versions?: { version?: string }[] }[] }).groups ?? [];
    const group = groups.find((g) => g.name === GROUP);
    let found = false;
    if (group?.versions?.some((v) => v.version === VERSION)) {
      const resources = ((await getJson(this.config, BASE)) as { resources?: { name?: string }[] }).resources ?? [];
      found = ['policyreports', 'clusterpolicyreports'].every((name) => resources.some((r) => r.name === name));
    }
    const before = this.served;
    this.served = found;
    if (!found && !this.absentLogged) {
      this.absentLogged = true;
      this.log.info({ rediscoverMs: this.options.rediscoverMs }, `the ${GROUP}/${VERSION} PolicyReport CRDs are not served: no reports written; looking again later`);
    }
    if (found && !this.forbidden) {
      this.absentLogged = false;
      this.log.info(`the ${GROUP}/${VERSION} PolicyReport CRDs are served: keeping the mesh's reports current`);
      if (before === false) this.options.onServed?.();
    }
    return found;
  }

  /** Every report of ours (by name and label) in the cluster, by key. */
  private async listOurs(): Promise<Map<string, Existing>> {
    const out = new Map<string, Existing>();
    for (const path of [`${BASE}/policyreports`, `${BASE}/clusterpolicyreports`]) {
      let next: string | undefined;
      do {
        const query = new URLSearchParams({ labelSelector: SELECTOR, limit: String(PAGE_SIZE) });
        if (next) query.set('continue', next);
        const page = (await this.request('GET', `${path}?${query.toString()}`)) as { metadata?: { continue?: string }; items?: ListedReport[] };
        // A page holds up to 500 reports (megabytes): hashed a result at a time, handing the
        // event loop back to admissions every LIST_SLICE_MS.
        let slice = performance.now();
        for (const item of page.items ?? []) {
          const m = item.metadata;
          if (m?.name !== REPORT_NAME || m.labels?.[MANAGED_BY.key] !== MANAGED_BY.value) continue;
          const steps = contentHashSteps(item);
          let next = steps.next();
          while (!next.done) {
            if (performance.now() - slice >= LIST_SLICE_MS) {
              await new Promise<void>((resolve) => setImmediate(resolve));
              if (this.abort.signal.aborted) return out;
              slice = performance.now();
            }
            next = steps.next();
          }
          out.set(m.namespace ?? '', { resourceVersion: m.resourceVersion ?? '', hash: next.value });
        }
        next = page.metadata?.continue || undefined;
      } while (next);
    }
    return out;
  }

  private async run(): Promise<void> {
    const want = this.desired;
    if (!want) return;
    this.failed = false;
    if (!(await this.discover())) return;
    const unchanged = this.written && this.written.size === want.size && [...want].every(([k, w]) => this.written?.get(k) === w.hash);
    if (unchanged) return;

    let existing: Map<string, Existing>;
    try {
      existing = await this.listOurs();
    } catch (err) {
      // The CRDs removed since discovery: look for them again.
      if (err instanceof ApiError && err.statusCode === 404) this.served = undefined;
      // No RBAC for the reports (the chart's cluster.policyReports.enabled false without
      // --no-policy-reports): like absent CRDs, said once and asked again every rediscoverMs.
      if (err instanceof ApiError && err.statusCode === 403) {
        if (!this.forbidden) this.log.warn({ err: err.message }, 'not allowed to list PolicyReports: no reports written; asking again later (grant the chart\'s policy-reports ClusterRole, or run with --no-policy-reports)');
        this.forbidden = err.message;
        this.served = false;
        this.absentLogged = true;
        return;
      }
      throw err;
    }
    if (this.forbidden) {
      this.forbidden = undefined;
      this.log.info('allowed to list PolicyReports now: keeping the mesh\'s reports current');
      // The reports at hand were computed before the refusal: have them computed afresh.
      this.options.onServed?.();
    }
    this.lastCompared = Date.now();
    const written = new Map<string, string>();
    const counts = { created: 0, replaced: 0, deleted: 0, unchanged: 0 };
    for (const [key, { report, hash }] of want) {
      if (this.abort.signal.aborted) return;
      const e = existing.get(key);
      if (e?.hash === hash) {
        written.set(key, hash);
        counts.unchanged++;
        continue;
      }
      try {
        const result = await this.write(key, report, e);
        this.writes.inc({ result });
        if (result !== 'skipped') counts[result === 'created' ? 'created' : 'replaced']++;
        written.set(key, hash);
      } catch (err) {
        this.fail(key, err);
      }
    }
    for (const key of existing.keys()) {
      if (want.has(key) || this.abort.signal.aborted) continue;
      try {
        await this.request('DELETE', `${collection(key)}/${REPORT_NAME}`);
        this.writes.inc({ result: 'deleted' });
        counts.deleted++;
      } catch (err) {
        if (err instanceof ApiError && err.statusCode === 404) continue;
        this.fail(key, err);
        // Still there: the next full run deletes it (written must not claim the cluster matches).
        written.set(key, 'stale');
      }
    }
    this.written = this.failed ? undefined : written;
    if (counts.created || counts.replaced || counts.deleted) this.log.info(counts, 'policy reports written');
  }

  /** Creates the report, or replaces our copy of it; a report of that name without our label is left alone. */
  private async write(key: string, report: PolicyReport, existing: Existing | undefined): Promise<WriteResult> {
    const body = { ...report, apiVersion: POLICY_REPORT_API_VERSION };
    if (existing) {
      await this.request('PUT', `${collection(key)}/${REPORT_NAME}`, { ...body, metadata: { ...report.metadata, resourceVersion: existing.resourceVersion } });
      return 'replaced';
    }
    try {
      await this.request('POST', collection(key), body);
      this.foreign.delete(key);
      return 'created';
    } catch (err) {
      if (!(err instanceof ApiError && err.statusCode === 409)) throw err;
      // Not in our labelled list, yet there: someone else's report of that name (or another
      // replica's, created since our list: then the next run finds it labelled).
      const current = (await this.request('GET', `${collection(key)}/${REPORT_NAME}`)) as ListedReport;
      if (current.metadata?.labels?.[MANAGED_BY.key] === MANAGED_BY.value) throw err;
      if (!this.foreign.has(key)) {
        this.foreign.add(key);
        this.log.warn({ report: what(key) }, `a report of that name without the label ${SELECTOR} exists: left alone, not written`);
      }
      return 'skipped';
    }
  }
}
