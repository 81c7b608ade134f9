// Shrinks the meshes on which the mesh model and Istio disagree (mesh-differential.test.ts) to
// minimal cases, and prints each as the YAML of test/fixtures/mesh/oracle-found/*.yaml.
//
//   [MESH_EMPTY_SELECTOR=1] node --import tsx test/oracle/mesh-minimize.ts [seed] [runs] [max cases]
//
// Greedy: drops configs, services, workloads, ports and spec fields one at a time while a
// disagreement of the same aspect remains, then keeps the first disagreeing query.
import { stringify } from 'yaml';
import { defaultPolicy } from '../../src/engine/index.js';
import { MeshModel } from '../../src/mesh/index.js';
import { Oracle, oracleBinary, type MeshAnswer, type MeshRequest } from './client.js';
import { compare, manifests, meshGen, request, type Disagreement, type Json, type Mesh } from './mesh-harness.js';
import fc from 'fast-check';

const seed = Number(process.argv[2] ?? 20261130);
const runs = Number(process.argv[3] ?? 250);
const maxCases = Number(process.argv[4] ?? 20);
const emptySelector = process.env['MESH_EMPTY_SELECTOR'] === '1';
const policy = defaultPolicy();

async function disagreements(oracle: Oracle, mesh: Mesh): Promise<{ ds: Disagreement[]; answer: MeshAnswer; req: MeshRequest }> {
  const req = request(mesh);
  const a = await oracle.ask1(req);
  if (!a.ok) throw new Error(JSON.stringify(a));
  return { ds: compare(mesh, MeshModel.build(manifests(mesh), policy), a, req.queries), answer: a, req };
}

/** Every mesh one step smaller than `mesh`. */
function smaller(mesh: Mesh): Mesh[] {
  const out: Mesh[] = [];
  const without = <T>(list: T[], i: number): T[] => list.filter((_, j) => j !== i);
  mesh.configs.forEach((_, i) => out.push({ ...mesh, configs: without(mesh.configs, i) }));
  mesh.services.forEach((s, i) => {
    if (mesh.services.length > 1) out.push({ ...mesh, services: without(mesh.services, i) });
    s.ports.forEach((_, k) => {
      if (s.ports.length > 1) out.push({ ...mesh, services: mesh.services.map((x, j) => (j === i ? { ...x, ports: without(x.ports, k) } : x)) });
    });
  });
  mesh.workloads.forEach((w, i) => {
    out.push({ ...mesh, workloads: without(mesh.workloads, i) });
    w.ports.forEach((_, k) => {
      if (w.ports.length > 1) out.push({ ...mesh, workloads: mesh.workloads.map((x, j) => (j === i ? { ...x, ports: without(x.ports, k) } : x)) });
    });
  });
  if (mesh.namespaces.length > 2) {
    const last = mesh.namespaces[mesh.namespaces.length - 1] as string;
    const uses = JSON.stringify([mesh.services, mesh.workloads, mesh.configs]).includes(last);
    if (!uses) out.push({ ...mesh, namespaces: mesh.namespaces.slice(0, -1) });
  }
  // Spec fields of configs, and fields inside trafficPolicy / subsets.
  mesh.configs.forEach((c, i) => {
    const spec = c['spec'] as Json;
    const withSpec = (next: Json): Mesh => ({ ...mesh, configs: mesh.configs.map((x, j) => (j === i ? { ...x, spec: next } : x)) });
    for (const k of Object.keys(spec)) {
      if (k === 'host') continue;
      const rest = { ...spec };
      delete rest[k];
      out.push(withSpec(rest));
    }
    const tp = spec['trafficPolicy'] as Json | undefined;
    if (tp) for (const k of Object.keys(tp)) {
      const rest = { ...tp };
      delete rest[k];
      out.push(withSpec({ ...spec, trafficPolicy: rest }));
    }
    const subsets = spec['subsets'] as Json[] | undefined;
    if (subsets) subsets.forEach((s, k) => {
      out.push(withSpec({ ...spec, subsets: without(subsets, k) }));
      if (s['trafficPolicy']) out.push(withSpec({ ...spec, subsets: subsets.map((x, j) => (j === k ? { name: x['name'], labels: x['labels'] } : x)) }));
    });
    const plm = spec['portLevelMtls'] as Json | undefined;
    if (plm) for (const k of Object.keys(plm)) {
      const rest = { ...plm };
      delete rest[k];
      out.push(withSpec({ ...spec, portLevelMtls: rest }));
    }
  });
  return out;
}

async function shrink(oracle: Oracle, mesh: Mesh, aspect: string): Promise<Mesh> {
  let current = mesh;
  for (let progress = true; progress; ) {
    progress = false;
    for (const candidate of smaller(current)) {
      const { ds } = await disagreements(oracle, candidate);
      if (ds.some((d) => d.aspect === aspect)) {
        current = candidate;
        progress = true;
        break;
      }
    }
  }
  return current;
}

const oracle = await Oracle.start(oracleBinary());
const meshes = fc.sample(meshGen({ emptySelector }), { numRuns: runs, seed });
const seen = new Set<string>();
let cases = 0;
for (const mesh of meshes) {
  if (cases >= maxCases) break;
  const { ds } = await disagreements(oracle, mesh);
  for (const aspect of new Set(ds.map((d) => d.aspect))) {
    const small = await shrink(oracle, mesh, aspect);
    const { ds: smallDs, answer, req } = await disagreements(oracle, small);
    const d = smallDs.find((x) => x.aspect === aspect) as Disagreement;
    const key = JSON.stringify([aspect, small.configs.map((c) => [c['kind'], (c['metadata'] as Json)['namespace'], c['spec']])]);
    if (seen.has(key)) continue;
    seen.add(key);
    cases++;
    const qi = d.query ? req.queries.findIndex((q) => JSON.stringify(q) === JSON.stringify(d.query)) : -1;
    process.stdout.write(
      `---\n${stringify({
        description: `${aspect}: model ${JSON.stringify(d.model)}, Istio ${JSON.stringify(d.istio)}`,
        objects: manifests(small),
        query: d.query ?? null,
        istio: qi >= 0 ? answer.queries[qi] : { serverPorts: answer.serverPorts },
        model: d.model,
      })}`,
    );
  }
}
await oracle.close();
