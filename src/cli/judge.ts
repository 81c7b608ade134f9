// One manifest → what the two webhooks would answer for `kubectl apply` of it (a CREATE): the
// validating verdict and the mutating patch, computed exactly as the server computes them.
import { asString, dig, displayName, evaluate, isHandledKind, splitApiVersion, type Decision, type EngineRequest, type MeshView, type Policy } from '../engine/index.js';
import { isClusterScoped } from './cluster-scoped.js';
import type { Manifest } from './manifests.js';

/** denied: refused; warned: allowed with warnings; patched: allowed and would be mutated. */
export type Verdict = 'denied' | 'warned' | 'patched' | 'ok';

export interface Checked {
  manifest: Manifest;
  request: EngineRequest;
  /** Whether the engine judges this kind at all (under this policy's workload kinds). */
  handled: boolean;
  /** The /validate answer. */
  validation: Decision;
  /** The /mutate answer: its patch, or in audit mode the mutations it would have made. */
  mutation: Decision;
  /** Both webhooks would admit it (a mutation failure in enforce mode also refuses). */
  allowed: boolean;
  /** Warnings that are neither a violation nor a rule failure, e.g. the root-selector notice. */
  notices: string[];
  verdict: Verdict;
}

/**
 * The admission request `kubectl apply` of this manifest would make: a CREATE in the manifest's
 * namespace, else `defaultNamespace` (`-n`), except for cluster-scoped kinds, which have none;
 * named as the server names it (`displayName`).
 */
export function engineRequest(manifest: Manifest, defaultNamespace: string): EngineRequest {
  const { group, version } = splitApiVersion(manifest.apiVersion);
  const generateName = asString(dig(manifest.object, 'metadata', 'generateName'));
  return {
    kind: { group, version, kind: manifest.kind },
    operation: 'CREATE',
    namespace: isClusterScoped(group, manifest.kind) ? '' : (manifest.namespace ?? defaultNamespace),
    name: displayName(manifest.name, generateName),
    object: manifest.object,
  };
}

/**
 * Judges one manifest as both webhooks would.
 * @param mesh the mesh around it (all of `check`'s inputs), for the mesh-aware rules; without
 *   it they are skipped.
 */
export function checkManifest(manifest: Manifest, policy: Policy, defaultNamespace: string, mesh?: MeshView): Checked {
  const request = engineRequest(manifest, defaultNamespace);
  const validation = evaluate(request, policy, { validate: true, mutate: false, ...(mesh ? { mesh } : {}) });
  const mutation = evaluate(request, policy, { validate: false, mutate: true });
  const allowed = validation.allowed && mutation.allowed;
  const notices = validation.notices;
  const failures = validation.failures.length + mutation.failures.length;
  let verdict: Verdict = 'ok';
  if (!allowed) verdict = 'denied';
  else if (validation.violations.length || failures || notices.length) verdict = 'warned';
  else if (mutation.patch.length || mutation.mutations.length) verdict = 'patched';
  return { manifest, request, handled: isHandledKind(request.kind, policy), validation, mutation, allowed, notices, verdict };
}
