// Hand-built mesh model answers for the `scan` formatter tests: a small bookinfo-like mesh with
// one broken flow (DestinationRule DISABLE to a STRICT server), one plaintext flow (to a workload
// without a sidecar), one authorization conflict and a broken flow decided by a mesh-wide
// PeerAuthentication alone. Built by hand so the formatters are tested apart from the model.
import type { AuthorizationConflict, Flow, MeshObjectRef, ServerPort } from '../../src/mesh/index.js';
import type { MeshAnswers } from '../../src/reports/scan-report.js';

const ref = (kind: string, namespace: string, name: string): MeshObjectRef => ({ kind, namespace, name });
const meshStrict = { ref: ref('PeerAuthentication', 'istio-system', 'default'), path: 'spec.mtls.mode' };

export const details: ServerPort = { workload: ref('Deployment', 'bookinfo', 'details-v1'), port: 9080, mode: 'STRICT', setBy: meshStrict, sidecar: true, ambient: false };
export const ratings: ServerPort = {
  workload: ref('Deployment', 'bookinfo', 'ratings-v1'),
  port: 9080,
  mode: 'PERMISSIVE',
  setBy: { ref: ref('PeerAuthentication', 'bookinfo', 'ratings'), path: 'spec.portLevelMtls.9080.mode' },
  sidecar: true,
  ambient: false,
};
export const reviews: ServerPort = { workload: ref('Deployment', 'bookinfo', 'reviews-v1'), port: 9080, mode: 'STRICT', setBy: meshStrict, sidecar: true, ambient: false };
export const legacy: ServerPort = { workload: ref('StatefulSet', 'legacy', 'db'), port: 5432, mode: 'PERMISSIVE', sidecar: false, ambient: false };
export const ambientDisabled: ServerPort = {
  workload: ref('Deployment', 'shop', 'cart'),
  port: 8080,
  mode: 'DISABLE',
  setBy: { ref: ref('PeerAuthentication', 'shop', 'cart'), path: 'spec.mtls.mode' },
  sidecar: false,
  ambient: true,
};

const bookinfoClients = { namespaces: ['bookinfo'], otherNamespaces: false };

export const brokenDetails: Flow = {
  clients: bookinfoClients,
  host: 'details.bookinfo.svc.cluster.local',
  service: ref('Service', 'bookinfo', 'details'),
  servicePort: 9080,
  clientTlsFrom: { ref: ref('DestinationRule', 'bookinfo', 'details'), path: 'spec.trafficPolicy.tls.mode' },
  destinationRules: [ref('DestinationRule', 'bookinfo', 'details')],
  clientTls: 'DISABLE',
  server: details,
  outcome: 'broken',
  reason: 'the client sends plaintext and the server side is STRICT',
};

export const mtlsReviews: Flow = {
  clients: { namespaces: ['bookinfo'], otherNamespaces: true },
  host: 'reviews.bookinfo.svc.cluster.local',
  service: ref('Service', 'bookinfo', 'reviews'),
  servicePort: 9080,
  subset: 'v1',
  destinationRules: [],
  clientTls: 'AUTO',
  server: reviews,
  outcome: 'mtls',
  reason: 'auto mTLS to a sidecar',
};

export const plaintextLegacy: Flow = {
  clients: { namespaces: ['bookinfo'], otherNamespaces: true, workloadSelector: { app: 'reviews' } },
  host: 'db.legacy.svc.cluster.local',
  service: ref('Service', 'legacy', 'db'),
  servicePort: 5432,
  destinationRules: [],
  clientTls: 'AUTO',
  server: legacy,
  outcome: 'plaintext',
  reason: 'auto mTLS sends plaintext to a workload without a sidecar',
};

/** Broken with no DestinationRule: the mesh-wide STRICT refuses what a sidecar-less client sends. */
export const brokenByMeshPolicy: Flow = {
  clients: { namespaces: ['legacy'], otherNamespaces: false },
  host: 'reviews.bookinfo.svc.cluster.local',
  service: ref('Service', 'bookinfo', 'reviews'),
  servicePort: 9080,
  destinationRules: [],
  clientTls: 'DISABLE',
  server: reviews,
  outcome: 'broken',
  reason: 'clients without a sidecar send plaintext and the server side is STRICT',
};

export const external: Flow = {
  clients: { namespaces: [], otherNamespaces: true },
  host: 'api.example.com',
  service: ref('ServiceEntry', 'bookinfo', 'example'),
  servicePort: 443,
  destinationRules: [],
  clientTls: 'AUTO',
  outcome: 'unknown',
  reason: 'no workload behind the host in the snapshot',
};

export const ratingsConflict: AuthorizationConflict = {
  server: ratings,
  authorizationPolicy: ref('AuthorizationPolicy', 'bookinfo', 'ratings-viewer'),
  action: 'ALLOW',
  paths: ['spec.rules[0].from[0].source.principals'],
};

/** The whole snapshot, in a deliberately scrambled order. */
export function answers(): MeshAnswers {
  return {
    serverPorts: [legacy, reviews, ratings, details, ambientDisabled],
    flows: [external, plaintextLegacy, brokenByMeshPolicy, mtlsReviews, brokenDetails],
    conflicts: [ratingsConflict],
    rootNamespace: 'istio-system',
  };
}

/** A mesh with nothing wrong: one STRICT port, one mTLS flow. */
export function cleanAnswers(): MeshAnswers {
  return { serverPorts: [reviews], flows: [mtlsReviews], conflicts: [], rootNamespace: 'istio-system' };
}
