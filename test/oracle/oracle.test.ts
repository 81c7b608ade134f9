// Smoke test of the Istio oracle: a few answers whose Istio behaviour is known. Skips (with the
// reason) when the oracle has not been built, so `npm test` never triggers the Go build; run it with
//   bash scripts/oracle.sh >/dev/null && node --import tsx --test test/oracle/oracle.test.ts
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Oracle, oracleBinary, type ClientTlsAnswer, type OracleAnswer } from './client.js';

const bin = oracleBinary({ ifBuilt: true });
const skip = bin ? false : 'oracle not built (run scripts/oracle.sh, or set MTLS_GUARD_ORACLE)';

function ok<A extends { ok: boolean }>(a: A): Extract<A, { ok: true }> {
  assert.equal(a.ok, true, `oracle failure: ${JSON.stringify(a)}`);
  return a as Extract<A, { ok: true }>;
}

function tlsOf(a: OracleAnswer, subset: string, port: number): ClientTlsAnswer['results'][number] {
  const r = ok(a as ClientTlsAnswer | Extract<OracleAnswer, { ok: false }>).results.find(
    (x) => x.subset === subset && x.port === port,
  );
  assert.ok(r, `no result for subset ${JSON.stringify(subset)} port ${port}`);
  return r;
}

describe('Istio oracle', { skip }, () => {
  let oracle: Oracle;
  before(async () => {
    oracle = await Oracle.start(bin);
  });
  after(async () => {
    await oracle?.close();
  });

  it('resolves a short host in the rule namespace and keeps dotted hosts as written', async () => {
    const [short, dotted, fqdn] = await oracle.ask([
      { op: 'resolveHost', host: 'details', namespace: 'bookinfo' },
      { op: 'resolveHost', host: 'details.bookinfo', namespace: 'bookinfo' },
      { op: 'resolveHost', host: 'details.bookinfo.svc.cluster.local', namespace: 'other' },
    ] as const);
    assert.equal(ok(short).host, 'details.bookinfo.svc.cluster.local');
    assert.equal(ok(dotted).host, 'details.bookinfo');
    assert.equal(ok(fqdn).host, 'details.bookinfo.svc.cluster.local');
  });

  it('treats a tls block without mode as DISABLE, and no tls as auto mTLS (null)', async () => {
    const [sni, none] = await oracle.ask([
      { op: 'clientTLS', spec: { host: 'details', trafficPolicy: { tls: { sni: 'x' } } }, ports: [9080] },
      { op: 'clientTLS', spec: { host: 'details' }, ports: [9080] },
    ] as const);
    assert.equal(tlsOf(sni, '', 9080).mode, 'DISABLE');
    assert.equal(tlsOf(none, '', 9080).mode, null);
  });

  it('lets a subset tls override the top-level one, and a port-level setting win for its port', async () => {
    const a = await oracle.ask1({
      op: 'clientTLS',
      object: {
        apiVersion: 'networking.istio.io/v1',
        kind: 'DestinationRule',
        metadata: { name: 'reviews', namespace: 'bookinfo' },
        spec: {
          host: 'reviews',
          trafficPolicy: {
            tls: { mode: 'ISTIO_MUTUAL' },
            portLevelSettings: [{ port: { number: 9443 }, tls: { mode: 'SIMPLE', insecureSkipVerify: true } }],
          },
          subsets: [
            { name: 'v1', labels: { version: 'v1' }, trafficPolicy: { tls: { mode: 'DISABLE' } } },
            { name: 'v2', labels: { version: 'v2' } },
          ],
        },
      },
      ports: [9080, 9443],
    });
    assert.equal(ok(a).host, 'reviews.bookinfo.svc.cluster.local');
    assert.equal(tlsOf(a, '', 9080).mode, 'ISTIO_MUTUAL');
    assert.equal(tlsOf(a, '', 9443).mode, 'SIMPLE');
    assert.equal(tlsOf(a, '', 9443).insecureSkipVerify, true);
    assert.equal(tlsOf(a, 'v1', 9080).mode, 'DISABLE');
    assert.equal(tlsOf(a, 'v2', 9080).mode, 'ISTIO_MUTUAL');
    assert.equal(tlsOf(a, 'v2', 9443).mode, 'SIMPLE');
  });

  it('lets a port-level entry without tls replace the whole policy for its port (auto mTLS)', async () => {
    const a = await oracle.ask1({
      op: 'clientTLS',
      spec: {
        host: 'r',
        trafficPolicy: {
          tls: { mode: 'ISTIO_MUTUAL' },
          portLevelSettings: [{ port: { number: 9080 }, connectionPool: { tcp: { maxConnections: 10 } } }],
        },
      },
      ports: [9080, 8080],
    });
    assert.equal(tlsOf(a, '', 9080).mode, null);
    assert.equal(tlsOf(a, '', 8080).mode, 'ISTIO_MUTUAL');
  });

  it('ignores a root-namespace PeerAuthentication with a selector', async () => {
    const a = await oracle.ask1({
      op: 'peerAuthn',
      policies: [
        {
          metadata: { name: 'root-sel', namespace: 'istio-system' },
          spec: { selector: { matchLabels: { app: 'details' } }, mtls: { mode: 'DISABLE' } },
        },
      ],
      workload: { namespace: 'bookinfo', labels: { app: 'details' } },
      ports: [9080],
    });
    assert.deepEqual(ok(a).ports, [{ port: 9080, mode: 'PERMISSIVE' }]);
  });

  it('refuses a namespace-wide PeerAuthentication with portLevelMtls, accepts a workload one', async () => {
    const pa = (selector: boolean) => ({
      apiVersion: 'security.istio.io/v1',
      kind: 'PeerAuthentication',
      metadata: { name: 'pa', namespace: 'bookinfo' },
      spec: {
        ...(selector ? { selector: { matchLabels: { app: 'details' } } } : {}),
        mtls: { mode: 'STRICT' },
        portLevelMtls: { '9080': { mode: 'DISABLE' } },
      },
    });
    const [nsWide, workload] = await oracle.ask([
      { op: 'validate', object: pa(false) },
      { op: 'validate', object: pa(true) },
    ] as const);
    assert.equal(ok(nsWide).allowed, false);
    assert.equal(ok(nsWide).stage, 'validate');
    assert.equal(ok(workload).allowed, true);
  });

  it('composes PeerAuthentications: workload port-level > workload > namespace > mesh', async () => {
    const a = await oracle.ask1({
      op: 'peerAuthn',
      policies: [
        { metadata: { name: 'mesh', namespace: 'istio-system' }, spec: { mtls: { mode: 'STRICT' } } },
        { metadata: { name: 'ns', namespace: 'bookinfo' }, spec: { mtls: { mode: 'PERMISSIVE' } } },
        {
          metadata: { name: 'wl', namespace: 'bookinfo' },
          spec: { selector: { matchLabels: { app: 'details' } }, portLevelMtls: { '9080': { mode: 'DISABLE' } } },
        },
      ],
      workload: { namespace: 'bookinfo', labels: { app: 'details' } },
      ports: [9080, 8080],
    });
    assert.deepEqual(ok(a).ports, [
      { port: 9080, mode: 'DISABLE' },
      { port: 8080, mode: 'PERMISSIVE' },
    ]);
  });

  it('lets the webhook accept unknown fields (ApplyJSON is lenient) but refuses wrong types', async () => {
    const dr = (spec: Record<string, unknown>) => ({
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: { name: 'x', namespace: 'bookinfo' },
      spec,
    });
    const [unknown, wrongType, c] = await oracle.ask([
      { op: 'validate', object: dr({ host: 'x', bogus: 1 }) },
      { op: 'validate', object: dr({ host: 'x', trafficPolicy: { tls: { mode: 7.5 } } }) },
      { op: 'clientTLS', spec: { host: 'x', trafficPolicy: { tls: { mode: 'NOPE' } } }, ports: [80] },
    ] as const);
    assert.equal(ok(unknown).allowed, true);
    assert.match(ok(unknown).strictConvertError ?? '', /unknown field "bogus"/);
    assert.equal(ok(wrongType).allowed, false);
    assert.equal(ok(wrongType).stage, 'convert');
    assert.equal(c.ok, false);
    assert.equal(c.ok === false && c.stage, 'convert');
  });
});
