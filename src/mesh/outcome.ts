// What happens to a call, from the TLS the client sidecar originates and what the server port
// enforces. Istio's behaviour, as the OSSM and Istio docs describe it: a STRICT sidecar refuses
// plaintext (and TLS that is not Istio mTLS: it requires the client certificate); a DISABLE
// sidecar has no mTLS filter chain, so Istio mTLS to it fails; auto mTLS sends Istio mTLS only to
// endpoints that accept it (a sidecar whose port is not DISABLE), plaintext otherwise; ztunnel
// (ambient) carries every call in HBONE mTLS whatever the DestinationRule says.
import type { ClientTls, FlowOutcome, ServerPort } from '../engine/index.js';

/** The outcome of a call and the reason in one sentence. */
export function outcomeOf(tls: ClientTls | undefined, server: ServerPort | undefined, external: boolean): { outcome: FlowOutcome; reason: string } {
  if (tls === undefined) return { outcome: 'unknown', reason: 'the DestinationRule tls mode is not a mode Istio knows' };
  if (!server) {
    if (external) {
      if (tls === 'ISTIO_MUTUAL') return { outcome: 'unknown', reason: 'Istio mTLS to a host outside the mesh works only if it is a mesh workload' };
      if (tls === 'SIMPLE' || tls === 'MUTUAL') return { outcome: 'tls', reason: 'TLS originated to a host outside the mesh' };
      return { outcome: 'plaintext', reason: 'plaintext to a host outside the mesh (its own TLS, if any, is not Istio mTLS)' };
    }
    return { outcome: 'unknown', reason: 'no workload behind this host in the snapshot' };
  }
  if (server.ambient) return { outcome: 'mtls', reason: 'ambient namespace: ztunnel carries the call in HBONE mTLS; DestinationRule TLS applies only through a waypoint' };
  if (!server.sidecar) {
    if (tls === 'ISTIO_MUTUAL') return { outcome: 'broken', reason: 'Istio mTLS to a pod without a sidecar: nothing terminates it' };
    if (tls === 'SIMPLE' || tls === 'MUTUAL') return { outcome: 'tls', reason: 'TLS originated to a pod without a sidecar' };
    return { outcome: 'plaintext', reason: 'the pod has no sidecar, so it takes plaintext' };
  }
  switch (server.mode) {
    case 'STRICT':
      if (tls === 'ISTIO_MUTUAL' || tls === 'AUTO') return { outcome: 'mtls', reason: 'Istio mTLS to a STRICT port' };
      if (tls === 'DISABLE') return { outcome: 'broken', reason: 'plaintext to a STRICT port: the server sidecar refuses it (503)' };
      return { outcome: 'broken', reason: `${tls} TLS to a STRICT port: it is not Istio mTLS, the server sidecar refuses it (503)` };
    case 'PERMISSIVE':
      if (tls === 'ISTIO_MUTUAL' || tls === 'AUTO') return { outcome: 'mtls', reason: 'Istio mTLS to a PERMISSIVE port' };
      if (tls === 'DISABLE') return { outcome: 'plaintext', reason: 'plaintext to a PERMISSIVE port: accepted, unencrypted and without peer identity' };
      return { outcome: 'tls', reason: `${tls} TLS passed through to the application on a PERMISSIVE port` };
    case 'DISABLE':
      if (tls === 'ISTIO_MUTUAL') return { outcome: 'broken', reason: 'Istio mTLS to a port whose PeerAuthentication is DISABLE: the server sidecar does not terminate it (503)' };
      if (tls === 'SIMPLE' || tls === 'MUTUAL') return { outcome: 'tls', reason: `${tls} TLS passed through to the application on a DISABLE port` };
      return { outcome: 'plaintext', reason: tls === 'AUTO' ? 'auto mTLS sends plaintext to a port whose PeerAuthentication is DISABLE' : 'plaintext to a DISABLE port' };
  }
}
