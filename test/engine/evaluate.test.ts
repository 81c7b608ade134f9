// Engine behaviours that are not one-object fixtures: a rule that throws, host normalisation,
// glob coverage of wildcard hosts, list merging.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { defaultPolicy, evaluate, hostGlobCovers, likelyMeantService, mergeList, resolveHost, RULES, type EngineRequest } from '../../src/engine/index.js';
import type { Rule } from '../../src/engine/rule.js';
import { admissionStatus } from '../../src/admission/response.js';

const pa: EngineRequest = {
  kind: { group: 'security.istio.io', version: 'v1', kind: 'PeerAuthentication' },
  operation: 'CREATE',
  namespace: 'bookinfo',
  name: 'p',
  object: { spec: { mtls: { mode: 'STRICT' } } },
};

const exploding: Rule = {
  ...(RULES[0] as Rule),
  find: () => {
    throw new TypeError('boom');
  },
};

describe('a rule that throws', () => {
  test('enforce: refused with 500 and a message saying it is a bug', () => {
    const d = evaluate(pa, defaultPolicy(), { validate: true, mutate: false, rules: [exploding] });
    assert.equal(d.allowed, false);
    assert.equal(admissionStatus(d)?.code, 500);
    assert.match(admissionStatus(d)?.message ?? '', /internal error: rule peerauthentication-disable failed on PeerAuthentication bookinfo\/p \(boom\); this is a bug/);
    assert.deepEqual(d.failures, [{ rule: 'peerauthentication-disable', error: 'boom' }]);
  });
  test('audit: allowed with a warning', () => {
    const policy = { ...defaultPolicy(), mode: 'audit' as const };
    const d = evaluate(pa, policy, { validate: true, mutate: false, rules: [exploding] });
    assert.equal(d.allowed, true);
    assert.equal(d.failures.length, 1);
    assert.equal(d.warnings.length, 1);
    assert.match(d.warnings[0] ?? '', /^mtls-guard: mtls-guard internal error: .*allowed because of audit mode/);
  });
  test('other rules still run next to it', () => {
    const req = { ...pa, object: { spec: { mtls: { mode: 'DISABLE' } } } };
    const d = evaluate(req, { ...defaultPolicy(), mode: 'audit' }, { validate: true, mutate: false, rules: [exploding, RULES[0] as Rule] });
    assert.deepEqual(d.violations.map((v) => v.rule), ['peerauthentication-disable']);
  });
});

// Istio's ResolveShortnameToFQDN: only names without a dot are expanded; the oracle test
// (test/oracle) checks the same function against Istio's own at the pinned version.
describe('resolveHost', () => {
  const cases: [string, string][] = [
    ['details', 'details.bookinfo.svc.cluster.local'],
    ['details.bookinfo', 'details.bookinfo'],
    ['details.bookinfo.svc', 'details.bookinfo.svc'],
    ['details.bookinfo.svc.cluster.local', 'details.bookinfo.svc.cluster.local'],
    ['httpbin.org', 'httpbin.org'],
    ['Details', 'Details.bookinfo.svc.cluster.local'],
    ['api.example.com.', 'api.example.com.'],
    ['10.0.0.1', '10.0.0.1'],
    ['::1', '::1'],
    ['*.local', '*.local'],
    ['*', '*'],
    ['', ''],
  ];
  for (const [host, want] of cases) test(`${host} -> ${want}`, () => assert.equal(resolveHost(host, 'bookinfo', 'cluster.local'), want));
  test('clusterDomain is honoured', () => assert.equal(resolveHost('details', 'bookinfo', 'corp.internal'), 'details.bookinfo.svc.corp.internal'));
});

describe('likelyMeantService', () => {
  test('name.<own namespace> and name.namespace.svc suggest the FQDN', () => {
    assert.equal(likelyMeantService('reviews.sales', 'sales', 'cluster.local'), 'reviews.sales.svc.cluster.local');
    assert.equal(likelyMeantService('reviews.sales.svc', 'frontend', 'cluster.local'), 'reviews.sales.svc.cluster.local');
  });
  test('external two-label hosts, FQDNs, wildcards and IPs suggest nothing', () => {
    for (const h of ['httpbin.org', 'reviews.sales.svc.cluster.local', 'api.example.com', '*.sales', '10.0.0.1', 'reviews', 'a..b']) {
      assert.equal(likelyMeantService(h, 'frontend', 'cluster.local'), undefined, h);
    }
  });
});

describe('hostGlobCovers', () => {
  const cases: [string, string, boolean][] = [
    ['details.bookinfo.svc.cluster.local', 'details.bookinfo.svc.cluster.local', true],
    ['*.bookinfo.svc.cluster.local', 'details.bookinfo.svc.cluster.local', true],
    ['*.bookinfo.svc.cluster.local', '*.bookinfo.svc.cluster.local', true],
    ['*.local', '*.bookinfo.svc.cluster.local', true],
    ['*', '*', true],
    ['*.local', '*', false],
    ['details.bookinfo.svc.cluster.local', '*.bookinfo.svc.cluster.local', false],
    ['?.bookinfo.svc.cluster.local', '*.bookinfo.svc.cluster.local', false],
    ['*.bookinfo.svc.cluster.local', '*.local', false],
    ['details.bookinfo.svc.cluster.local', 'details.bookinfo.svc.cluster.localx', false],
    ['*.org', 'httpbin.org', true],
    ['*.com', 'example.com', true],
    ['*.svc.cluster.local', 'httpbin.org', false],
    ['*.ORG', 'HTTPBIN.org', true],
  ];
  for (const [glob, host, want] of cases) test(`${glob} covers ${host}: ${want}`, () => assert.equal(hostGlobCovers(glob, host), want));
});

describe('mergeList', () => {
  test('appends only the missing items, keeping the user text', () => {
    assert.equal(mergeList('cluster_manager', 'tls_inspector,listener,cluster'), 'cluster_manager,tls_inspector,listener,cluster');
    assert.equal(mergeList('listener , cluster', 'tls_inspector,listener,cluster'), 'listener , cluster,tls_inspector');
    assert.equal(mergeList('tls_inspector,listener,cluster', 'tls_inspector,listener,cluster'), 'tls_inspector,listener,cluster');
    assert.equal(mergeList('', 'a,b'), 'a,b');
  });
});
