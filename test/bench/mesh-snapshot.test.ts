// The mesh benchmark's generator (bench/mesh-snapshot.ts): deterministic, the requested counts,
// and objects the mesh model can use (Services select workloads, targetPorts resolve, selectors
// and hosts point at something real).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { defaultPolicy } from '../../src/engine/index.js';
import { MeshModel } from '../../src/mesh/index.js';
import {
  FULL_MESH,
  meshSnapshot,
  planMesh,
  podLabels,
  ROOT_NAMESPACE,
  scaleMesh,
  selects,
  serviceHost,
  SMALL_MESH,
  type KubeObject,
  type MeshSize,
} from '../../bench/mesh-snapshot.js';

type Labels = Record<string, string>;

function countKinds(objects: KubeObject[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of objects) out[o.kind] = (out[o.kind] ?? 0) + 1;
  return out;
}

function expectedCounts(size: MeshSize): Record<string, number> {
  return {
    Namespace: size.namespaces + 1,
    Deployment: size.workloads,
    Service: size.services,
    ServiceEntry: size.serviceEntries,
    DestinationRule: size.destinationRules,
    PeerAuthentication: size.peerAuthentications,
    AuthorizationPolicy: size.authorizationPolicies,
  };
}

const spec = (o: KubeObject): Record<string, unknown> => o.spec ?? {};
const matchLabels = (o: KubeObject, field: string): Labels | undefined => (spec(o)[field] as { matchLabels?: Labels } | undefined)?.matchLabels;
const containerPorts = (o: KubeObject): { name: string; containerPort: number }[] => {
  const tpl = spec(o)['template'] as { spec: { containers: { ports?: { name: string; containerPort: number }[] }[] } };
  return tpl.spec.containers.flatMap((c) => c.ports ?? []);
};

describe('mesh snapshot generator', () => {
  test('is deterministic: same size and seed, same objects; another seed, other objects; no Math.random', () => {
    const random = Math.random;
    Math.random = () => {
      throw new Error('Math.random used');
    };
    try {
      const a = JSON.stringify(meshSnapshot(SMALL_MESH));
      const b = JSON.stringify(meshSnapshot(SMALL_MESH));
      assert.equal(a, b);
      assert.notEqual(JSON.stringify(meshSnapshot({ ...SMALL_MESH, seed: SMALL_MESH.seed + 1 })), a);
    } finally {
      Math.random = random;
    }
  });

  test('gives the requested counts, small and full size', () => {
    assert.deepEqual(countKinds(meshSnapshot(SMALL_MESH)), expectedCounts(SMALL_MESH));
    const full = planMesh(FULL_MESH);
    assert.equal(full.workloads.length, 10_000);
    assert.equal(full.services.length, 10_000);
    assert.equal(full.destinationRules.length, 5_000);
    assert.equal(full.peerAuthentications.length, 2_000);
    assert.equal(full.authorizationPolicies.length, 500);
    assert.equal(full.namespaces.length, 200);
    const tenth = scaleMesh(FULL_MESH, 0.1);
    assert.deepEqual(countKinds(meshSnapshot(tenth)), expectedCounts(tenth));
  });

  test('objects are well formed for the model', () => {
    for (const size of [SMALL_MESH, scaleMesh(FULL_MESH, 0.05)]) {
      const objects = meshSnapshot(size);
      const keys = new Set<string>();
      for (const o of objects) {
        const key = `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
        assert.ok(!keys.has(key), `duplicate ${key}`);
        keys.add(key);
      }
      const namespaces = new Set(objects.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name));
      assert.ok(namespaces.has(ROOT_NAMESPACE));
      for (const o of objects) if (o.kind !== 'Namespace') assert.ok(namespaces.has(o.metadata.namespace ?? ''), `${o.kind} ${o.metadata.name} in unknown namespace ${o.metadata.namespace}`);

      const workloads = objects.filter((o) => o.kind === 'Deployment');
      for (const w of workloads) assert.ok(selects(matchLabels(w, 'selector') ?? {}, podLabels(w)), `Deployment ${w.metadata.name} selects its own pods`);
      const inNs = (ns: string | undefined, selector: Labels): KubeObject[] => workloads.filter((w) => w.metadata.namespace === ns && selects(selector, podLabels(w)));

      const services = objects.filter((o) => o.kind === 'Service');
      const hosts = new Set(services.map((s) => serviceHost({ name: s.metadata.name, namespace: s.metadata.namespace ?? '' })));
      for (const s of services) {
        const selected = inNs(s.metadata.namespace, spec(s)['selector'] as Labels);
        assert.ok(selected.length >= 1, `Service ${s.metadata.namespace}/${s.metadata.name} selects no workload`);
        for (const p of spec(s)['ports'] as { port: number; targetPort?: number | string }[]) {
          const target = p.targetPort ?? p.port;
          const resolves = selected.some((w) => containerPorts(w).some((c) => (typeof target === 'string' ? c.name === target : c.containerPort === target)));
          assert.ok(resolves, `Service ${s.metadata.name} port ${p.port} → ${target} reaches no container port`);
        }
      }

      const pas = objects.filter((o) => o.kind === 'PeerAuthentication');
      const mesh = pas.filter((p) => p.metadata.namespace === ROOT_NAMESPACE && !matchLabels(p, 'selector'));
      assert.equal(mesh.length, 1);
      assert.deepEqual(spec(mesh[0] as KubeObject)['mtls'], { mode: 'STRICT' });
      for (const p of pas) {
        const selector = matchLabels(p, 'selector');
        const portLevel = spec(p)['portLevelMtls'] as Record<string, unknown> | undefined;
        if (!selector) {
          assert.equal(portLevel, undefined, 'portLevelMtls only with a selector (as Istio requires)');
          continue;
        }
        const selected = inNs(p.metadata.namespace, selector);
        assert.ok(selected.length >= 1, `PeerAuthentication ${p.metadata.name} selects no workload`);
        for (const port of Object.keys(portLevel ?? {})) assert.ok(selected.some((w) => containerPorts(w).some((c) => String(c.containerPort) === port)), `portLevelMtls ${port} is no container port`);
      }

      for (const a of objects.filter((o) => o.kind === 'AuthorizationPolicy')) {
        const selector = matchLabels(a, 'selector');
        if (selector) assert.ok(inNs(a.metadata.namespace, selector).length >= 1, `AuthorizationPolicy ${a.metadata.name} selects no workload`);
      }

      const external = new Set(objects.filter((o) => o.kind === 'ServiceEntry').flatMap((o) => spec(o)['hosts'] as string[]));
      for (const d of objects.filter((o) => o.kind === 'DestinationRule')) {
        const host = spec(d)['host'] as string;
        const ns = d.metadata.namespace ?? '';
        if (host === '*.cluster.local') assert.equal(ns, ROOT_NAMESPACE);
        else if (host.startsWith('*.')) assert.ok(namespaces.has(host.split('.')[1] ?? ''), `wildcard ${host}`);
        else if (!host.includes('.')) assert.ok(hosts.has(serviceHost({ name: host, namespace: ns })), `short host ${host} in ${ns}`);
        else assert.ok(hosts.has(host) || external.has(host), `host ${host}`);
        const selector = matchLabels(d, 'workloadSelector');
        if (selector) {
          assert.deepEqual(spec(d)['exportTo'], ['.']);
          assert.ok(inNs(ns, selector).length >= 1, `workloadSelector of ${d.metadata.name} selects nothing`);
        }
      }
    }
  });

  test('has the shapes the benchmark is about, at a twentieth of the full size', () => {
    const objects = meshSnapshot(scaleMesh(FULL_MESH, 0.05));
    const json = (o: KubeObject): string => JSON.stringify(o);
    const drs = objects.filter((o) => o.kind === 'DestinationRule');
    const has = (xs: KubeObject[], what: string, f: (o: KubeObject) => boolean): void => assert.ok(xs.some(f), `no ${what}`);
    has(objects, 'ambient namespace', (o) => o.kind === 'Namespace' && o.metadata.labels?.['istio.io/dataplane-mode'] === 'ambient');
    has(objects, 'injected namespace', (o) => o.kind === 'Namespace' && o.metadata.labels?.['istio-injection'] === 'enabled');
    has(drs, 'DISABLE rule', (o) => json(o).includes('"mode":"DISABLE"'));
    has(drs, 'ISTIO_MUTUAL rule', (o) => json(o).includes('"mode":"ISTIO_MUTUAL"'));
    has(drs, 'wildcard host', (o) => String(spec(o)['host']).startsWith('*.'));
    has(drs, 'FQDN host', (o) => String(spec(o)['host']).endsWith('.svc.cluster.local') && !String(spec(o)['host']).startsWith('*'));
    has(drs, 'short host', (o) => !String(spec(o)['host']).includes('.'));
    has(drs, 'subsets', (o) => Array.isArray(spec(o)['subsets']));
    has(drs, 'portLevelSettings', (o) => json(o).includes('portLevelSettings'));
    has(drs, "exportTo ['.']", (o) => json(o).includes('"exportTo":["."]'));
    has(drs, 'workloadSelector', (o) => spec(o)['workloadSelector'] !== undefined);
    has(objects, 'PeerAuthentication with portLevelMtls', (o) => o.kind === 'PeerAuthentication' && spec(o)['portLevelMtls'] !== undefined);
    has(objects, 'AuthorizationPolicy on principals', (o) => o.kind === 'AuthorizationPolicy' && json(o).includes('"principals"'));
    has(objects, 'numeric targetPort', (o) => o.kind === 'Service' && json(o).includes('"targetPort":8080'));
    has(objects, 'named targetPort', (o) => o.kind === 'Service' && json(o).includes('"targetPort":"http"'));
  });

  test('the mesh model builds from it and sees every workload port', (t) => {
    const objects = meshSnapshot(SMALL_MESH);
    let model: MeshModel;
    try {
      model = MeshModel.build(objects, defaultPolicy());
      model.serverPorts();
    } catch (err) {
      if (err instanceof Error && /not implemented/.test(err.message)) return t.skip('src/mesh/model.ts is not implemented yet');
      throw err;
    }
    const ports = objects.filter((o) => o.kind === 'Deployment').reduce((n, w) => n + containerPorts(w).length, 0);
    assert.equal(model.serverPorts().length, ports);
    assert.ok(model.flows().length >= SMALL_MESH.services);
  });
});
