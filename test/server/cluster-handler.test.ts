// The validating webhook with a mesh source: the mesh-aware rules run with the mesh when it is
// available; when it is not, the object is judged alone with one warning (and the source is
// told, for the log line and the metric); the mutating webhook and kinds no mesh rule judges
// never ask. Then the whole server in cluster mode against a fake API server that never
// answers its lists: ready at once, and every judged review carries the warning.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { request } from 'node:https';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import request_ from 'supertest';
import { defaultPolicy, type Policy } from '../../src/engine/index.js';
import { MeshModel } from '../../src/mesh/index.js';
import { createApp } from '../../src/server/app.js';
import { MESH_UNAVAILABLE_WARNING, type MeshAvailability, type MeshSource } from '../../src/server/mesh-handler.js';
import { createMetrics } from '../../src/server/metrics.js';
import { startServer } from '../../src/server/start.js';
import { FakeApi } from './cluster-fake-api.js';
import { deployment, deploymentObject, generateCa, localhostCert, memoryLogger, review, silentLogger, tempDir, writePem } from './helpers.js';

const NS = 'bookinfo';
const mesh = [
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, labels: { 'istio-injection': 'enabled' } } },
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'reviews', namespace: NS }, spec: { selector: { app: 'reviews' }, ports: [{ port: 9080 }] } },
  {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'reviews-v1', namespace: NS },
    spec: { template: { metadata: { labels: { app: 'reviews' } }, spec: { containers: [{ name: 'r', ports: [{ containerPort: 9080 }] }] } } },
  },
  { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: NS }, spec: { mtls: { mode: 'STRICT' } } },
];

function destinationRule(mode: string, name = 'reviews'): Record<string, unknown> {
  return review({
    group: 'networking.istio.io',
    version: 'v1',
    kind: 'DestinationRule',
    name,
    object: { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name, namespace: NS }, spec: { host: 'reviews', trafficPolicy: { tls: { mode } } } },
  });
}

interface Answer {
  allowed: boolean;
  warnings?: string[];
  status?: { message?: string };
}

function setup(state: () => MeshAvailability): { app: ReturnType<typeof createApp>; told: string[]; asked: () => number } {
  const policy = defaultPolicy();
  const told: string[] = [];
  let asked = 0;
  const source: MeshSource = {
    current: () => {
      asked++;
      return state();
    },
    judgedAlone: (_ctx, reason) => void told.push(reason),
  };
  const app = createApp({ getPolicy: () => policy, logger: silentLogger(), metrics: createMetrics(), isReady: () => true, mesh: source });
  return { app, told, asked: () => asked };
}

async function post(app: ReturnType<typeof createApp>, path: string, body: unknown): Promise<Answer> {
  const res = await request_(app).post(path).send(body as object).expect(200);
  return (res.body as { response: Answer }).response;
}

describe('the validating webhook with a mesh source', () => {
  test('mesh available: the mesh-aware rule refuses the DestinationRule, naming the PeerAuthentication', async () => {
    const model = MeshModel.build(mesh, defaultPolicy());
    const { app } = setup(() => ({ ok: true, mesh: model }));
    const answer = await post(app, '/validate', destinationRule('ISTIO_MUTUAL'));
    assert.equal(answer.allowed, true);
    // DISABLE is refused by the single-object rule too; the mesh-aware one adds the conflict.
    const plain = await post(app, '/validate', destinationRule('DISABLE'));
    assert.equal(plain.allowed, false);
    assert.match(plain.status?.message ?? '', /destinationrule-strict-conflict/);
    assert.match(plain.status?.message ?? '', /PeerAuthentication bookinfo\/default/);
    assert.ok(!(plain.warnings ?? []).includes(MESH_UNAVAILABLE_WARNING));
  });

  test('mesh unavailable: single-object rules still apply, one warning, the source is told why', async () => {
    const { app, told } = setup(() => ({ ok: false, reason: 'not synced yet: Service' }));
    const answer = await post(app, '/validate', destinationRule('DISABLE'));
    assert.equal(answer.allowed, false);
    assert.match(answer.status?.message ?? '', /destinationrule-disable/);
    assert.doesNotMatch(answer.status?.message ?? '', /strict-conflict/);
    assert.deepEqual(answer.warnings, [MESH_UNAVAILABLE_WARNING]);
    assert.ok(MESH_UNAVAILABLE_WARNING.length <= 256 && !MESH_UNAVAILABLE_WARNING.includes('\n'));
    assert.deepEqual(told, ['not synced yet: Service']);
    const deleted = await post(app, '/validate', { ...destinationRule('DISABLE'), request: { ...(destinationRule('DISABLE')['request'] as object), operation: 'DELETE' } });
    assert.equal(deleted.allowed, true);
    assert.deepEqual(deleted.warnings, [MESH_UNAVAILABLE_WARNING], 'a DELETE would have been warned about from the mesh');
  });

  test('the mutating webhook and kinds without mesh rules never ask the mesh', async () => {
    const { app, told, asked } = setup(() => ({ ok: false, reason: 'down' }));
    const mutated = await post(app, '/mutate', deployment(deploymentObject()));
    assert.equal(mutated.allowed, true);
    const validated = await post(app, '/validate', deployment(deploymentObject()));
    assert.equal(validated.warnings, undefined);
    assert.equal(asked(), 0);
    assert.deepEqual(told, []);
  });

  test('a mesh rule turned off: the DestinationRule does not ask the mesh', async () => {
    const policy: Policy = defaultPolicy();
    policy.rules['destinationrule-strict-conflict'].action = 'off';
    let asked = 0;
    const app = createApp({
      getPolicy: () => policy,
      logger: silentLogger(),
      metrics: createMetrics(),
      isReady: () => true,
      mesh: { current: () => ((asked++, { ok: false, reason: 'down' })), judgedAlone: () => undefined },
    });
    const answer = await post(app, '/validate', destinationRule('ISTIO_MUTUAL'));
    assert.equal(answer.warnings, undefined);
    assert.equal(asked, 0);
  });
});

function getJson(port: number, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    httpGet({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown> }));
    }).on('error', reject);
  });
}

function postTls(port: number, ca: string, body: unknown): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/validate', method: 'POST', ca, servername: 'localhost', headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve((JSON.parse(Buffer.concat(chunks).toString()) as { response: Answer }).response));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

describe('serve in cluster mode', () => {
  test('ready without the API server; reviews judged alone with the warning, a log line and a metric', async () => {
    const api = new FakeApi();
    await api.listen();
    api.hold();
    const { dir, remove } = await tempDir();
    const { logger, lines } = memoryLogger();
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(
      kubeconfig,
      `apiVersion: v1\nkind: Config\nclusters: [{name: fake, cluster: {server: "${api.url}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: fake, user: u}}]\ncurrent-context: c\n`,
    );
    const ca = await generateCa();
    const started = await startServer({
      tls: await writePem(dir, 'tls', await localhostCert(ca)),
      host: '127.0.0.1',
      port: 0,
      metricsPort: 0,
      logger,
      reloadSignal: false,
      drainIdleCloseMs: 50,
      shutdownGraceMs: 500,
      cluster: { kubeconfig },
    });
    assert.ok(started.ok, started.ok ? '' : started.errors.join('\n'));
    const { server } = started;
    try {
      const ready = await getJson(server.metricsPort, '/readyz');
      assert.equal(ready.status, 200);
      assert.match(JSON.stringify(ready.body['cluster']), /"mesh":"(discovering|not synced yet)/);
      const answer = await postTls(server.port, ca.cert, destinationRule('DISABLE'));
      assert.equal(answer.allowed, false);
      assert.deepEqual(answer.warnings, [MESH_UNAVAILABLE_WARNING]);
      const line = lines.find((l) => l.msg === 'mesh state unavailable: judged this object alone');
      assert.ok(line, 'a log line');
      assert.equal(line['kind'], 'DestinationRule');
      assert.equal(line['object'], undefined);
      const text = await server.metrics.registry.getSingleMetricAsString('mtls_guard_mesh_state_unavailable_total');
      assert.match(text, /^mtls_guard_mesh_state_unavailable_total 1$/m);
    } finally {
      await server.close();
      await api.close();
      await remove();
    }
  });

  test('an unreadable kubeconfig stops the start with a message', async () => {
    const { dir, remove } = await tempDir();
    try {
      const ca = await generateCa();
      const started = await startServer({
        tls: await writePem(dir, 'tls', await localhostCert(ca)),
        host: '127.0.0.1',
        port: 0,
        metricsPort: 0,
        logger: silentLogger(),
        reloadSignal: false,
        cluster: { kubeconfig: join(dir, 'missing') },
      });
      assert.equal(started.ok, false);
      assert.match(started.ok ? '' : (started.errors[0] ?? ''), /^cluster mode: /);
    } finally {
      await remove();
    }
  });
});
