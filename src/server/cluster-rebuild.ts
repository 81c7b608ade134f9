// Cluster mode: rebuilding the mesh model for a reloaded policy in the background. The model's
// answers depend on the policy it was built with (root namespace, cluster domain, workload kinds:
// mesh/ ModelInputs), so a reload that changes those needs a new model; built in one stretch on
// the 10k-Service bench mesh that held the event loop 0.6-0.9 s (more under load), and every
// admission waited behind it (the chart's webhook timeout is 5 s).
//
// A rebuild walks a snapshot of the informers' slim caches a few objects at a time (the caller
// runs `steps()` with cluster-gauges.ts runInSlices: 15 ms slices, the event loop answers what
// waits in between). Informer events keep arriving meanwhile. Kubernetes' watch semantics
// (https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes):
// events of one collection arrive in resourceVersion order, each carrying the object's whole new
// state (or, for DELETED, its last state); client-go's and client-node's informers apply them to
// their cache in that order and hand each to the handlers after it is applied. So an event is
// always newer than the cache snapshot taken before it: the caller applies every event to the
// model being built as well as to the model in force (`apply`/`delete` here), and the walk skips
// any object whose key an event touched since the snapshot, so neither an update is undone by
// the older snapshotted copy nor a deleted object brought back. Objects added after the snapshot
// reach the new model only through their events.
import { MeshModel, type MeshObjectKey, type ModelInputs } from '../mesh/index.js';
import type { SlimObject } from './cluster-kinds.js';

/** The key the model stores a slim object under (the group is apiVersion's part before the slash). */
export function meshKeyOf(o: SlimObject): MeshObjectKey {
  const slash = o.apiVersion.indexOf('/');
  return { group: slash < 0 ? '' : o.apiVersion.slice(0, slash), kind: o.kind, namespace: o.metadata.namespace ?? '', name: o.metadata.name };
}

/** meshKeyOf as one string: an object's identity across events and snapshots. */
function slimKey(o: SlimObject): string {
  const k = meshKeyOf(o);
  return `${k.group}/${k.kind}/${k.namespace}/${k.name}`;
}

/** Objects applied per step of the walk: a step is far below a slice's 15 ms either way. */
const OBJECTS_PER_STEP = 16;

/**
 * A new MeshModel for `policy`, built from `snapshot` (the informers' slim objects when the
 * rebuild started) step by step, with the events that arrive meanwhile applied as they come.
 * Schedules nothing itself: the caller drives `steps()` (runInSlices), feeds it the events, and
 * simply drops an abandoned rebuild.
 */
export class ModelRebuild {
  readonly model: MeshModel;
  /** Keys an event added, updated or deleted since the snapshot: the snapshot's copy is older. */
  private readonly touched = new Set<string>();
  private walked = 0;
  /** Events applied to the model under construction. */
  events = 0;

  constructor(
    private readonly snapshot: readonly SlimObject[],
    readonly policy: ModelInputs,
  ) {
    this.model = MeshModel.build([], policy);
  }

  /** Objects of the snapshot in all. */
  get total(): number {
    return this.snapshot.length;
  }

  /** Objects of the snapshot walked so far (applied, or skipped because an event was newer). */
  get done(): number {
    return this.walked;
  }

  /** An informer's add or update event: the newest state of that object. */
  apply(o: SlimObject): void {
    this.touched.add(slimKey(o));
    this.model.apply(o);
    this.events++;
  }

  /** An informer's delete event, or an object of a kind no longer watched: it must not come back. */
  delete(o: SlimObject): void {
    this.touched.add(slimKey(o));
    this.model.delete(meshKeyOf(o));
    this.events++;
  }

  /**
   * The walk of the snapshot, OBJECTS_PER_STEP objects per step; returns the model, complete
   * (the snapshot and every event applied so far). Throws what MeshModel.apply throws (a bug:
   * the model skips objects it cannot read).
   */
  *steps(): Generator<void, MeshModel> {
    while (this.walked < this.snapshot.length) {
      const end = Math.min(this.snapshot.length, this.walked + OBJECTS_PER_STEP);
      for (; this.walked < end; this.walked++) {
        const o = this.snapshot[this.walked] as SlimObject;
        if (!this.touched.has(slimKey(o))) this.model.apply(o);
      }
      yield;
    }
    return this.model;
  }
}
