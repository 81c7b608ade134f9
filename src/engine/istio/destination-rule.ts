// How Istio reads a DestinationRule: every `tls` block with the port and subset it applies to,
// read with Istio's defaults; the block in force per subset x port; the host as Istio resolves it.
import { asArray, asRecord, asString, asStringMap, dig } from '../read.js';
import type { AllowlistTarget, Finding, Policy } from '../types.js';
import { isDottedShortName, likelyMeantService, resolveHost } from './hosts.js';

/** `ClientTLSSettings.TLSmode` values by enum number (istio.io/api networking/v1 destination_rule.proto). */
export const CLIENT_TLS_MODES = ['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL'] as const;

export interface TlsBlock {
  /** Path of the `tls` object, e.g. spec.subsets[0].trafficPolicy.portLevelSettings[1].tls */
  path: string;
  tls: Record<string, unknown>;
  /** The mode Istio reads: `DISABLE` when `mode` is absent or null (the enum's zero value);
   * undefined when the value is not a mode at all (the API server's schema refuses it). */
  mode: string | undefined;
  port?: number;
  subset?: string;
  /** The subset's labels: which pods the setting reaches. */
  subsetLabels?: Record<string, string>;
  /** For a trafficPolicy-level block: the ports whose port-level settings replace it. */
  exceptPorts?: number[];
}

/**
 * The TLS mode Istio reads from a `tls` object. protojson leaves an absent or null enum at its
 * zero value, and `ClientTLSSettings.TLSmode`'s zero value is DISABLE, so `tls: {}` and
 * `tls: {sni: x}` send plaintext. Strings are compared upper-cased (a lower-case mode is refused
 * by the CRD's enum, so reading it as meant is the safe side); enum numbers map to their names.
 */
export function clientTlsMode(tls: Record<string, unknown>): string | undefined {
  const mode = tls['mode'];
  if (mode === undefined || mode === null) return 'DISABLE';
  if (typeof mode === 'string') return mode.toUpperCase();
  if (typeof mode === 'number') return CLIENT_TLS_MODES[mode];
  return undefined;
}

/**
 * A `port.number` as Istio reads it, if it can match a Service port (1–65535); undefined
 * otherwise (absent, 0, out of range: the setting applies to no port). protojson also reads a
 * decimal string as the number (the oracle shows `"9080"` applies to port 9080), so it does here,
 * though the CRD's integer type makes the API server refuse it (a notice says so).
 */
export function portNumber(value: unknown): number | undefined {
  const n = typeof value === 'string' && /^(0|[1-9][0-9]*)$/.test(value) ? Number(value) : value;
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535 ? n : undefined;
}

/** How a DestinationRule reads to a host allowlist: its namespace, name and host as written and resolved. */
export function destinationRuleTarget(object: unknown, namespace: string, name: string, policy: Policy): AllowlistTarget {
  const host = asString(dig(object, 'spec', 'host')) ?? '';
  const resolvedHost = resolveHost(host, namespace, policy.clusterDomain);
  return { namespace, name, host, resolvedHost, clusterDomain: policy.clusterDomain };
}

interface SubsetRef {
  name: string;
  labels: Record<string, string>;
}

/**
 * The `tls` blocks of one trafficPolicy. A port-level setting replaces the policy's `tls` for its
 * port even when it has no `tls` of its own (istio.io/istio `MergeTrafficPolicy`: "port level
 * policies do not inherit"), so those ports are excepted from the policy-level block; a
 * port-level setting without a valid port number applies to no port and yields no block
 * (`readabilityNotices` reports it).
 */
function blocksOfTrafficPolicy(trafficPolicy: unknown, base: string, subset: SubsetRef | undefined, out: TlsBlock[]): void {
  const withSubset = (block: TlsBlock): TlsBlock => (subset ? { ...block, subset: subset.name, subsetLabels: subset.labels } : block);
  const portBlocks: TlsBlock[] = [];
  const ports: number[] = [];
  asArray(dig(trafficPolicy, 'portLevelSettings')).forEach((setting, i) => {
    const port = portNumber(dig(setting, 'port', 'number'));
    if (port === undefined || ports.includes(port)) return; // Istio takes the first setting of a port
    ports.push(port);
    const tls = asRecord(dig(setting, 'tls'));
    if (tls) portBlocks.push(withSubset({ path: `${base}.portLevelSettings[${i}].tls`, tls, mode: clientTlsMode(tls), port }));
  });
  const tls = asRecord(dig(trafficPolicy, 'tls'));
  if (tls) {
    const block: TlsBlock = { path: `${base}.tls`, tls, mode: clientTlsMode(tls) };
    if (ports.length) block.exceptPorts = ports;
    out.push(withSubset(block));
  }
  out.push(...portBlocks);
}

/** Every `tls` block of a DestinationRule, top level first, then each subset's. */
export function tlsBlocks(object: unknown): TlsBlock[] {
  const out: TlsBlock[] = [];
  blocksOfTrafficPolicy(dig(object, 'spec', 'trafficPolicy'), 'spec.trafficPolicy', undefined, out);
  asArray(dig(object, 'spec', 'subsets')).forEach((subset, i) => {
    const ref = { name: asString(dig(subset, 'name')) ?? `#${i}`, labels: asStringMap(dig(subset, 'labels')) ?? {} };
    blocksOfTrafficPolicy(dig(subset, 'trafficPolicy'), `spec.subsets[${i}].trafficPolicy`, ref, out);
  });
  return out;
}

/** The client TLS settings Istio uses for one cluster (subset × port), and where they come from. */
export interface EffectiveTls {
  /** Path of the `tls` block in force, e.g. spec.subsets[1].trafficPolicy.tls. */
  path: string;
  tls: Record<string, unknown>;
  /** As {@link clientTlsMode} reads it. */
  mode: string | undefined;
}

/** The first port-level setting of a trafficPolicy for `port`, with its index (Istio stops at the first). */
function portLevelSetting(trafficPolicy: unknown, port: number): { index: number; setting: unknown } | undefined {
  const settings = asArray(dig(trafficPolicy, 'portLevelSettings'));
  const index = settings.findIndex((s) => portNumber(dig(s, 'port', 'number')) === port);
  return index < 0 ? undefined : { index, setting: settings[index] };
}

/**
 * The `tls` block Istio applies to traffic for one subset (or none) and one Service port,
 * following istio.io/istio `MergeTrafficPolicy` (pilot/pkg/networking/util) as the cluster
 * builder calls it: the top-level policy merged with its port-level setting for the port (a
 * port-level setting replaces `tls` even when it has none), then the subset's `tls` if it has
 * one, then the subset's port-level setting for the port.
 * @param subset a subset name, or undefined for the host's default cluster.
 * @param port a Service port number.
 * @returns the block in force, or undefined when none applies (auto mTLS).
 */
export function effectiveClientTls(object: unknown, subset: string | undefined, port: number): EffectiveTls | undefined {
  let current: { path: string; tls: unknown } | undefined;
  const apply = (trafficPolicy: unknown, base: string): void => {
    const tls = dig(trafficPolicy, 'tls');
    if (tls !== undefined && tls !== null) current = { path: `${base}.tls`, tls };
    const pls = portLevelSetting(trafficPolicy, port);
    if (pls) current = { path: `${base}.portLevelSettings[${pls.index}].tls`, tls: dig(pls.setting, 'tls') };
  };
  apply(dig(object, 'spec', 'trafficPolicy'), 'spec.trafficPolicy');
  if (subset !== undefined) {
    const subsets = asArray(dig(object, 'spec', 'subsets'));
    const index = subsets.findIndex((s) => asString(dig(s, 'name')) === subset);
    const trafficPolicy = index < 0 ? undefined : dig(subsets[index], 'trafficPolicy');
    if (trafficPolicy !== undefined && trafficPolicy !== null) apply(trafficPolicy, `spec.subsets[${index}].trafficPolicy`);
  }
  const tls = asRecord(current?.tls);
  return current && tls ? { path: current.path, tls, mode: clientTlsMode(tls) } : undefined;
}

/** "traffic to <host>" plus how it was written and why a dotted short name is not a Service. */
export function hostWords(target: AllowlistTarget): string {
  const host = target.resolvedHost || '(no host)';
  let text = host;
  if (target.host && target.host !== host) text += ` (written "${target.host}")`;
  const meant = likelyMeantService(host, target.namespace, target.clusterDomain ?? 'cluster.local');
  if (meant) text += ` (taken as written: Istio expands only names without a dot; for that Service write ${meant})`;
  else if (isDottedShortName(host)) {
    // Most two-label names are external (httpbin.org), so the suggestion is conditional here.
    const [name, ns] = host.split('.');
    text += ` (taken as written: Istio expands only names without a dot; if you meant the Service ${name} in namespace ${ns}, write ${name}.${ns}.svc.${target.clusterDomain ?? 'cluster.local'})`;
  }
  return text;
}

/** The scope words of a tls block: host, subset, ports. */
export function hostScope(target: AllowlistTarget, block: TlsBlock): string {
  let text = `traffic to ${hostWords(target)}`;
  if (block.subset !== undefined) text += `, subset ${block.subset}`;
  if (block.port !== undefined) text += `, port ${block.port}`;
  else if (block.exceptPorts) text += `, all ports except ${block.exceptPorts.join(', ')} (set per port)`;
  else text += ', all ports';
  return text;
}

/** A finding at `<block path>.<field>`, with the subset, labels and port it reaches. */
export function blockFinding(target: AllowlistTarget, block: TlsBlock, field: string, value: string): Finding {
  const reach = JSON.stringify([block.subset ?? null, block.subsetLabels ?? null, block.port ?? null]);
  const f: Finding = { path: `${block.path}.${field}`, value, scope: hostScope(target, block), reach };
  if (block.port !== undefined) f.port = block.port;
  return f;
}

/** How a DISABLE finding shows its value: as written, or Istio's default when `mode` is absent. */
export function modeValue(block: TlsBlock): string {
  const raw = block.tls['mode'];
  if (typeof raw === 'string') return raw;
  if (raw === undefined || raw === null) return 'DISABLE (no mode given: Istio\'s default for a tls block)';
  return `${String(raw)} (= DISABLE)`;
}
