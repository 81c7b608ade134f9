// The mesh model: the objects of one mesh (store.ts), indexed so that a question about one
// admitted object touches only what that object can reach. Built once, then kept current object
// by object (`apply`/`delete`); never rebuilt per request. A question about a change puts the
// changed object in place, answers, and puts the stored one back: synchronous, so no other
// question sees the interim state. Flows are computed in flows.ts, the effect of a change in
// effects.ts.
import type { AuthorizationConflict, Flow, MeshView, PeerAuthenticationEffect, ServerPort } from '../engine/index.js';
import { authorizationConflictSteps, authorizationConflicts, destinationRuleFlows, peerAuthenticationEffect } from './effects.js';
import { flowSteps, flows, serverPortSteps, serverPorts } from './flows.js';
import type { ModelInputs } from './objects.js';
import { MeshStore, type MeshObjectKey } from './store.js';

export type { MeshObjectKey } from './store.js';

/** The three whole-mesh answers, as serverPorts(), flows() and authorizationConflicts() give them. */
export interface MeshWalk {
  serverPorts: ServerPort[];
  flows: Flow[];
  conflicts: AuthorizationConflict[];
}

/**
 * The mesh as Istio sees it, from a snapshot of PeerAuthentications, DestinationRules, Services,
 * ServiceEntries, Namespaces, AuthorizationPolicies and the workload kinds' pod templates.
 * Objects of other kinds are ignored. Pure and synchronous.
 */
export class MeshModel implements MeshView {
  readonly rootNamespace: string;
  private readonly store: MeshStore;
  /** The last answer per question: the mesh-aware rules of one admission ask the same question
   * (peerauthentication-strict-conflict and -authz-conflict both ask for the effect). */
  private readonly remembered = new Map<string, { objects: unknown[]; generation: number; answer: unknown }>();

  private constructor(readonly policy: ModelInputs) {
    this.store = new MeshStore(policy);
    this.rootNamespace = policy.meshRootNamespace;
  }

  /**
   * Builds the model from manifests (`apiVersion`, `kind`, `metadata`, `spec`, as read from YAML
   * or an informer). Later objects with the same key replace earlier ones.
   * @param objects any JSON values; those that are not a kind the model uses are skipped.
   * @param policy gives the root namespace, cluster domain and workload kinds (a whole Policy will
   *   do; nothing else of it is read).
   */
  static build(objects: Iterable<unknown>, policy: ModelInputs): MeshModel {
    const model = new MeshModel(policy);
    for (const o of objects) model.apply(o);
    return model;
  }

  /** Number of objects the model holds. */
  get size(): number {
    return this.store.objects.size;
  }

  /**
   * Adds or replaces one object (incremental: only that object's indexes change).
   * @param defaultNamespace the namespace of a namespaced object that names none (`check -n`).
   * @returns the key it is stored under, or undefined when the model does not use the object.
   */
  apply(object: unknown, defaultNamespace = 'default'): MeshObjectKey | undefined {
    return this.store.apply(object, defaultNamespace);
  }

  /** Removes one object; unknown keys are ignored. */
  delete(key: MeshObjectKey): void {
    this.store.delete(key);
  }

  /** Every workload × port and the mode in force there, ordered by namespace, workload, port. */
  serverPorts(): ServerPort[] {
    return serverPorts(this.store);
  }

  /** Every flow: each client group × Service (or ServiceEntry host) port × subset × server port. */
  flows(): Flow[] {
    return flows(this.store);
  }

  /** Every plaintext-accepting server port under an AuthorizationPolicy that matches identity. */
  authorizationConflicts(): AuthorizationConflict[] {
    return authorizationConflicts(this.store);
  }

  /**
   * serverPorts(), flows() and authorizationConflicts() in small steps: a synchronous generator
   * that yields after each workload (server ports, then conflicts) and each Service or
   * ServiceEntry host (flows), and returns the three answers, equal to and in the order of the
   * whole-mesh methods (which drain the same walks). A caller that must not block for long (the
   * server's gauges and PolicyReports) runs a few steps at a time. The model may change between
   * steps (apply/delete): the walk does not throw, and its answer then mixes the mesh before and
   * after the change (the caller computes again).
   */
  *scanSteps(): Generator<void, MeshWalk> {
    const serverPorts = yield* serverPortSteps(this.store);
    const flows = yield* flowSteps(this.store);
    const conflicts = yield* authorizationConflictSteps(this.store);
    return { serverPorts, flows, conflicts };
  }

  destinationRuleFlows(object: unknown, namespace: string, name: string): Flow[] {
    return this.remember(`DestinationRule ${namespace}/${name}`, [object], () => destinationRuleFlows(this.store, object, namespace, name));
  }

  peerAuthenticationEffect(object: unknown, namespace: string, name: string, previous?: unknown): PeerAuthenticationEffect {
    return this.remember(`PeerAuthentication ${namespace}/${name}`, [object, previous], () => peerAuthenticationEffect(this.store, object, namespace, name, previous));
  }

  /** The answer to `question` about these objects (compared by identity) on this mesh. */
  private remember<T>(question: string, objects: unknown[], answer: () => T): T {
    const last = this.remembered.get(question);
    const generation = this.store.generation;
    if (last && last.generation === generation && last.objects.length === objects.length && last.objects.every((o, i) => o === objects[i])) return last.answer as T;
    const value = answer();
    this.remembered.clear();
    this.remembered.set(question, { objects, generation, answer: value });
    return value;
  }
}
