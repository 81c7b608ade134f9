// DESIGN.md's defaults. A key given in the policy file replaces the default wholesale (lists
// are not merged), so an administrator can remove a default entry; the defaults are printed by
// `mtls-guard policy` style docs in the README and carried in the Helm chart's values.yaml.
import type { Policy } from '../engine/types.js';

export function defaultPolicy(): Policy {
  return {
    mode: 'enforce',
    meshRootNamespace: 'istio-system',
    clusterDomain: 'cluster.local',
    namespaces: [],
    exempt: { users: [], groups: [], namespaces: [] },
    rules: {
      'peerauthentication-disable': {
        action: 'deny',
        allow: [{ namespace: 'istio-system', name: 'disable-mtls-jaeger-collector', reason: 'OSSM-managed' }],
      },
      'destinationrule-disable': {
        action: 'deny',
        allow: [{ host: 'kubernetes.default.svc.cluster.local', reason: 'OSSM-managed' }],
      },
      'destinationrule-insecure-tls': { action: 'deny', allow: [] },
      'workload-port-exclusion': { action: 'warn', allow: [] },
      'peerauthentication-permissive': { action: 'off', allow: [] },
    },
    mutations: {
      enabled: true,
      onlyInjected: false,
      annotations: [
        { key: 'sidecar.istio.io/rewriteAppHTTPProbers', value: 'true' },
        { key: 'sidecar.istio.io/statsInclusionPrefixes', value: 'tls_inspector,listener,cluster', merge: 'list' },
      ],
    },
    workloadKinds: [],
  };
}
