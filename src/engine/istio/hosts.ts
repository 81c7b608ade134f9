// DestinationRule host resolution, exactly as Istio reads `spec.host`: only a name without a
// dot is short and expanded relative to the rule's namespace; every dotted name, an IP address
// and `*` are taken as written. So `details.bookinfo` is a literal host to Istio, not the
// details Service, and `httpbin.org` stays `httpbin.org`.
import { isIP } from 'node:net';
import { HOST_WILDCARD, globMatch } from '../glob.js';

/**
 * The host Istio resolves a DestinationRule's `spec.host` to.
 * Follows `model.ResolveShortnameToFQDN` (istio.io/istio pilot/pkg/model/config.go): `*` and IP
 * addresses as written; a name without a dot gets `.<namespace>.svc.<clusterDomain>`; any name
 * with a dot as written. Nothing is trimmed or lower-cased here (Istio does neither); allowlist
 * globs compare case-insensitively in {@link hostGlobCovers}.
 * @param host `spec.host` as written.
 * @param namespace the DestinationRule's namespace.
 * @param clusterDomain the cluster's DNS domain, e.g. `cluster.local`.
 * @returns the resolved host; `''` for an empty host. Never throws.
 */
export function resolveHost(host: string, namespace: string, clusterDomain: string): string {
  if (host === '' || host === '*' || isIP(host) !== 0 || host.includes('.')) return host;
  return `${host}.${namespace}.svc.${clusterDomain}`;
}

/** True for a host that names a set of hosts (`*`, `*.example.com`). */
export function isWildcardHost(host: string): boolean {
  return host.startsWith('*');
}

/**
 * For a dotted host that reads like a Service written short, the FQDN the author probably meant;
 * Istio does not expand such a name, so the rule does not reach that Service. `name.ns.svc` always
 * reads so; `name.ns` only when `ns` is the rule's own namespace, because most two-label names
 * (`httpbin.org`) are external hosts and a hint there would be noise.
 * @param host the resolved host; @param namespace the DestinationRule's namespace.
 * @returns the FQDN, or undefined for every other host.
 */
export function likelyMeantService(host: string, namespace: string, clusterDomain: string): string | undefined {
  if (isWildcardHost(host) || isIP(host) !== 0) return undefined;
  const labels = host.split('.');
  if (labels.some((l) => l === '')) return undefined;
  if (labels.length === 2 && labels[1] === namespace) return `${host}.svc.${clusterDomain}`;
  if (labels.length === 3 && labels[2] === 'svc') return `${host}.${clusterDomain}`;
  return undefined;
}

/** True for a host Istio took as written though it is not a full name: two or three labels with a
 * dot, not a wildcard or an IP (`details.bookinfo`, `httpbin.org`). */
export function isDottedShortName(host: string): boolean {
  if (isWildcardHost(host) || isIP(host) !== 0) return false;
  const labels = host.split('.').length;
  return labels === 2 || (labels === 3 && host.endsWith('.svc'));
}

/**
 * True when the allow glob covers every host the resolved host can name. A plain host is a
 * plain glob match; for a wildcard host the leading `*` is replaced by a marker that only a
 * glob `*` can consume, so `*.local` covers `*.bookinfo.svc.cluster.local` but
 * `details.bookinfo.svc.cluster.local` does not.
 * @param glob an allow entry's host glob (case-insensitive).
 * @param host a host from {@link resolveHost}.
 */
export function hostGlobCovers(glob: string, host: string): boolean {
  const g = glob.trim().toLowerCase();
  const h = host.toLowerCase();
  if (!isWildcardHost(h)) return globMatch(g, h);
  return globMatch(g, HOST_WILDCARD + h.slice(1));
}
