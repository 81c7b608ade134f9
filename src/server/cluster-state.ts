// Cluster mode: the mesh model kept current from the API server, for the validating webhook's
// mesh-aware rules. One informer per kind the model reads (cluster-kinds.ts), Istio's kinds only
// when their CRDs are served. Each event is applied to the model incrementally; the model is
// rebuilt from the informers' slim caches only when the policy it was built with changes, in the
// background (cluster-rebuild.ts), the mesh unavailable meanwhile.
//
// Never blocks on the cluster: until every informer has listed, while any list or watch is
// failing, and while the model is rebuilt for a reloaded policy, `current()` says why the mesh is
// not available, and the request is judged alone (mesh-handler.ts). Readiness does not depend
// on it: the API server must be able to call the webhook that guards it whatever the state of its
// own watches.
//
// The race between an admission and the cache: the object being admitted is not in the cache
// yet (or an older version of it is). The model's questions put the admitted object in place of
// the stored one (destinationRuleFlows, peerAuthenticationEffect), so its own previous version
// never decides; what can lag is the rest of the mesh (objects admitted moments earlier and not
// yet seen by the watch), for the time a watch event takes to arrive.
import { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Policy } from '../engine/index.js';
import { MeshModel, sameModelInputs, type ModelInputs } from '../mesh/index.js';
import { discoverKinds } from './cluster-api.js';
import { refreshSteps, runInSlices, setMeshGauges } from './cluster-gauges.js';
import { meshKeyOf as keyOf, ModelRebuild } from './cluster-rebuild.js';
import { PolicyReportWriter } from './cluster-reports.js';
import { DEFAULT_BACKOFF, KindWatch, type BackoffOptions, type KindPhase } from './cluster-informer.js';
import { BUILT_IN_KINDS, optionalKinds, withoutNameClashes, type SlimObject, type WatchedKind } from './cluster-kinds.js';
import type { AdmissionContext } from './handler.js';
import type { MeshAvailability, MeshSource } from './mesh-handler.js';
import type { Metrics } from './metrics.js';
import { errorMessage } from '../util/errors.js';

export interface ClusterOptions {
  /** A kubeconfig file; without one client-node's default (KUBECONFIG, ~/.kube/config, in-cluster). */
  kubeconfig?: string;
  backoff?: BackoffOptions;
  /** How often kinds whose CRD was absent are looked for again. */
  rediscoverMs?: number;
  /** Least time between two computations of the mesh gauges (and of the PolicyReports). */
  gaugeIntervalMs?: number;
  /**
   * Longest slice of that computation, and of a rebuild of the model after a policy reload,
   * before the event loop answers admissions (ms; default GAUGE_SLICE_MS; 0: a step per slice).
   */
  gaugeSliceMs?: number;
  /** Awaited between two slices of a gauges run (tests: to change the mesh or close while a run is under way). */
  onGaugeSlice?: (run: number, slice: number) => Promise<void> | void;
  /** Awaited between two slices of a rebuild of the model (tests: events, reloads or close() mid-rebuild); rebuilds are numbered from 1. */
  onRebuildSlice?: (rebuild: number, slice: number) => Promise<void> | void;
  watchTimeoutSeconds?: number;
  /**
   * Keep wgpolicyk8s.io/v1alpha2 PolicyReports of the mesh current when their CRDs are served
   * (cluster-reports.ts); default true, false for `serve --no-policy-reports`.
   */
  policyReports?: boolean;
}

export interface ClusterStateOptions extends ClusterOptions {
  getPolicy: () => Policy;
  logger: Logger;
  metrics: Metrics;
}

export interface ClusterState extends MeshSource {
  /** For /readyz: whether the mesh is available, and each kind's phase and object count. */
  status(): Record<string, unknown>;
  close(): Promise<void>;
}

export const DEFAULT_REDISCOVER_MS = 60_000;
export const DEFAULT_GAUGE_INTERVAL_MS = 10_000;
/** Longest stretch (ms) the gauges' and reports' computation holds the event loop before admissions waiting are answered. */
export const GAUGE_SLICE_MS = 15;

/** Loads the kubeconfig: the file given, else client-node's default search (in-cluster included). */
export function loadKubeConfig(file: string | undefined): KubeConfig {
  const config = new KubeConfig();
  if (file !== undefined) config.loadFromFile(file);
  else config.loadFromDefault();
  if (!config.getCurrentCluster()) throw new Error(`${file ?? 'the default kubeconfig'}: no current cluster`);
  return config;
}

/** A rebuild of the model under way; `abandoned` once a newer reload (or close) made it unwanted,
 * or it failed. `number` counts rebuilds (logs); `failedBeforeMs`: the back-off of the failure it
 * retries, if it does. */
interface Rebuilding {
  rebuild: ModelRebuild;
  abandoned: boolean;
  number: number;
  failedBeforeMs?: number;
}

/** Starts the informers (without waiting for them) and returns the mesh source. */
export function startClusterState(options: ClusterStateOptions, config: KubeConfig = loadKubeConfig(options.kubeconfig)): ClusterState {
  const { logger, metrics, getPolicy } = options;
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  const rediscoverMs = options.rediscoverMs ?? DEFAULT_REDISCOVER_MS;
  const gaugeIntervalMs = options.gaugeIntervalMs ?? DEFAULT_GAUGE_INTERVAL_MS;
  const log = logger.child({ component: 'cluster' });

  let model = MeshModel.build([], getPolicy());
  const watches = new Map<string, KindWatch>();
  const counts = new Map<string, number>();
  let discovered = false;
  let discoveryError: string | undefined;
  let discoveryDelay = backoff.initialMs;
  let absent: string[] = [];
  let closed = false;
  let dirty = true;
  const timers = new Set<NodeJS.Timeout>();

  const later = (fn: () => void, ms: number): void => {
    const t = setTimeout(() => {
      timers.delete(t);
      if (!closed) fn();
    }, ms);
    t.unref();
    timers.add(t);
  };

  const count = (kind: string, by: number): void => {
    const n = (counts.get(kind) ?? 0) + by;
    counts.set(kind, n);
    metrics.meshObjects.set({ kind }, n);
  };

  // A rebuild of the model for a reloaded policy under way (cluster-rebuild.ts): every event is
  // applied to it as well as to the model in force, so none is lost or undone by the snapshot.
  let rebuilding: Rebuilding | undefined;
  /** Rebuild runs not finished yet, abandoned ones included (close() waits for them). */
  const rebuildRuns = new Set<Promise<void>>();

  const hooks = {
    added: (o: SlimObject) => {
      count(o.kind, 1);
      model.apply(o);
      toRebuild((r) => r.apply(o));
      dirty = true;
    },
    updated: (o: SlimObject) => {
      model.apply(o);
      toRebuild((r) => r.apply(o));
      dirty = true;
    },
    deleted: (o: SlimObject) => {
      count(o.kind, -1);
      model.delete(keyOf(o));
      toRebuild((r) => r.delete(o));
      dirty = true;
    },
    phase: (kind: WatchedKind, phase: KindPhase, error?: string) => {
      metrics.informerSynced.set({ kind: kind.kind }, phase === 'synced' ? 1 : 0);
      if (phase === 'failing') log.warn({ kind: kind.kind, err: error }, 'informer failing: mesh rules skipped until it recovers');
      else log.info({ kind: kind.kind, phase, objects: counts.get(kind.kind) ?? 0 }, phase === 'synced' ? 'informer synced' : 'informer listing');
    },
    error: (kind: WatchedKind, message: string) => {
      metrics.informerErrors.inc({ kind: kind.kind });
      log.debug({ kind: kind.kind, err: message }, 'informer list or watch failed');
    },
  };

  const watchKind = (kind: WatchedKind): void => {
    if (watches.has(kind.kind)) return;
    const w = new KindWatch(config, kind, hooks, backoff, options.watchTimeoutSeconds);
    watches.set(kind.kind, w);
    counts.set(kind.kind, 0);
    metrics.informerSynced.set({ kind: kind.kind }, 0);
    metrics.meshObjects.set({ kind: kind.kind }, 0);
    w.start();
  };

  // Discovery: which optional kinds are served (Istio's, DeploymentConfig, Rollout, the policy's
  // workloadKinds) is asked at start, every rediscoverMs, and soon after a policy reload changes
  // workloadKinds (checked every second at most). Served kinds are watched; kinds no longer wanted
  // or served (a CRD removed, a workload kind dropped from the policy) stop, and their objects
  // leave the model. One discovery at a time; a failing one retries after a back-off.
  let discovering = false;
  let discoveredFor: { policy: Policy; kinds: string } | undefined;
  let nextDiscovery = 0;
  let polling = false;
  const sameKind = (a: WatchedKind, b: WatchedKind): boolean =>
    a.group === b.group && a.kind === b.kind && a.version === b.version && a.plural === b.plural && a.templatePath?.join('.') === b.templatePath?.join('.');
  const unwatch = async (w: KindWatch, why: string): Promise<void> => {
    watches.delete(w.kind.kind);
    await w.stop();
    for (const o of w.objects()) {
      model.delete(keyOf(o));
      rebuilding?.rebuild.delete(o);
    }
    counts.delete(w.kind.kind);
    metrics.informerSynced.remove({ kind: w.kind.kind });
    metrics.meshObjects.remove({ kind: w.kind.kind });
    dirty = true;
    log.info({ kind: w.kind.kind, apiVersion: `${w.kind.group}/${w.kind.version}`, why }, 'kind no longer watched: its objects left the mesh model');
  };
  const discover = async (): Promise<void> => {
    const pollMs = Math.min(1000, rediscoverMs);
    const poll = (): void => {
      const policy = getPolicy();
      // A reload: the model is rebuilt now, usually before the next admission asks for it.
      rebuildFor(policy);
      if (discoveredFor && discoveredFor.policy !== policy) {
        // A reload: discover now only when it changed workloadKinds.
        if (discoveredFor.kinds !== JSON.stringify(policy.workloadKinds)) nextDiscovery = 0;
        else discoveredFor.policy = policy;
      }
      if (Date.now() >= nextDiscovery) void discover();
      later(poll, pollMs);
    };
    if (!polling) {
      polling = true;
      later(poll, pollMs);
    }
    if (discovering || closed) return;
    discovering = true;
    const policy = getPolicy();
    const wanted = optionalKinds(policy.workloadKinds);
    try {
      const { kept: served, dropped } = withoutNameClashes(await discoverKinds(config, wanted));
      for (const d of dropped) log.warn({ kind: d.kind.kind, group: d.kind.group, watched: d.clashesWith.group }, 'a workload kind of the policy has the name of a watched kind: not watched');
      if (closed) return;
      for (const w of [...watches.values()]) {
        if (w.kind.builtIn) continue;
        const now = served.find((k) => k.kind === w.kind.kind);
        if (!now) await unwatch(w, wanted.some((k) => k.kind === w.kind.kind) ? 'no longer served' : 'no longer in the policy');
        else if (!sameKind(now, w.kind)) await unwatch(w, 'its version, resource or template path changed');
      }
      if (closed) return;
      const before = [...watches.keys()].join(',');
      for (const k of served) watchKind(k);
      const nowAbsent = wanted.filter((k) => !served.some((f) => f.kind === k.kind)).map((k) => k.kind);
      if (!discovered || before !== [...watches.keys()].join(',') || nowAbsent.join(',') !== absent.join(',')) {
        log.info({ watching: [...watches.keys()], absent: nowAbsent }, nowAbsent.length ? 'kinds not served are not watched; looking again later' : 'watching the kinds the mesh model reads');
      }
      absent = nowAbsent;
      discovered = true;
      discoveryError = undefined;
      discoveryDelay = backoff.initialMs;
      nextDiscovery = Date.now() + rediscoverMs;
    } catch (err) {
      if (closed) return;
      discoveryError = errorMessage(err);
      metrics.informerErrors.inc({ kind: 'discovery' });
      log.warn({ err: discoveryError }, 'API discovery of the optional kinds failed: retrying');
      // Before the first discovery the mesh is unavailable; after it, the caches still hold.
      nextDiscovery = Date.now() + (discovered ? rediscoverMs : discoveryDelay);
      discoveryDelay = Math.min(backoff.maxMs, discoveryDelay * 2);
    } finally {
      discoveredFor = { policy, kinds: JSON.stringify(policy.workloadKinds) };
      discovering = false;
    }
  };

  /** Why the mesh is not available now, or undefined when it is. */
  const problem = (): string | undefined => {
    if (!discovered) return `discovering the optional kinds (Istio, DeploymentConfig, Rollout, workloadKinds)${discoveryError ? ` (${discoveryError})` : ''}`;
    const failing = [...watches.values()].filter((w) => w.phase === 'failing');
    if (failing.length) return `watch failing: ${failing.map((w) => `${w.kind.kind} (${w.error ?? 'error'})`).join(', ')}`;
    const listing = [...watches.values()].filter((w) => w.phase === 'listing');
    if (listing.length) return `not synced yet: ${listing.map((w) => w.kind.kind).join(', ')}`;
    return undefined;
  };

  // A policy reload: the model's answers depend on the policy it was built with (root namespace,
  // cluster domain, workload kinds: ModelInputs). A reload that keeps those (a rule's action, an
  // allowlist entry, SIGHUP) keeps the model: the mesh rules never pause for it. One that changes
  // them needs a new model, rebuilt from the informers' slim caches, in the background, in slices
  // of sliceMs (runInSlices), the event loop answering admissions in between. Meanwhile the mesh
  // is unavailable (staleness): never the old model with the new policy, nor the old policy for
  // the mesh rules. Started by the first of: an admission asking (current), the 1 s discovery
  // poll, a gauges run. A newer reload abandons a rebuild under way and starts over; close()
  // stops it at its next slice. A rebuild that throws (a bug) is logged and retried at the next
  // trigger after a back-off (0.5 s doubling to 30 s by default).
  const sliceMs = options.gaugeSliceMs ?? GAUGE_SLICE_MS;
  let rebuilds = 0;
  let rebuildFailed: { policy: ModelInputs; error: string; retryAt: number; delayMs: number } | undefined;
  const failRebuild = (handle: Rebuilding, err: unknown): void => {
    handle.abandoned = true;
    if (rebuilding === handle) rebuilding = undefined;
    const { rebuild } = handle;
    const delayMs = handle.failedBeforeMs === undefined ? backoff.initialMs : Math.min(backoff.maxMs, handle.failedBeforeMs * 2);
    rebuildFailed = { policy: rebuild.policy, error: errorMessage(err), retryAt: Date.now() + delayMs, delayMs };
    log.error({ rebuild: handle.number, err: rebuildFailed.error, objects: rebuild.done, of: rebuild.total, retryMs: delayMs }, 'the mesh model could not be rebuilt for the reloaded policy (a bug in mtls-guard): mesh rules skipped until a retry succeeds');
  };
  // An event for the model being built. A throw there (a bug) must neither escape into the
  // informer (its handlers are not awaited: an unhandled rejection would end the process) nor
  // leave the new model without the object: that rebuild fails, as one whose walk throws.
  const toRebuild = (apply: (r: ModelRebuild) => void): void => {
    const handle = rebuilding;
    if (!handle) return;
    try {
      apply(handle.rebuild);
    } catch (err) {
      failRebuild(handle, err);
    }
  };
  const rebuildFor = (policy: Policy): void => {
    if (closed || (rebuilding && sameModelInputs(rebuilding.rebuild.policy, policy))) return;
    if (rebuilding) {
      // Reloaded again (or back to the model's policy) before the rebuild ended: it is not wanted.
      rebuilding.abandoned = true;
      log.info({ objects: rebuilding.rebuild.done, of: rebuilding.rebuild.total }, 'policy reloaded again during a rebuild of the mesh model: that rebuild is abandoned');
      rebuilding = undefined;
    }
    if (sameModelInputs(model.policy, policy)) return;
    const retry = rebuildFailed && sameModelInputs(rebuildFailed.policy, policy) ? rebuildFailed : undefined;
    if (retry && Date.now() < retry.retryAt) return;
    const rebuild = new ModelRebuild(
      [...watches.values()].flatMap((w) => w.objects()),
      policy,
    );
    const number = ++rebuilds;
    const handle: Rebuilding = { rebuild, abandoned: false, number };
    if (retry) handle.failedBeforeMs = retry.delayMs;
    rebuilding = handle;
    const stopped = (): boolean => closed || handle.abandoned;
    const onSlice = options.onRebuildSlice;
    const run = runInSlices(rebuild.steps(), sliceMs, stopped, onSlice && ((slice) => onSlice(number, slice))).then(
      (built) => {
        if (!built || stopped()) return;
        model = built.value;
        rebuilding = undefined;
        rebuildFailed = undefined;
        dirty = true;
        log.info(
          { rebuild: number, objects: model.size, snapshot: rebuild.total, events: rebuild.events, slices: built.slices, busyMs: Math.round(built.busyMs), wallMs: Math.round(built.wallMs), longestSliceMs: Math.round(built.longestMs) },
          'policy changed: mesh model rebuilt from the caches',
        );
      },
      (err: unknown) => {
        if (!stopped()) failRebuild(handle, err);
      },
    );
    rebuildRuns.add(run);
    void run.finally(() => rebuildRuns.delete(run));
  };

  /** Why the model cannot answer for `policy` (built for another, a rebuild under way), or undefined when it can. */
  const staleness = (policy: Policy): string | undefined => {
    if (sameModelInputs(model.policy, policy)) return undefined;
    const r = rebuilding?.rebuild;
    if (r && sameModelInputs(r.policy, policy)) return `rebuilding the mesh model for the reloaded policy (${r.done} of ${r.total} objects)`;
    if (rebuildFailed && sameModelInputs(rebuildFailed.policy, policy)) return `the mesh model could not be rebuilt for the reloaded policy (a bug in mtls-guard: ${rebuildFailed.error}); retrying`;
    return 'the policy was reloaded: the mesh model is about to be rebuilt for it';
  };

  // The PolicyReports are computed with the gauges (one scan of the model serves both) and
  // written in the background; only from a synced model, so a half-listed cluster never
  // removes results.
  const reports =
    options.policyReports === false
      ? undefined
      : new PolicyReportWriter(config, {
          logger,
          metrics,
          rediscoverMs,
          onServed: () => {
            dirty = true;
          },
        });

  // The gauges and reports are computed in slices of GAUGE_SLICE_MS at most (cluster-gauges.ts
  // runInSlices), admissions answered in between; one run at a time (the next is scheduled when
  // a run ends), stopped between slices by close(). Informer events applied between slices change
  // the model under the walk: the answer may then mix the mesh before and after them, which is
  // acceptable for gauges and reports (each figure and result is true of one of the two meshes,
  // and they describe a mesh that was changing anyway) because such an event also set `dirty`,
  // so another run follows and replaces it. A rebuild finished during a run swaps the model: the
  // run keeps walking the old one, which stays whole (only no longer updated), and the swap set
  // `dirty`. While the model is for another policy than the one in force, a run computes nothing
  // (the rebuild is started if it is not under way) and `dirty` stays set: never a build here.
  let running: Promise<void> | undefined;
  let runs = 0;
  const refresh = async (): Promise<void> => {
    let next = gaugeIntervalMs;
    const runNumber = ++runs;
    const onSlice = options.onGaugeSlice;
    try {
      const policy = getPolicy();
      if (!sameModelInputs(model.policy, policy)) {
        rebuildFor(policy);
        dirty = true;
        log.debug({ run: runNumber, reason: staleness(policy) }, 'mesh gauges not computed: the model is being rebuilt for the reloaded policy');
        return;
      }
      const mesh = model;
      const withReports = reports?.wanted() ?? false;
      const steps = refreshSteps(mesh, withReports ? () => new Date() : undefined);
      const run = await runInSlices(steps, sliceMs, () => closed, onSlice && ((slice) => onSlice(runNumber, slice)));
      if (!run) return;
      setMeshGauges(metrics, run.value.gauges);
      if (run.value.reports && reports?.wanted()) reports.updateHashed(run.value.reports);
      // A policy reloaded during the run, or a rebuild swapped in: the next run computes again.
      if (mesh !== model || !sameModelInputs(mesh.policy, getPolicy())) dirty = true;
      // The duty rule: the event loop was busy with this run for busyMs (the slices, not the
      // admissions answered between them): keep that to a tenth of the time at most.
      next = Math.max(gaugeIntervalMs, run.busyMs * 10);
      log.debug(
        { run: runNumber, busyMs: Math.round(run.busyMs), wallMs: Math.round(run.wallMs), slices: run.slices, longestSliceMs: Math.round(run.longestMs), nextMs: Math.round(next), reports: run.value.reports?.length },
        'mesh gauges computed',
      );
    } catch (err) {
      if (!closed) log.error({ err: errorMessage(err) }, 'mesh gauges or reports could not be computed (a bug in mtls-guard)');
    } finally {
      if (!closed) later(refreshGauges, next);
    }
  };

  const refreshGauges = (): void => {
    if (running) return;
    if (dirty && problem() === undefined) {
      dirty = false;
      running = refresh().finally(() => {
        running = undefined;
      });
    } else {
      reports?.tick();
      later(refreshGauges, gaugeIntervalMs);
    }
  };

  for (const k of BUILT_IN_KINDS) watchKind(k);
  void discover();
  later(refreshGauges, gaugeIntervalMs);
  log.info({ server: config.getCurrentCluster()?.server }, 'cluster mode: watching the mesh (mesh rules skipped until synced)');

  /** `policy` is the one in force (mesh-handler.ts passes getPolicy()'s); a rebuild for it starts if needed. */
  const current = (policy: Policy): MeshAvailability => {
    rebuildFor(policy);
    const why = problem() ?? staleness(policy);
    return why === undefined ? { ok: true, mesh: model } : { ok: false, reason: why };
  };

  return {
    current,
    judgedAlone: (ctx: AdmissionContext, reason: string) => {
      metrics.meshStateUnavailable.inc();
      const { request } = ctx.review;
      log.warn(
        { uid: ctx.review.uid, kind: request.kind.kind, namespace: request.namespace, name: request.name, operation: request.operation, reason },
        'mesh state unavailable: judged this object alone',
      );
    },
    status: () => ({
      mesh: problem() ?? staleness(getPolicy()) ?? 'available',
      kinds: Object.fromEntries([...watches.values()].map((w) => [w.kind.kind, { phase: w.phase, objects: counts.get(w.kind.kind) ?? 0 }])),
      ...(absent.length && { absent }),
      policyReports: reports?.status() ?? 'disabled (--no-policy-reports)',
    }),
    close: async () => {
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      // A run of the gauges and a rebuild stop at their next slice (runInSlices checks `closed`).
      await Promise.all([...watches.values()].map((w) => w.stop()).concat(reports ? [reports.close()] : [], running ? [running] : [], [...rebuildRuns]));
    },
  };
}
