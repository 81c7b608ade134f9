// The client side: which DestinationRule a client sidecar uses for a host, and the TLS it then
// originates per subset × port. Follows istio.io/istio pilot/pkg/model: setDestinationRules and
// mergeDestinationRule (which rules are visible where, and how rules for one host in one
// namespace merge), PushContext.destinationRule (client namespace, then the host's namespace,
// then the root namespace; MostSpecificHostMatch), and SidecarScope.DestinationRule (a rule with
// a workloadSelector only for matching clients in its own namespace).
import { effectiveClientTls, type ClientTls, type SettingSource } from '../engine/index.js';
import { asArray, asString, dig } from '../engine/index.js';
import { byAge, selects, type DestinationRuleInfo } from './objects.js';

/** Rules for one host in one namespace, merged as Istio merges them: the first rule (workload
 * selectors first, then oldest) gives the traffic policy, later rules only add subsets. */
export interface ConsolidatedRule {
  /** Every rule merged in, in Istio's order; the first is the one Istio keeps as the base. */
  from: DestinationRuleInfo[];
  exportTo: ReadonlySet<string>;
  workloadSelector?: Record<string, string>;
}

/** exportTo as Istio's sets: empty means the default (`*`). */
function exportSet(dr: DestinationRuleInfo): Set<string> {
  // A rule with a workloadSelector is never exported (setDestinationRules).
  return dr.workloadSelector ? new Set(['.']) : new Set(dr.exportTo);
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

function sameLabels(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  const ka = Object.keys(a ?? {});
  return ka.length === Object.keys(b ?? {}).length && ka.every((k) => a?.[k] === b?.[k]);
}

/** Istio's config order for DestinationRules: with workloadSelector first, then by age and name
 * (sortConfigBySelectorAndCreationTime). */
function drOrder(a: DestinationRuleInfo, b: DestinationRuleInfo): number {
  if (a.workloadSelector && !b.workloadSelector) return -1;
  if (!a.workloadSelector && b.workloadSelector) return 1;
  return byAge(a, b);
}

/** mergeDestinationRule with ENABLE_ENHANCED_DESTINATIONRULE_MERGE (default on): rules merge
 * only when their exportTo sets are equal and their selectors agree. */
export function consolidate(rules: readonly DestinationRuleInfo[]): ConsolidatedRule[] {
  const out: ConsolidatedRule[] = [];
  for (const dr of [...rules].sort(drOrder)) {
    const set = exportSet(dr);
    let appendSeparately = true;
    for (const c of out) {
      if (sameSet(set, c.exportTo)) appendSeparately = false;
      else if (c.exportTo.size > 0 && [...c.exportTo].every((e) => set.has(e))) appendSeparately = true;
      else {
        appendSeparately = true;
        continue;
      }
      const both = dr.workloadSelector !== undefined && c.workloadSelector !== undefined;
      const neither = dr.workloadSelector === undefined && c.workloadSelector === undefined;
      if (both && !sameLabels(dr.workloadSelector, c.workloadSelector)) {
        appendSeparately = true;
        continue;
      }
      if (neither || both) appendSeparately = false;
      c.from.push(dr);
    }
    if (appendSeparately) {
      const c: ConsolidatedRule = { from: [dr], exportTo: set };
      if (dr.workloadSelector) c.workloadSelector = dr.workloadSelector;
      out.push(c);
    }
  }
  return out;
}

/** Rules per host, split into exact and wildcard hosts, as Istio's consolidatedDestRules. */
export class HostIndex {
  private readonly byHost = new Map<string, DestinationRuleInfo[]>();
  private readonly merged = new Map<string, ConsolidatedRule[]>();
  private readonly wildcards = new Set<string>();

  add(dr: DestinationRuleInfo): void {
    const list = this.byHost.get(dr.host) ?? [];
    list.push(dr);
    this.byHost.set(dr.host, list);
    this.merged.delete(dr.host);
    if (dr.wildcard) this.wildcards.add(dr.host);
  }

  remove(dr: DestinationRuleInfo): void {
    const list = this.byHost.get(dr.host)?.filter((d) => d !== dr) ?? [];
    this.merged.delete(dr.host);
    if (list.length) this.byHost.set(dr.host, list);
    else {
      this.byHost.delete(dr.host);
      this.wildcards.delete(dr.host);
    }
  }

  get size(): number {
    return this.byHost.size;
  }

  private rulesFor(host: string): ConsolidatedRule[] {
    let c = this.merged.get(host);
    if (!c) {
      c = consolidate(this.byHost.get(host) ?? []);
      this.merged.set(host, c);
    }
    return c;
  }

  /** MostSpecificHostMatch: the exact host, else the longest matching wildcard. */
  match(host: string): ConsolidatedRule[] | undefined {
    if (!host.startsWith('*') && this.byHost.has(host) && !this.wildcards.has(host)) return this.rulesFor(host);
    const needle = host.startsWith('*') ? host.slice(1) : host;
    if (host.startsWith('*') && this.wildcards.has(host)) return this.rulesFor(host);
    let best: string | undefined;
    for (const w of this.wildcards) {
      if (needle.endsWith(w.slice(1)) && (best === undefined || w.length > best.length)) best = w;
    }
    return best === undefined ? undefined : this.rulesFor(best);
  }
}

/** Whether a rule owned by `owner` with this exportTo is visible in its own namespace. */
function visibleLocally(set: ReadonlySet<string>, owner: string): boolean {
  return set.size === 0 || set.has('*') || set.has('.') || set.has(owner);
}

/** Whether the rule is exported beyond its namespace (not private-only). */
function exportedBeyond(set: ReadonlySet<string>, owner: string): boolean {
  return !(set.size === 1 && (set.has('.') || set.has(owner)));
}

/** Rule candidates for one host, per client namespace. */
export interface HostLookup {
  forNamespace(clientNamespace: string): ConsolidatedRule[];
  /** Set when every namespace without a rule of its own (other than the root) gets the same
   * candidates: no exported rule names client namespaces in exportTo. */
  uniform?: ConsolidatedRule[];
}

/** The DestinationRule indexes of PushContext.destinationRuleIndex. */
export class DestinationRuleIndex {
  private readonly local = new Map<string, HostIndex>();
  private readonly exported = new Map<string, HostIndex>();
  private readonly rootLocal = new HostIndex();
  /** For each host with a namespace-local rule, the namespaces holding one (with a count), split
   * into exact and wildcard hosts: which client namespaces decide for themselves, without asking
   * every namespace. */
  private readonly localExact = new Map<string, Map<string, number>>();
  private readonly localWildcard = new Map<string, Map<string, number>>();

  constructor(private readonly rootNamespace: string) {}

  private countLocal(dr: DestinationRuleInfo, by: number): void {
    const index = dr.wildcard ? this.localWildcard : this.localExact;
    const counts = index.get(dr.host) ?? new Map<string, number>();
    const n = (counts.get(dr.ref.namespace) ?? 0) + by;
    if (n > 0) counts.set(dr.ref.namespace, n);
    else counts.delete(dr.ref.namespace);
    if (counts.size) index.set(dr.host, counts);
    else index.delete(dr.host);
  }

  /** The client namespaces (other than the root) with a rule of their own matching `host`. */
  namespacesDecidingFor(host: string): Set<string> {
    const out = new Set(this.localExact.get(host)?.keys());
    const needle = host.startsWith('*') ? host.slice(1) : host;
    for (const [w, counts] of this.localWildcard) {
      if (w === host || needle.endsWith(w.slice(1))) for (const ns of counts.keys()) out.add(ns);
    }
    out.delete(this.rootNamespace);
    return out;
  }

  private indexesOf(dr: DestinationRuleInfo): HostIndex[] {
    const set = exportSet(dr);
    const ns = dr.ref.namespace;
    const out: HostIndex[] = [];
    const ensure = (m: Map<string, HostIndex>): HostIndex => {
      let h = m.get(ns);
      if (!h) m.set(ns, (h = new HostIndex()));
      return h;
    };
    if (visibleLocally(set, ns)) out.push(ensure(this.local));
    if (exportedBeyond(set, ns)) out.push(ensure(this.exported));
    else if (ns === this.rootNamespace) out.push(this.rootLocal);
    return out;
  }

  add(dr: DestinationRuleInfo): void {
    for (const h of this.indexesOf(dr)) h.add(dr);
    if (visibleLocally(exportSet(dr), dr.ref.namespace)) this.countLocal(dr, 1);
  }

  remove(dr: DestinationRuleInfo): void {
    for (const h of this.indexesOf(dr)) h.remove(dr);
    if (visibleLocally(exportSet(dr), dr.ref.namespace)) this.countLocal(dr, -1);
  }

  /**
   * The consolidated rules Istio considers for a client namespace and a host
   * (PushContext.destinationRule).
   * @param serviceNamespace the namespace of the Service (or ServiceEntry) the host belongs to.
   */
  candidates(clientNamespace: string, host: string, serviceNamespace: string): ConsolidatedRule[] {
    return this.lookup(host, serviceNamespace).forNamespace(clientNamespace);
  }

  /**
   * The same question for many client namespaces of one host: the exported rules of the host's
   * namespace and of the root namespace are matched once, and when none of them names client
   * namespaces in exportTo the fallback is one answer for every namespace without its own rule.
   */
  lookup(host: string, serviceNamespace: string): HostLookup {
    const fromService = this.exported.get(serviceNamespace)?.match(host) ?? [];
    const fromRoot = this.exported.get(this.rootNamespace)?.match(host) ?? [];
    const isPublic = (c: ConsolidatedRule) => c.exportTo.size === 0 || c.exportTo.has('*');
    const fallback = (ns: string): ConsolidatedRule[] => {
      const visible = (c: ConsolidatedRule) => isPublic(c) || c.exportTo.has(ns);
      const a = fromService.filter(visible);
      return a.length ? a : fromRoot.filter(visible);
    };
    const uniform = fromService.every(isPublic) && fromRoot.every(isPublic) ? fallback('') : undefined;
    const forNamespace = (clientNamespace: string): ConsolidatedRule[] => {
      const own = clientNamespace !== this.rootNamespace ? this.local.get(clientNamespace)?.match(host) : this.rootLocal.match(host);
      return own ?? uniform ?? fallback(clientNamespace);
    };
    return uniform ? { forNamespace, uniform } : { forNamespace };
  }
}

/**
 * SidecarScope.DestinationRule: a rule with a workloadSelector in the client's namespace that
 * matches the client's labels, else the last rule without a selector.
 * @param labels the client pod's labels, or undefined for "a client no selector matches".
 */
export function pickRule(candidates: readonly ConsolidatedRule[], clientNamespace: string, labels: Record<string, string> | undefined): ConsolidatedRule | undefined {
  let catchAll: ConsolidatedRule | undefined;
  for (const c of candidates) {
    if (!c.workloadSelector) catchAll = c;
    else if (labels && c.from[0]?.ref.namespace === clientNamespace && selects(c.workloadSelector, labels)) return c;
  }
  return catchAll;
}

/** The subsets a consolidated rule offers: the first of each name (later duplicates are dropped). */
export function subsetsOf(rule: ConsolidatedRule): { name: string; labels: Record<string, string>; from: DestinationRuleInfo; index: number }[] {
  const seen = new Set<string>();
  const out: { name: string; labels: Record<string, string>; from: DestinationRuleInfo; index: number }[] = [];
  for (const dr of rule.from) {
    asArray(dig(dr.object, 'spec', 'subsets')).forEach((s, index) => {
      const name = asString(dig(s, 'name'));
      if (name === undefined || seen.has(name)) return;
      seen.add(name);
      const labels: Record<string, string> = {};
      for (const [k, v] of Object.entries((dig(s, 'labels') ?? {}) as Record<string, unknown>)) if (typeof v === 'string') labels[k] = v;
      out.push({ name, labels, from: dr, index });
    });
  }
  return out;
}

/** The client TLS for one subset (or none) × Service port, and the field that set it: the
 * merged rule's traffic policy is the first rule's that has one (the rest only add subsets). */
export function clientTlsOf(rule: ConsolidatedRule, subset: string | undefined, port: number): { tls: ClientTls | undefined; from?: SettingSource } {
  const base = rule.from.find((dr) => dig(dr.object, 'spec', 'trafficPolicy') !== undefined && dig(dr.object, 'spec', 'trafficPolicy') !== null);
  const sub = subset === undefined ? undefined : subsetsOf(rule).find((s) => s.name === subset);
  // One object with the base policy and the one subset, read by the engine's MergeTrafficPolicy reading.
  const subsetObject = sub ? asArray(dig(sub.from.object, 'spec', 'subsets'))[sub.index] : undefined;
  const merged = { spec: { trafficPolicy: base ? dig(base.object, 'spec', 'trafficPolicy') : undefined, subsets: subsetObject ? [subsetObject] : [] } };
  const effective = effectiveClientTls(merged, sub ? subset : undefined, port);
  if (!effective) return { tls: 'AUTO' };
  const owner = effective.path.startsWith('spec.subsets') ? sub?.from : base;
  const path = sub && owner === sub.from ? effective.path.replace('spec.subsets[0]', `spec.subsets[${sub.index}]`) : effective.path;
  const mode = effective.mode;
  const tls = mode === 'DISABLE' || mode === 'SIMPLE' || mode === 'MUTUAL' || mode === 'ISTIO_MUTUAL' ? mode : undefined;
  return owner ? { tls, from: { ref: owner.ref, path: `${path}.mode` } } : { tls };
}
