// Which objects the engine knows. Every served version of a kind is judged the same way: the
// Istio schemas of PeerAuthentication (v1beta1, v1) and DestinationRule (v1alpha3, v1beta1, v1)
// are identical in the fields we read, and a guardrail must not be bypassed by picking an
// older API version.
import type { GroupVersionKind, Policy } from './types.js';

export const PEER_AUTHENTICATION = { group: 'security.istio.io', kind: 'PeerAuthentication' } as const;
export const DESTINATION_RULE = { group: 'networking.istio.io', kind: 'DestinationRule' } as const;

/** security.istio.io PeerAuthentication, any version. */
export function isPeerAuthentication(gvk: GroupVersionKind): boolean {
  return gvk.group === PEER_AUTHENTICATION.group && gvk.kind === PEER_AUTHENTICATION.kind;
}

/** networking.istio.io DestinationRule, any version. */
export function isDestinationRule(gvk: GroupVersionKind): boolean {
  return gvk.group === DESTINATION_RULE.group && gvk.kind === DESTINATION_RULE.kind;
}

/** Field path of the pod template of each workload kind we mutate and check. */
const POD_TEMPLATE_PATHS: Record<string, readonly string[]> = {
  'apps/Deployment': ['spec', 'template'],
  'apps/StatefulSet': ['spec', 'template'],
  'apps/DaemonSet': ['spec', 'template'],
  'apps/ReplicaSet': ['spec', 'template'],
  'batch/Job': ['spec', 'template'],
  'batch/CronJob': ['spec', 'jobTemplate', 'spec', 'template'],
  'apps.openshift.io/DeploymentConfig': ['spec', 'template'],
  // Argo Rollouts: a Rollout with `workloadRef` has no template of its own; nothing is found there.
  'argoproj.io/Rollout': ['spec', 'template'],
};

/**
 * Field path of the pod template of a workload kind: the built-in kinds above, then the
 * policy's `workloadKinds` (in-house CRDs). Undefined for any other kind.
 * @returns key path segments, e.g. ['spec', 'jobTemplate', 'spec', 'template'].
 */
export function podTemplatePath(gvk: GroupVersionKind, policy: Pick<Policy, 'workloadKinds'>): readonly string[] | undefined {
  const builtIn = POD_TEMPLATE_PATHS[`${gvk.group}/${gvk.kind}`];
  if (builtIn) return builtIn;
  const extra = policy.workloadKinds.find((w) => w.group === gvk.group && w.kind === gvk.kind);
  return extra?.templatePath.split('.');
}

/** True for the kinds the engine judges: PeerAuthentication, DestinationRule, workload kinds. */
export function isHandledKind(gvk: GroupVersionKind, policy: Policy): boolean {
  return isPeerAuthentication(gvk) || isDestinationRule(gvk) || podTemplatePath(gvk, policy) !== undefined;
}

/** `apiVersion` → group and version (core group is ""). */
export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}
