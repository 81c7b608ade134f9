// What the two DestinationRule rules share: every `tls` block of the object with the port and
// subset it applies to, the normalised host, and host allow entries.
import { globMatch } from '../glob.js';
import { hostGlobCovers, isWildcardHost, normaliseHost } from '../hosts.js';
import { asArray, asRecord, asString, dig } from '../read.js';
import { portsCovered, reasonSuffix } from '../rule.js';
import type { Finding, HostAllowEntry, Policy, Subject } from '../types.js';

export interface TlsBlock {
  /** Path of the `tls` object, e.g. spec.subsets[0].trafficPolicy.portLevelSettings[1].tls */
  path: string;
  tls: Record<string, unknown>;
  port?: number;
  subset?: string;
}

export function destinationRuleSubject(object: unknown, namespace: string, name: string, policy: Policy): Subject {
  const host = asString(dig(object, 'spec', 'host')) ?? '';
  return { namespace, name, host, normalisedHost: host ? normaliseHost(host, namespace, policy.clusterDomain) : '' };
}

function blocksOfTrafficPolicy(trafficPolicy: unknown, base: string, subset: string | undefined, out: TlsBlock[]): void {
  const tls = asRecord(dig(trafficPolicy, 'tls'));
  if (tls) out.push(subset === undefined ? { path: `${base}.tls`, tls } : { path: `${base}.tls`, tls, subset });
  asArray(dig(trafficPolicy, 'portLevelSettings')).forEach((setting, i) => {
    const portTls = asRecord(dig(setting, 'tls'));
    if (!portTls) return;
    const block: TlsBlock = { path: `${base}.portLevelSettings[${i}].tls`, tls: portTls };
    const port = dig(setting, 'port', 'number');
    if (typeof port === 'number' && Number.isInteger(port)) block.port = port;
    if (subset !== undefined) block.subset = subset;
    out.push(block);
  });
}

export function tlsBlocks(object: unknown): TlsBlock[] {
  const out: TlsBlock[] = [];
  blocksOfTrafficPolicy(dig(object, 'spec', 'trafficPolicy'), 'spec.trafficPolicy', undefined, out);
  asArray(dig(object, 'spec', 'subsets')).forEach((subset, i) => {
    const name = asString(dig(subset, 'name')) ?? `#${i}`;
    blocksOfTrafficPolicy(dig(subset, 'trafficPolicy'), `spec.subsets[${i}].trafficPolicy`, name, out);
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
  const f: Finding = { path: `${block.path}.${field}`, value, scope: hostScope(subject, block) };
  if (block.port !== undefined) f.port = block.port;
  return f;
}

export function hostEntryAllows(entry: HostAllowEntry, subject: Subject, findings: readonly Finding[]): boolean {
  const normalised = subject.normalisedHost ?? '';
  const written = (subject.host ?? '').toLowerCase();
  const hostOk =
    hostGlobCovers(entry.host, normalised) || (!isWildcardHost(written) && written !== '' && globMatch(entry.host.toLowerCase(), written));
  if (!hostOk) return false;
  if (entry.namespace !== undefined && !globMatch(entry.namespace, subject.namespace)) return false;
  return portsCovered(entry.ports, findings);
}

export function describeHostEntry(entry: HostAllowEntry): string {
  let text = `host ${entry.host}`;
  if (entry.namespace) text += ` in ${entry.namespace}`;
  if (entry.ports) text += ` ports ${entry.ports.join(',')}`;
  return text + reasonSuffix(entry.reason);
}
