// The HTTP layer over the real engine, through supertest: every route and status code, bad
// input, the AdmissionReview contract (echoes, denial, warnings, audit annotations, patches),
// the per-decision log line and the metrics.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import jsonpatch from 'fast-json-patch';
import type { MetricValueWithName } from 'prom-client';
import request from 'supertest';
import type { Policy } from '../../src/engine/types.js';
import { defaultPolicy } from '../../src/engine/index.js';
import { createApp, DEFAULT_BODY_LIMIT } from '../../src/server/app.js';
import { createMetrics, type Metrics } from '../../src/server/metrics.js';
import { deployment, deploymentObject, LEVEL, memoryLogger, peerAuthentication, review, type LogLine } from './helpers.js';

interface Setup {
  app: ReturnType<typeof createApp>;
  metrics: Metrics;
  lines: LogLine[];
  setReady: (ready: boolean) => void;
}

function setup(policy: Policy = defaultPolicy(), getPolicy?: () => Policy): Setup {
  const { logger, lines } = memoryLogger();
  const metrics = createMetrics();
  let ready = true;
  const app = createApp({ getPolicy: getPolicy ?? (() => policy), logger, metrics, isReady: () => ready, notReadyReason: () => 'shutting down' });
  return { app, metrics, lines, setReady: (r) => (ready = r) };
}

async function metricValue(metrics: Metrics, name: string, labels: Record<string, string>): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  assert.ok(metric, `metric ${name} exists`);
  const { values } = await metric.get();
  const match = values.filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val));
  return match.reduce((sum, v) => sum + v.value, 0);
}

async function histogramCount(metrics: Metrics, name: string, labels: Record<string, string>): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  assert.ok(metric, `metric ${name} exists`);
  const { values } = await metric.get();
  const counts = (values as MetricValueWithName<string>[]).filter((v) => v.metricName === `${name}_count` && Object.entries(labels).every(([k, val]) => v.labels[k] === val));
  return counts.reduce((sum, v) => sum + v.value, 0);
}

function decisions(lines: LogLine[]): LogLine[] {
  return lines.filter((l) => l.msg.startsWith('admission decision'));
}

describe('health and readiness', () => {
  test('GET /healthz is 200', async () => {
    const res = await request(setup().app).get('/healthz').expect(200);
    assert.deepEqual(res.body, { status: 'ok' });
  });

  test('GET /readyz is 200 when ready and 503 with the reason when not', async () => {
    const s = setup();
    await request(s.app).get('/readyz').expect(200, { status: 'ready' });
    s.setReady(false);
    const res = await request(s.app).get('/readyz').expect(503);
    assert.deepEqual(res.body, { status: 'not ready', reason: 'shutting down' });
    assert.equal(res.headers['connection'], 'close', 'not-ready responses ask keep-alive clients to reconnect elsewhere');
  });
});

describe('routing errors are JSON', () => {
  test('unknown route: 404 listing what is served', async () => {
    const res = await request(setup().app).get('/nope').expect(404).expect('content-type', /json/);
    assert.match(res.body.error, /no such endpoint: GET \/nope; .*POST \/validate/);
  });

  for (const [method, path, allow] of [
    ['get', '/validate', 'POST'],
    ['put', '/mutate', 'POST'],
    ['post', '/healthz', 'GET, HEAD'],
    ['delete', '/readyz', 'GET, HEAD'],
  ] as const) {
    test(`${method.toUpperCase()} ${path}: 405 with Allow: ${allow}`, async () => {
      const res = await request(setup().app)[method](path).expect(405).expect('allow', allow);
      assert.match(res.body.error, new RegExp(`method ${method.toUpperCase()} is not allowed on ${path}`));
    });
  }
});

describe('bad request bodies', () => {
  test('wrong content type: 415 naming it', async () => {
    const s = setup();
    const res = await request(s.app).post('/validate').set('content-type', 'text/plain').send('hello').expect(415);
    assert.match(res.body.error, /content type "text\/plain" is not supported.*application\/json/);
    assert.equal(decisions(s.lines).length, 0);
  });

  test('no content type: 415', async () => {
    const res = await request(setup().app).post('/mutate').expect(415);
    assert.match(res.body.error, /content type \(none\) is not supported/);
  });

  test('malformed JSON: 400', async () => {
    const res = await request(setup().app).post('/validate').set('content-type', 'application/json').send('{"kind": ').expect(400);
    assert.match(res.body.error, /^body is not valid JSON/);
  });

  test('a JSON scalar: 400 saying an object was expected', async () => {
    const res = await request(setup().app).post('/validate').set('content-type', 'application/json').send('42').expect(400);
    assert.match(res.body.error, /not a JSON object; expected an AdmissionReview/);
  });

  test('not an AdmissionReview: 400 naming the field', async () => {
    const res = await request(setup().app).post('/validate').send({ kind: 'Pod', apiVersion: 'v1' }).expect(400);
    assert.match(res.body.error, /^kind: expected "AdmissionReview", got "Pod"/);
  });

  test('missing request.uid: 400 naming request.uid', async () => {
    const body = peerAuthentication('STRICT');
    delete (body['request'] as Record<string, unknown>)['uid'];
    const res = await request(setup().app).post('/validate').send(body).expect(400);
    assert.match(res.body.error, /^request\.uid: missing/);
  });

  const objectCases: [string, string, (req: Record<string, unknown>) => void, RegExp][] = [
    ['object null on CREATE', 'CREATE', (req) => (req['object'] = null), /^request\.object: expected the object being created \(a JSON object\) on CREATE, got null$/],
    ['object a string on CREATE', 'CREATE', (req) => (req['object'] = 'PeerAuthentication'), /^request\.object: .* got a string$/],
    ['object an array on CREATE', 'CREATE', (req) => (req['object'] = [{ kind: 'PeerAuthentication' }]), /^request\.object: .* got an array$/],
    ['object missing on CREATE', 'CREATE', (req) => delete req['object'], /^request\.object: .* got missing$/],
    ['object an array on UPDATE', 'UPDATE', (req) => (req['object'] = []), /^request\.object: expected the new object .* on UPDATE, got an array$/],
    ['oldObject a string on UPDATE', 'UPDATE', (req) => (req['oldObject'] = 'x'), /^request\.oldObject: expected the object being replaced \(a JSON object\) on UPDATE, got a string$/],
    ['oldObject null on UPDATE', 'UPDATE', (req) => (req['oldObject'] = null), /^request\.oldObject: .* got null$/],
  ];
  for (const [name, operation, spoil, message] of objectCases) {
    test(`${name}: 400 naming the field`, async () => {
      const body = peerAuthentication('DISABLE', { operation: operation as 'CREATE' | 'UPDATE' });
      const req = body['request'] as Record<string, unknown>;
      if (operation === 'UPDATE') req['oldObject'] = structuredClone(req['object']);
      spoil(req);
      for (const path of ['/validate', '/mutate']) {
        const res = await request(setup().app).post(path).send(body).expect(400);
        assert.match(res.body.error, message, path);
      }
    });
  }

  test('a well-formed UPDATE, a DELETE with no object and a CONNECT are still judged', async () => {
    const update = peerAuthentication('STRICT', { operation: 'UPDATE' });
    const req = update['request'] as Record<string, unknown>;
    req['oldObject'] = structuredClone(req['object']);
    await request(setup().app).post('/validate').send(update).expect(200);
    const connect = peerAuthentication('STRICT', { operation: 'CONNECT' });
    (connect['request'] as Record<string, unknown>)['object'] = null;
    await request(setup().app).post('/validate').send(connect).expect(200);
  });

  test('a body of exactly the limit is accepted; one byte more is 413', async () => {
    const s = setup();
    const json = JSON.stringify(peerAuthentication('STRICT'));
    const exact = json + ' '.repeat(DEFAULT_BODY_LIMIT - Buffer.byteLength(json));
    assert.equal(Buffer.byteLength(exact), 8 * 1024 * 1024);
    const ok = await request(s.app).post('/validate').set('content-type', 'application/json').send(exact).expect(200);
    assert.equal(ok.body.response.allowed, true);
    const res = await request(s.app).post('/validate').set('content-type', 'application/json').send(exact + ' ').expect(413);
    assert.match(res.body.error, /request body of 8388609 bytes is over the limit of 8388608 bytes/);
  });
});

describe('AdmissionReview contract', () => {
  for (const apiVersion of ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'] as const) {
    test(`${apiVersion}: apiVersion and uid are echoed`, async () => {
      const res = await request(setup().app)
        .post('/validate')
        .send(peerAuthentication('STRICT', { apiVersion, uid: `uid-${apiVersion}` }))
        .expect(200);
      assert.deepEqual(res.body, { apiVersion, kind: 'AdmissionReview', response: { uid: `uid-${apiVersion}`, allowed: true } });
    });
  }

  test('/validate denies DISABLE with a 403 status and a message that explains', async () => {
    const res = await request(setup().app).post('/validate').send(peerAuthentication('DISABLE')).expect(200);
    const { response } = res.body;
    assert.equal(response.allowed, false);
    assert.equal(response.status.code, 403);
    assert.equal(response.status.reason, 'Forbidden');
    assert.match(response.status.message, /^PeerAuthentication bookinfo\/ratings-mtls violates 1 mTLS guardrail/);
    assert.match(response.status.message, /\[peerauthentication-disable\] spec\.mtls\.mode: DISABLE/);
    assert.match(response.status.message, /why: .*plaintext/);
    assert.match(response.status.message, /fix: use STRICT/);
    assert.equal(response.patch, undefined);
  });

  test('/mutate does not validate: the same object is allowed there', async () => {
    const res = await request(setup().app).post('/mutate').send(peerAuthentication('DISABLE')).expect(200);
    assert.deepEqual(res.body.response, { uid: 'uid-1', allowed: true });
  });

  test('warnings are single lines of at most 256 characters', async () => {
    const object = deploymentObject({ 'traffic.sidecar.istio.io/excludeInboundPorts': '8080' });
    const res = await request(setup().app)
      .post('/validate')
      .send(deployment(object, { name: `ratings-${'x'.repeat(300)}` }))
      .expect(200);
    const { response } = res.body;
    assert.equal(response.allowed, true);
    assert.equal(response.warnings.length, 1);
    const [warning] = response.warnings as string[];
    assert.match(warning ?? '', /^mtls-guard: \[workload-port-exclusion\]/);
    assert.ok((warning ?? '').length <= 256, `warning has ${(warning ?? '').length} characters`);
    assert.doesNotMatch(warning ?? '', /\n/);
  });

  test('audit mode: allowed, warned, with auditAnnotations violations and mode', async () => {
    const policy: Policy = { ...defaultPolicy(), mode: 'audit' };
    const res = await request(setup(policy).app).post('/validate').send(peerAuthentication('DISABLE')).expect(200);
    const { response } = res.body;
    assert.equal(response.allowed, true);
    assert.equal(response.status, undefined);
    assert.deepEqual(response.auditAnnotations, { violations: 'peerauthentication-disable', mode: 'audit' });
    assert.match(response.warnings[0], /\[peerauthentication-disable\].*would be denied \(audit mode\)/);
  });

  test('/mutate returns a base64 JSONPatch that applies cleanly', async () => {
    const object = deploymentObject({ 'sidecar.istio.io/statsInclusionPrefixes': 'cluster_manager' });
    const res = await request(setup().app).post('/mutate').send(deployment(object)).expect(200);
    const { response } = res.body;
    assert.equal(response.allowed, true);
    assert.equal(response.patchType, 'JSONPatch');
    const patch = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as jsonpatch.Operation[];
    assert.ok(patch.every((op) => op.path.startsWith('/spec/template/metadata/annotations')), JSON.stringify(patch));
    const patched = jsonpatch.applyPatch(structuredClone(object), patch, true, false).newDocument as ReturnType<typeof deploymentObject>;
    const annotations = (patched['spec'] as { template: { metadata: { annotations: Record<string, string> } } }).template.metadata.annotations;
    assert.deepEqual(annotations, {
      'sidecar.istio.io/statsInclusionPrefixes': 'cluster_manager,tls_inspector,listener,cluster',
      'sidecar.istio.io/rewriteAppHTTPProbers': 'true',
    });
  });

  test('/mutate creates a missing annotations object', async () => {
    const object = deploymentObject();
    const res = await request(setup().app).post('/mutate').send(deployment(object)).expect(200);
    const patch = JSON.parse(Buffer.from(res.body.response.patch, 'base64').toString('utf8')) as jsonpatch.Operation[];
    const patched = jsonpatch.applyPatch(structuredClone(object), patch, true, false).newDocument;
    assert.equal(jsonpatch.getValueByPointer(patched, '/spec/template/metadata/annotations/sidecar.istio.io~1rewriteAppHTTPProbers'), 'true');
  });

  test('/mutate sends no patch when nothing changes', async () => {
    const object = deploymentObject({
      'sidecar.istio.io/rewriteAppHTTPProbers': 'true',
      'sidecar.istio.io/statsInclusionPrefixes': 'tls_inspector,listener,cluster',
    });
    const res = await request(setup().app).post('/mutate').send(deployment(object)).expect(200);
    assert.deepEqual(res.body.response, { uid: 'uid-1', allowed: true });
  });

  test('an exempt user is neither checked nor mutated', async () => {
    const policy = defaultPolicy();
    policy.exempt.users = ['system:serviceaccount:istio-system:*'];
    const s = setup(policy);
    const username = 'system:serviceaccount:istio-system:istiod';
    const denied = await request(s.app).post('/validate').send(peerAuthentication('DISABLE', { username })).expect(200);
    assert.deepEqual(denied.body.response, { uid: 'uid-1', allowed: true });
    const mutated = await request(s.app).post('/mutate').send(deployment(deploymentObject(), { username })).expect(200);
    assert.deepEqual(mutated.body.response, { uid: 'uid-1', allowed: true });
    assert.deepEqual(
      decisions(s.lines).map((l) => [l['decision'], l['reason']]),
      [
        ['skipped', `user ${username} is exempt`],
        ['skipped', `user ${username} is exempt`],
      ],
    );
  });

  test('DELETE is allowed even of a DISABLE policy', async () => {
    const body = peerAuthentication('DISABLE', { operation: 'DELETE' });
    const req = body['request'] as Record<string, unknown>;
    req['oldObject'] = req['object'];
    req['object'] = null;
    const res = await request(setup().app).post('/validate').send(body).expect(200);
    assert.deepEqual(res.body.response, { uid: 'uid-1', allowed: true });
  });

  test('an unknown kind is allowed unchanged', async () => {
    const body = review({ group: '', version: 'v1', kind: 'Service', object: { metadata: { name: 's', annotations: {} } } });
    for (const path of ['/validate', '/mutate']) {
      const res = await request(setup().app).post(path).send(body).expect(200);
      assert.deepEqual(res.body.response, { uid: 'uid-1', allowed: true }, path);
    }
  });

  test('dryRun is judged exactly like a real request', async () => {
    const s = setup();
    const real = await request(s.app).post('/validate').send(peerAuthentication('DISABLE')).expect(200);
    const dry = await request(s.app).post('/validate').send(peerAuthentication('DISABLE', { dryRun: true })).expect(200);
    assert.deepEqual(dry.body, real.body);
    assert.deepEqual(
      decisions(s.lines).map((l) => l['dryRun']),
      [false, true],
    );
  });
});

describe('decision log', () => {
  test('one line per decision with the identifying fields, never the object', async () => {
    const s = setup();
    const object = deploymentObject();
    ((object['spec'] as Record<string, unknown>)['template'] as { spec: Record<string, unknown> }).spec['containers'] = [
      { name: 'app', env: [{ name: 'PASSWORD', value: 'hunter2-secret' }] },
    ];
    await request(s.app).post('/mutate').send(deployment(object, { uid: 'u-log' })).expect(200);
    await request(s.app).post('/validate').send(peerAuthentication('DISABLE', { uid: 'u-deny' })).expect(200);
    const [patched, denied] = decisions(s.lines);
    assert.equal(decisions(s.lines).length, 2);
    assert.ok(patched && denied);
    assert.equal(patched.level, LEVEL.info);
    assert.deepEqual(
      { ...patched, time: undefined, pid: undefined, hostname: undefined, durationMs: undefined },
      {
        level: LEVEL.info,
        msg: 'admission decision',
        uid: 'u-log',
        webhook: 'mutate',
        group: 'apps',
        kind: 'Deployment',
        namespace: 'bookinfo',
        name: 'ratings',
        operation: 'CREATE',
        user: 'alice',
        mode: 'enforce',
        decision: 'patched',
        rules: [],
        dryRun: false,
        annotations: ['sidecar.istio.io/rewriteAppHTTPProbers', 'sidecar.istio.io/statsInclusionPrefixes'],
        time: undefined,
        pid: undefined,
        hostname: undefined,
        durationMs: undefined,
      },
    );
    assert.equal(typeof patched['durationMs'], 'number');
    assert.ok((patched['durationMs'] as number) >= 0);
    assert.equal(denied['decision'], 'denied');
    assert.deepEqual(denied['rules'], ['peerauthentication-disable']);
    assert.doesNotMatch(JSON.stringify(s.lines), /hunter2-secret|system:authenticated/);
  });
});

describe('metrics', () => {
  test('requests, violations, mutations and latency are counted', async () => {
    const s = setup();
    await request(s.app).post('/validate').send(peerAuthentication('DISABLE')).expect(200);
    await request(s.app).post('/validate').send(peerAuthentication('DISABLE')).expect(200);
    await request(s.app).post('/validate').send(peerAuthentication('STRICT')).expect(200);
    await request(s.app).post('/mutate').send(deployment(deploymentObject())).expect(200);
    const m = s.metrics;
    const requests = 'mtls_guard_admission_requests_total';
    assert.equal(await metricValue(m, requests, { webhook: 'validate', kind: 'PeerAuthentication', operation: 'CREATE', decision: 'denied', mode: 'enforce' }), 2);
    assert.equal(await metricValue(m, requests, { webhook: 'validate', decision: 'allowed' }), 1);
    assert.equal(await metricValue(m, requests, { webhook: 'mutate', kind: 'Deployment', decision: 'patched' }), 1);
    assert.equal(await metricValue(m, 'mtls_guard_violations_total', { rule: 'peerauthentication-disable', action: 'deny', mode: 'enforce' }), 2);
    assert.equal(await metricValue(m, 'mtls_guard_mutations_total', { mode: 'enforce' }), 1);
    assert.equal(await histogramCount(m, 'mtls_guard_admission_duration_seconds', { webhook: 'validate' }), 3);
    const text = await m.registry.metrics();
    assert.match(text, /^process_cpu_user_seconds_total /m, 'default process metrics are registered');
  });

  test('two apps keep separate registries', async () => {
    const a = setup();
    const b = setup();
    await request(a.app).post('/validate').send(peerAuthentication('DISABLE')).expect(200);
    assert.equal(await metricValue(a.metrics, 'mtls_guard_admission_requests_total', {}), 1);
    assert.equal(await metricValue(b.metrics, 'mtls_guard_admission_requests_total', {}), 0);
  });
});

describe('an unexpected exception', () => {
  test('becomes a JSON 500 that says it is a bug, logged at error and counted', async () => {
    const s = setup(defaultPolicy(), () => {
      throw new TypeError('policy exploded');
    });
    const res = await request(s.app).post('/validate').send(peerAuthentication('STRICT')).expect(500).expect('content-type', /json/);
    assert.match(res.body.error, /internal error in mtls-guard while handling POST \/validate: policy exploded\. This is a bug in mtls-guard/);
    const errors = s.lines.filter((l) => l.level === LEVEL.error);
    assert.equal(errors.length, 1);
    assert.match(String((errors[0]?.['err'] as { message?: string }).message), /policy exploded/);
    assert.equal(await metricValue(s.metrics, 'mtls_guard_admission_requests_total', { decision: 'error' }), 1);
  });
});
