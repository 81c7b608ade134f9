// Differential test: mtls-guard's engine against Istio's own code (the oracle in this folder), on
// thousands of generated DestinationRules and PeerAuthentications with every field the rules read:
// absent, null, empty, dotted, wildcard, IP and port-level cases. Each disagreement found is kept
// as a fixture under test/fixtures/rules. The oracle must be built (scripts/oracle.sh); without it
// the test fails when MTLS_GUARD_REQUIRE_ORACLE is set (as in .ci/run), else it is skipped with
// the reason. Seed: MTLS_GUARD_SEED (default 20261130), printed so a failure can be replayed.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { defaultPolicy, evaluate, resolveHost, type EngineRequest, type Violation } from '../../src/engine/index.js';
import { effectiveClientTls } from '../../src/engine/istio/destination-rule.js';
import { Oracle, oracleBinary, type ClientTlsAnswer, type OracleAnswer, type PeerAuthnAnswer, type ValidateAnswer } from './client.js';

const bin = oracleBinary({ ifBuilt: true });
const required = process.env['MTLS_GUARD_REQUIRE_ORACLE'] !== undefined;
const skip = bin || required ? false : 'oracle not built (run scripts/oracle.sh, or set MTLS_GUARD_ORACLE)';
const SEED = Number(process.env['MTLS_GUARD_SEED'] ?? 20261130);
const RUNS = Number(process.env['MTLS_GUARD_RUNS'] ?? 2000);
const ROOT = 'istio-system';
/** Ports probed: the generated ones plus one no setting names, where only policy-level tls applies. */
const PORTS = [80, 9080, 9443, 1];
/** The engine with no allow entries, so every finding is a violation. */
const policy = { ...defaultPolicy(), rules: { ...defaultPolicy().rules } };
for (const id of Object.keys(policy.rules) as (keyof typeof policy.rules)[]) policy.rules[id] = { action: 'deny', allow: [] } as never;

type Json = Record<string, unknown>;

// ---- generators ----

const label = fc.constantFrom('details', 'reviews', 'Ratings', 'db-1', 'a', 'svc', 'org', 'bookinfo', 'sales', 'cluster', 'local', 'example');
const host = fc.oneof(
  label,
  fc.array(label, { minLength: 2, maxLength: 5 }).map((ls) => ls.join('.')),
  fc.tuple(label, label).map(([a, b]) => `${a}.${b}.svc`),
  fc.tuple(label, label).map(([a, b]) => `${a}.${b}.svc.cluster.local`),
  fc.constantFrom('*', '*.local', '*.bookinfo.svc.cluster.local', '*.com', '10.0.0.1', '::1', '2001:db8::1', 'httpbin.org', 'api.example.com.', 'details.'),
);
const namespace = fc.constantFrom('bookinfo', 'sales', ROOT, 'default');

const tlsMode = fc.constantFrom('DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL', null, undefined);
/** A `tls` value: absent, null, or a block with any mix of the fields the rules read. */
const tls = fc.option(
  fc.record(
    { mode: tlsMode, sni: fc.constant('x.example.com'), insecureSkipVerify: fc.boolean(), caCertificates: fc.constant('/etc/ca.pem') },
    { requiredKeys: [] },
  ),
  { nil: null, freq: 3 },
);
const withTls = (t: Json | null | undefined, rest: Json = {}): Json => (t === undefined ? rest : { ...rest, tls: t });
const portLevelSetting = fc
  .tuple(fc.option(fc.constantFrom<number | string>(80, 9080, 9443, '9443', 0), { nil: undefined, freq: 8 }), fc.option(tls, { nil: undefined }), fc.boolean())
  .map(([port, t, pool]) => withTls(t, { ...(port !== undefined ? { port: { number: port } } : { port: {} }), ...(pool ? { connectionPool: { tcp: { maxConnections: 5 } } } : {}) }));
const trafficPolicy = fc
  .tuple(fc.option(tls, { nil: undefined }), fc.option(fc.array(portLevelSetting, { maxLength: 3 }), { nil: undefined }))
  .map(([t, pls]) => withTls(t, pls ? { portLevelSettings: pls } : {}));
const subsets = fc.uniqueArray(fc.constantFrom('v1', 'v2', 'v3'), { maxLength: 3 }).chain((names) =>
  fc.tuple(...names.map((name) => fc.option(trafficPolicy, { nil: undefined }).map((tp) => ({ name, labels: { version: name }, ...(tp ? { trafficPolicy: tp } : {}) })))),
);
const destinationRule = fc
  .tuple(host, namespace, fc.option(trafficPolicy, { nil: undefined }), subsets)
  .map(([h, ns, tp, ss]): Json => ({
    apiVersion: 'networking.istio.io/v1',
    kind: 'DestinationRule',
    metadata: { name: 'dr', namespace: ns },
    spec: { host: h, ...(tp ? { trafficPolicy: tp } : {}), ...(ss.length ? { subsets: ss } : {}) },
  }));

const peerMode = fc.constantFrom('UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT', null, undefined);
const peerAuthentication = fc
  .tuple(
    namespace,
    fc.constantFrom<Json | undefined>(undefined, { matchLabels: { app: 'web' } }, { matchLabels: {} }, { matchLabels: { app: 'web', tier: 'front' } }),
    fc.option(peerMode, { nil: undefined }),
    fc.option(fc.dictionary(fc.constantFrom('80', '9080', '8443'), fc.record({ mode: peerMode }, { requiredKeys: [] }), { minKeys: 1, maxKeys: 3 }), { nil: undefined }),
  )
  .map(([ns, selector, mode, ports]): Json => ({
    apiVersion: 'security.istio.io/v1',
    kind: 'PeerAuthentication',
    metadata: { name: 'pa', namespace: ns },
    spec: { ...(selector ? { selector } : {}), ...(mode !== undefined ? { mtls: mode === null ? {} : { mode } } : {}), ...(ports ? { portLevelMtls: ports } : {}) },
  }));

// ---- engine side ----

function engineRequest(object: Json): EngineRequest {
  const [group, version] = String(object['apiVersion']).split('/') as [string, string];
  const metadata = object['metadata'] as { name: string; namespace: string };
  return { kind: { group, version, kind: String(object['kind']) }, operation: 'CREATE', namespace: metadata.namespace, name: metadata.name, object };
}

function violations(object: Json): Violation[] {
  return evaluate(engineRequest(object), policy, { validate: true, mutate: false }).violations;
}

function ok<A extends { ok: boolean }>(a: A, what: string): Extract<A, { ok: true }> {
  assert.equal(a.ok, true, `oracle failed on ${what}: ${JSON.stringify(a)}`);
  return a as Extract<A, { ok: true }>;
}

/** Collects disagreements so one run reports every kind of them, not just the first. */
class Disagreements {
  private readonly items: string[] = [];
  add(what: string, object: unknown, detail: string): void {
    if (this.items.length < 20) this.items.push(`${what}: ${detail}\n    object: ${JSON.stringify(object)}`);
    else this.items.push('');
  }
  assertNone(label: string): void {
    assert.equal(this.items.length, 0, `${this.items.length} disagreements with Istio on ${label} (seed ${SEED}):\n  ${this.items.filter(Boolean).join('\n  ')}`);
  }
}

describe(`engine vs Istio's own code (seed ${SEED}, ${RUNS} objects per kind)`, { skip }, () => {
  let oracle: Oracle;
  before(async () => {
    assert.ok(bin, 'MTLS_GUARD_REQUIRE_ORACLE is set but the oracle is not built: run scripts/oracle.sh');
    oracle = await Oracle.start(bin);
  });
  after(async () => {
    await oracle?.close();
  });

  it('resolves DestinationRule hosts exactly as ResolveShortnameToFQDN', async () => {
    const cases = fc.sample(fc.tuple(host, namespace), { numRuns: RUNS, seed: SEED });
    const answers = await oracle.ask(cases.map(([h, ns]) => ({ op: 'resolveHost' as const, host: h, namespace: ns })));
    const d = new Disagreements();
    cases.forEach(([h, ns], i) => {
      const want = ok(answers[i] as OracleAnswer<{ op: 'resolveHost'; host: string; namespace: string }>, h).host;
      const got = resolveHost(h, ns, 'cluster.local');
      if (got !== want) d.add('host', { host: h, namespace: ns }, `engine ${got}, Istio ${want}`);
    });
    d.assertNone('host resolution');
  });

  it('picks the same effective tls per subset x port as MergeTrafficPolicy, and reports a DISABLE or insecureSkipVerify exactly when one is in force', async () => {
    const objects = fc.sample(destinationRule, { numRuns: RUNS, seed: SEED + 1 });
    const answers = await oracle.ask(objects.map((object) => ({ op: 'clientTLS' as const, object, ports: PORTS })));
    const d = new Disagreements();
    objects.forEach((object, i) => {
      const a = answers[i] as OracleAnswer<{ op: 'clientTLS'; object: Json; ports: number[] }>;
      if (!a.ok) return d.add('clientTLS', object, `oracle refused: ${JSON.stringify(a)}`);
      const answer = a as ClientTlsAnswer;
      let disableInForce = false;
      let insecureInForce = false;
      const inForcePaths = new Set<string>();
      for (const r of answer.results) {
        if (!r.subsetDefined) continue;
        const mine = effectiveClientTls(object, r.subset === '' ? undefined : r.subset, r.port);
        const mineMode = mine?.mode ?? null;
        if (mineMode !== r.mode) d.add('effective tls', object, `subset ${JSON.stringify(r.subset)} port ${r.port}: engine ${mineMode} at ${mine?.path}, Istio ${r.mode}`);
        const mineInsecure = mine?.tls['insecureSkipVerify'] === true;
        if (mineInsecure !== r.insecureSkipVerify) d.add('insecureSkipVerify', object, `subset ${JSON.stringify(r.subset)} port ${r.port}: engine ${mineInsecure}, Istio ${r.insecureSkipVerify}`);
        if (r.mode === 'DISABLE') disableInForce = true;
        if (r.insecureSkipVerify) insecureInForce = true;
        if (mine) inForcePaths.add(mine.path);
      }
      const vs = violations(object);
      const disable = vs.filter((v) => v.rule === 'destinationrule-disable');
      const insecure = vs.filter((v) => v.rule === 'destinationrule-insecure-tls');
      if (disable.length > 0 !== disableInForce) d.add('destinationrule-disable', object, `engine ${disable.length ? 'denies' : 'allows'}, Istio ${disableInForce ? 'sends plaintext somewhere' : 'sends no plaintext'}`);
      if (insecure.length > 0 !== insecureInForce) d.add('destinationrule-insecure-tls', object, `engine ${insecure.length ? 'denies' : 'allows'}, Istio skip-verify in force: ${insecureInForce}`);
      // Every reported path is a block that is in force for some subset x port.
      for (const v of [...disable, ...insecure]) {
        const block = v.path.replace(/\.(mode|insecureSkipVerify)$/, '');
        if (!inForcePaths.has(block)) d.add('path', object, `${v.rule} at ${v.path}, a block Istio applies to no probed subset x port`);
      }
      if (answer.host !== resolveHost(String((object['spec'] as Json)['host']), String((object['metadata'] as Json)['namespace']), 'cluster.local')) {
        d.add('host', object, `Istio resolved ${answer.host}`);
      }
    });
    d.assertNone('DestinationRules');
  });

  it("says Istio's validation refuses a DestinationRule only where Istio's webhook does", async () => {
    const objects = fc.sample(destinationRule, { numRuns: RUNS, seed: SEED + 3 });
    const answers = await oracle.ask(objects.map((object) => ({ op: 'validate' as const, object })));
    const d = new Disagreements();
    objects.forEach((object, i) => {
      const a = answers[i] as OracleAnswer<{ op: 'validate'; object: Json }>;
      if (!a.ok) return d.add('validate', object, `oracle failed: ${JSON.stringify(a)}`);
      const answer = a as ValidateAnswer;
      const claims = evaluate(engineRequest(object), policy, { validate: true, mutate: false }).notices.filter((n) => n.includes("Istio's validation refuses"));
      if (claims.length > 0 && answer.allowed) d.add('validate', object, `engine says ${claims.join(' | ')}; Istio's webhook allows it`);
    });
    d.assertNone('DestinationRule validation');
  });

  it('reports a PeerAuthentication DISABLE exactly when Istio makes a port of a matching workload DISABLE', async () => {
    const objects = fc.sample(peerAuthentication, { numRuns: RUNS, seed: SEED + 2 });
    // The workload the policy is about: in its namespace (another one for a mesh-wide policy), with its labels.
    const workloadOf = (object: Json): { namespace: string; labels: Record<string, string> } => {
      const ns = String((object['metadata'] as Json)['namespace']);
      const selector = ((object['spec'] as Json)['selector'] as Json | undefined)?.['matchLabels'] as Record<string, string> | undefined;
      const meshWide = ns === ROOT && (!selector || Object.keys(selector).length === 0);
      return { namespace: meshWide ? 'bookinfo' : ns, labels: { app: 'web', tier: 'front', ...(selector ?? {}) } };
    };
    const answers = await oracle.ask(
      objects.map((object) => ({ op: 'peerAuthn' as const, rootNamespace: ROOT, policies: [object], workload: workloadOf(object), ports: [80, 9080, 8443, 1] })),
    );
    const d = new Disagreements();
    objects.forEach((object, i) => {
      const a = answers[i] as OracleAnswer<{ op: 'peerAuthn'; policies: Json[]; workload: { namespace: string }; ports: number[] }>;
      if (!a.ok) return d.add('peerAuthn', object, `oracle refused: ${JSON.stringify(a)}`);
      const answer = a as PeerAuthnAnswer;
      const disabledPorts = answer.ports.filter((p) => p.mode === 'DISABLE').map((p) => p.port);
      const vs = violations(object).filter((v) => v.rule === 'peerauthentication-disable');
      if (vs.length > 0 !== disabledPorts.length > 0) {
        d.add('peerauthentication-disable', object, `engine ${vs.length ? `denies (${vs.map((v) => v.path).join(', ')})` : 'allows'}, Istio DISABLE on ports [${disabledPorts.join(', ')}]`);
      }
      // A port-level finding names a port Istio disables; a top-level one means a port without its own mode is disabled.
      for (const v of vs) {
        const port = /^spec\.portLevelMtls\.(\d+)\.mode$/.exec(v.path)?.[1];
        if (port !== undefined && !disabledPorts.includes(Number(port))) d.add('path', object, `${v.path} reported, Istio does not disable port ${port}`);
        if (port === undefined && !disabledPorts.includes(1)) d.add('path', object, `${v.path} reported, Istio does not disable a port without a port-level mode`);
      }
    });
    d.assertNone('PeerAuthentications');
  });
});
