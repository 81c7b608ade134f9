// What the two DestinationRule rules share: every `tls` block of the object with the port and
// subset it applies to, the normalised host, and host allow entries.
import { globMatch } from '../glob.js';
import { hostGlobCovers, normaliseHost } from '../hosts.js';
import { asArray, asRecord, asString, asStringMap, dig } from '../read.js';
import { portsCovered, reasonSuffix } from '../rule.js';
import type { Finding, HostAllowEntry, Policy, Subject } from '../types.js';

export interface TlsBlock {
  /** Path of the `tls` object, e.g. spec.subsets[0].trafficPolicy.portLevelSettings[1].tls */
  path: string;
  tls: Record<string, unknown>;
  port?: number;
  subset?: string;
  /** The subset's labels: which pods the setting reaches. */
  subsetLabels?: Record<string, string>;
}

export function destinationRuleSubject(object: unknown, namespace: string, name: string, policy: Policy): Subject {
  const host = asString(dig(object, 'spec', 'host')) ?? '';
  const normalisedHost = host ? normaliseHost(host, namespace, policy.clusterDomain) : '';
  return { namespace, name, host, normalisedHost, clusterDomain: policy.clusterDomain };
}

interface SubsetRef {
  name: string;
  labels: Record<string, string>;
}

function blocksOfTrafficPolicy(trafficPolicy: unknown, base: string, subset: SubsetRef | undefined, out: TlsBlock[]): void {
  const withSubset = (block: TlsBlock): TlsBlock => (subset ? { ...block, subset: subset.name, subsetLabels: subset.labels } : block);
  const tls = asRecord(dig(trafficPolicy, 'tls'));
  if (tls) out.push(withSubset({ path: `${base}.tls`, tls }));
  asArray(dig(trafficPolicy, 'portLevelSettings')).forEach((setting, i) => {
    const portTls = asRecord(dig(setting, 'tls'));
    if (!portTls) return;
    const block: TlsBlock = { path: `${base}.portLevelSettings[${i}].tls`, tls: portTls };
    const port = dig(setting, 'port', 'number');
    if (typeof port === 'number' && Number.isInteger(port)) block.port = port;
    out.push(withSubset(block));
  });
}

export function tlsBlocks(object: unknown): TlsBlock[] {
  const out: TlsBlock[] = [];
  blocksOfTrafficPolicy(dig(object, 'spec', 'trafficPolicy'), 'spec.trafficPolicy', undefined, out);
  asArray(dig(object, 'spec', 'subsets')).forEach((subset, i) => {
    const ref = { name: asString(dig(subset, 'name')) ?? `#${i}`, labels: asStringMap(dig(subset, 'labels')) ?? {} };
    blocksOfTrafficPolicy(dig(subset, 'trafficPolicy'), `spec.subsets[${i}].trafficPolicy`, ref, out);
  });
  return out;
}

export function hostScope(subject: Subject, block: TlsBlock): string {
  const host = subject.normalisedHost || '(no host)';
  let text = `traffic to ${host}`;
  if (subject.host && subject.host.toLowerCase() !== host) text += ` (written "${subject.host}")`;
  if (block.subset !== undefined) text += `, subset ${block.subset}`;
  text += block.port !== undefined ? `, port ${block.port}` : ', all ports';
  return text;
}

export function blockFinding(subject: Subject, block: TlsBlock, field: string, value: string): Finding {
  const target = JSON.stringify([block.subset ?? null, block.subsetLabels ?? null, block.port ?? null]);
  const f: Finding = { path: `${block.path}.${field}`, value, scope: hostScope(subject, block), target };
  if (block.port !== undefined) f.port = block.port;
  return f;
}

/**
 * The entry's host as the allowlist reads it. A literal host is normalised like the rule's host,
 * so `details.bookinfo` covers `details` written in bookinfo and `httpbin.org` covers itself; a
 * one-label literal needs the entry's literal namespace to be resolved, otherwise it names no
 * service. A glob is matched against the normalised host as written (`*.com`, `*.local`).
 */
export function entryHost(entry: HostAllowEntry, clusterDomain: string): string {
  const host = entry.host.trim().toLowerCase();
  if (/[*?]/.test(host)) return host;
  if (!host.includes('.')) {
    const ns = entry.namespace;
    return ns !== undefined && !/[*?]/.test(ns) ? normaliseHost(host, ns, clusterDomain) : host;
  }
  return normaliseHost(host, '', clusterDomain);
}

export function hostEntryAllows(entry: HostAllowEntry, subject: Subject, findings: readonly Finding[]): boolean {
  if (!hostGlobCovers(entryHost(entry, subject.clusterDomain ?? 'cluster.local'), subject.normalisedHost ?? '')) return false;
  if (entry.namespace !== undefined && !globMatch(entry.namespace, subject.namespace)) return false;
  return portsCovered(entry.ports, findings);
}

export function describeHostEntry(entry: HostAllowEntry): string {
  let text = `host ${entry.host}`;
  if (entry.namespace) text += ` in ${entry.namespace}`;
  if (entry.ports) text += ` ports ${entry.ports.join(',')}`;
  return text + reasonSuffix(entry.reason);
}
