// DestinationRule host normalisation. Istio reads short names relative to the rule's
// namespace, so `details`, `details.bookinfo`, `details.bookinfo.svc` and the FQDN are the
// same service; allow entries are matched against the normalised form so one entry covers
// every spelling.
import { HOST_WILDCARD, globMatch } from './glob.js';

export function normaliseHost(host: string, namespace: string, clusterDomain: string): string {
  const h = host.trim().toLowerCase().replace(/\.$/, '');
  // Wildcards name a set of hosts, never a short service name: keep them as written.
  if (h.startsWith('*')) return h;
  const labels = h.split('.');
  if (labels.length === 1) return `${h}.${namespace}.svc.${clusterDomain}`;
  if (labels.length === 2) return `${h}.svc.${clusterDomain}`;
  if (labels.length === 3 && labels[2] === 'svc') return `${h}.${clusterDomain}`;
  return h;
}

export function isWildcardHost(host: string): boolean {
  return host.startsWith('*');
}

/**
 * True when the allow glob covers every host the (normalised) host can name. A plain host is
 * a plain glob match; for a wildcard host the leading `*` is replaced by a marker that only a
 * glob `*` can consume, so `*.local` covers `*.bookinfo.svc.cluster.local` but
 * `details.bookinfo.svc.cluster.local` does not.
 */
export function hostGlobCovers(glob: string, host: string): boolean {
  const g = glob.trim().toLowerCase();
  if (!isWildcardHost(host)) return globMatch(g, host);
  return globMatch(g, HOST_WILDCARD + host.slice(1));
}
