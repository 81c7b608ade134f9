// bench:apiserver's pieces do what the bench claims: the floor webhook answers a valid allowed
// AdmissionReview v1 (uid echoed) and counts what it answered; the webhook registration names
// the intended resources and URL; the loader's paths are the kinds' real REST paths; and the
// objects timed in cluster mode are admitted, while the probe that tells the two servers apart
// is refused by the mesh rule only when the mesh is known.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { defaultPolicy, evaluate, type EngineRequest } from '../../src/engine/index.js';
import { MeshModel } from '../../src/mesh/index.js';
import { collectionPath, webhookConfiguration } from '../../bench/apiserver-kube.js';
import { meshAdmissions } from '../../bench/apiserver-mesh.js';
import { floorStats } from '../../bench/apiserver-rounds.js';
import { FULL_MESH, meshObjects, planMesh, scaleMesh, type KubeObject } from '../../bench/mesh-snapshot.js';
import { makeCerts, post, ROOT, startBaseline, stop, transpile, type Running } from '../../bench/processes.js';

describe('floor webhook (bench/baseline-server.ts)', () => {
  let dir = '';
  let floor: Running | undefined;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mtls-guard-floor-test-'));
    await makeCerts(join(dir, 'certs'));
    floor = await startBaseline(transpile(join(ROOT, 'bench/baseline-server.ts'), join(dir, 'baseline-server.mjs')), join(dir, 'certs'));
  });
  after(async () => {
    if (floor) await stop(floor);
    rmSync(dir, { recursive: true, force: true });
  });
  // What the bench reads to check the API server called the floor (local process or pod IP).
  const stats = (): Promise<number> => floorStats('127.0.0.1', floor?.port ?? 0);

  test('answers an AdmissionReview v1 with allowed true and the request uid, and counts it', async () => {
    const uid = '705ab4f5-6393-11e8-b7cc-42010a800002';
    const review = {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: { uid, kind: { group: 'security.istio.io', version: 'v1', kind: 'PeerAuthentication' }, operation: 'CREATE', object: { spec: { mtls: { mode: 'DISABLE' } } } },
    };
    assert.equal(await stats(), 0);
    const r = await post(floor?.port ?? 0, '/validate', JSON.stringify(review));
    assert.equal(r.status, 200);
    // What the API server requires of a v1 answer (admission webhook docs): same apiVersion and
    // kind, response.uid equal to request.uid, response.allowed a boolean.
    assert.deepEqual(JSON.parse(r.body), { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true } });
    assert.equal(await stats(), 1);
  });

  test('refuses a body that is not JSON with 400 and does not count it', async () => {
    const before = await stats();
    const r = await post(floor?.port ?? 0, '/validate', '{not json');
    assert.equal(r.status, 400);
    assert.equal(await stats(), before);
  });

  test('floorStats rejects when the floor cannot be reached', async () => {
    await assert.rejects(floorStats('127.0.0.1', 1), /ECONNREFUSED/);
  });
});

describe('webhook registration and REST paths', () => {
  test('the registration calls https://127.0.0.1:PORT/validate for the given resources only, failing closed', () => {
    const doc = parse(webhookConfiguration({ port: 4321 }, 'Q0E=', [{ group: 'networking.istio.io', resource: 'destinationrules' }, { group: 'security.istio.io', resource: 'peerauthentications' }])) as {
      kind: string;
      webhooks: { clientConfig: { url: string; caBundle: string }; rules: { apiGroups: string[]; resources: string[]; operations: string[] }[]; failurePolicy: string; sideEffects: string }[];
    };
    assert.equal(doc.kind, 'ValidatingWebhookConfiguration');
    const [hook] = doc.webhooks;
    assert.equal(hook?.clientConfig.url, 'https://127.0.0.1:4321/validate');
    assert.equal(hook?.clientConfig.caBundle, 'Q0E=');
    assert.deepEqual(
      hook?.rules.map((r) => [r.apiGroups, r.resources, r.operations]),
      [
        [['networking.istio.io'], ['destinationrules'], ['CREATE', 'UPDATE']],
        [['security.istio.io'], ['peerauthentications'], ['CREATE', 'UPDATE']],
      ],
    );
    assert.equal(hook?.failurePolicy, 'Fail');
    assert.equal(hook?.sideEffects, 'None');
  });

  test('the pod form registers the Service (port and /validate path), not a URL', () => {
    const doc = parse(webhookConfiguration({ service: { namespace: 'mtls-guard-bench', name: 'bench-floor', port: 443 } }, 'Q0E=', [{ group: 'security.istio.io', resource: 'peerauthentications' }])) as {
      webhooks: { clientConfig: { url?: string; service?: unknown; caBundle: string } }[];
    };
    const [hook] = doc.webhooks;
    assert.deepEqual(hook?.clientConfig, { service: { namespace: 'mtls-guard-bench', name: 'bench-floor', port: 443, path: '/validate' }, caBundle: 'Q0E=' });
  });

  test('every kind of the generated mesh has its REST collection path', () => {
    const paths = new Map<string, string>();
    for (const o of meshObjects(planMesh(scaleMesh(FULL_MESH, 0.01)))) paths.set(o.kind, collectionPath(o.apiVersion, o.kind, o.metadata.namespace));
    assert.deepEqual(Object.fromEntries([...paths].map(([k, p]) => [k, p.replace(/namespaces\/[^/]+\//, 'namespaces/NS/')])), {
      Namespace: '/api/v1/namespaces',
      Deployment: '/apis/apps/v1/namespaces/NS/deployments',
      Service: '/api/v1/namespaces/NS/services',
      ServiceEntry: '/apis/networking.istio.io/v1/namespaces/NS/serviceentries',
      DestinationRule: '/apis/networking.istio.io/v1/namespaces/NS/destinationrules',
      PeerAuthentication: '/apis/security.istio.io/v1/namespaces/NS/peerauthentications',
      AuthorizationPolicy: '/apis/security.istio.io/v1/namespaces/NS/authorizationpolicies',
    });
    assert.throws(() => collectionPath('v1', 'Secret', 'default'), /Secret/);
    assert.throws(() => collectionPath('v1', 'Service'), /needs a namespace/);
  });
});

describe('cluster-mode admissions (bench/apiserver-mesh.ts)', () => {
  const plan = planMesh(scaleMesh(FULL_MESH, 0.05));
  const policy = defaultPolicy();
  const model = MeshModel.build([...meshObjects(plan)], policy);
  const admissions = meshAdmissions(plan);
  const request = (o: KubeObject): EngineRequest => ({
    kind: o.kind === 'DestinationRule' ? { group: 'networking.istio.io', version: 'v1', kind: o.kind } : { group: 'security.istio.io', version: 'v1', kind: o.kind },
    operation: 'CREATE',
    namespace: o.metadata.namespace ?? '',
    name: o.metadata.name,
    object: structuredClone(o),
    user: { username: 'bench', groups: ['system:authenticated'] },
  });
  const judge = (o: KubeObject, mesh: boolean) => evaluate(request(o), policy, mesh ? { validate: true, mutate: false, mesh: model } : { validate: true, mutate: false });

  test('the timed DestinationRule and PeerAuthentication are admitted, with and without the mesh', () => {
    for (const o of [admissions.destinationRule(1), admissions.peerAuthentication(1)]) {
      for (const mesh of [false, true]) assert.equal(judge(o, mesh).allowed, true, `${o.kind} ${o.metadata.namespace}/${o.metadata.name} mesh=${mesh}`);
    }
    assert.notEqual(admissions.destinationRule(1).metadata.name, admissions.destinationRule(2).metadata.name);
  });

  test('the probe is refused either way, by destinationrule-strict-conflict only with the mesh', () => {
    const alone = judge(admissions.conflicting, false);
    const withMesh = judge(admissions.conflicting, true);
    assert.equal(alone.allowed, false);
    assert.equal(withMesh.allowed, false);
    assert.ok(!alone.violations.some((v) => v.rule === 'destinationrule-strict-conflict'));
    assert.ok(withMesh.violations.some((v) => v.rule === 'destinationrule-strict-conflict'));
  });
});

