// The mesh model: the objects of one mesh, indexed so that a question about one admitted object
// touches only what that object can reach. Built once, then kept current object by object
// (`apply`/`delete`); never rebuilt per request.
import type { AuthorizationConflict, Flow, MeshView, PeerAuthenticationEffect, Policy, ServerPort } from '../engine/index.js';

/** How the model keys an object: API group, kind, namespace ('' when cluster-scoped), name. */
export interface MeshObjectKey {
  group: string;
  kind: string;
  namespace: string;
  name: string;
}

/**
 * The mesh as Istio sees it, from a snapshot of PeerAuthentications, DestinationRules, Services,
 * ServiceEntries, Namespaces, AuthorizationPolicies and the workload kinds' pod templates.
 * Objects of other kinds are ignored. Pure and synchronous.
 */
export class MeshModel implements MeshView {
  readonly rootNamespace: string;

  private constructor(readonly policy: Policy) {
    this.rootNamespace = policy.meshRootNamespace;
  }

  /**
   * Builds the model from manifests (`apiVersion`, `kind`, `metadata`, `spec`, as read from YAML
   * or an informer). Later objects with the same key replace earlier ones.
   * @param objects any JSON values; those that are not a kind the model uses are skipped.
   * @param policy gives the root namespace, cluster domain and workload kinds.
   */
  static build(objects: Iterable<unknown>, policy: Policy): MeshModel {
    const model = new MeshModel(policy);
    for (const o of objects) model.apply(o);
    return model;
  }

  /** Adds or replaces one object (incremental: only that object's indexes change). */
  apply(object: unknown): void {
    void object;
    throw new Error('not implemented');
  }

  /** Removes one object; unknown keys are ignored. */
  delete(key: MeshObjectKey): void {
    void key;
    throw new Error('not implemented');
  }

  /** Every workload × container port and the mode in force there. */
  serverPorts(): ServerPort[] {
    throw new Error('not implemented');
  }

  /** Every flow: each client group × Service (or ServiceEntry) port × subset × server port. */
  flows(): Flow[] {
    throw new Error('not implemented');
  }

  /** Every plaintext-accepting server port under an AuthorizationPolicy that matches identity. */
  authorizationConflicts(): AuthorizationConflict[] {
    throw new Error('not implemented');
  }

  destinationRuleFlows(object: unknown, namespace: string, name: string): Flow[] {
    void [object, namespace, name];
    throw new Error('not implemented');
  }

  peerAuthenticationEffect(object: unknown, namespace: string, name: string): PeerAuthenticationEffect {
    void [object, namespace, name];
    throw new Error('not implemented');
  }
}
