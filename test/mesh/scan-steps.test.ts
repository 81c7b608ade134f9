// The step-wise walk of the mesh (MeshModel.scanSteps, what cluster mode runs a few steps at a
// time between admissions) answers exactly what the whole-mesh methods answer, and keeps going
// without throwing when the model changes between its steps.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { defaultPolicy } from '../../src/engine/index.js';
import { MeshModel } from '../../src/mesh/index.js';
import { meshSnapshot, SMALL_MESH, scaleMesh } from '../../bench/mesh-snapshot.js';

function drain<T>(steps: Generator<void, T>): { steps: number; value: T } {
  let n = 0;
  for (;;) {
    const next = steps.next();
    if (next.done) return { steps: n, value: next.value };
    n++;
  }
}

describe('MeshModel.scanSteps', () => {
  for (const [name, size] of [
    ['the small bench mesh', SMALL_MESH],
    ['the bench mesh scaled to 400 Services', scaleMesh(SMALL_MESH, 400 / SMALL_MESH.services)],
  ] as const) {
    test(`equals serverPorts(), flows(), authorizationConflicts() on ${name}, in small steps`, () => {
      const objects = meshSnapshot(size);
      const stepped = MeshModel.build(objects, defaultPolicy());
      const whole = MeshModel.build(objects, defaultPolicy());
      const { steps, value } = drain(stepped.scanSteps());
      const serverPorts = whole.serverPorts();
      const flows = whole.flows();
      const conflicts = whole.authorizationConflicts();
      assert.ok(serverPorts.length > 0 && flows.length > 0 && conflicts.length > 0, 'the mesh has every kind of answer');
      assert.deepEqual(value.serverPorts, serverPorts);
      assert.deepEqual(value.flows, flows);
      assert.deepEqual(value.conflicts, conflicts);
      // One step per workload (server ports, conflicts) and per Service or ServiceEntry host.
      const services = new Set(flows.map((f) => `${f.service.namespace}/${f.service.name}/${f.host}`)).size;
      assert.ok(steps >= services, `${steps} steps for ${services} services`);
    });
  }

  test('the model changing between steps: no throw, and a fresh walk sees the change', () => {
    const objects = meshSnapshot(SMALL_MESH);
    const model = MeshModel.build(objects, defaultPolicy());
    const services = objects.filter((o) => o.kind === 'Service');
    const deployments = objects.filter((o) => o.kind === 'Deployment');
    assert.ok(services.length > 10 && deployments.length > 10);
    const walk = model.scanSteps();
    let i = 0;
    for (let next = walk.next(); !next.done; next = walk.next(), i++) {
      // Delete and re-add objects the walk has not reached yet and ones it has passed.
      if (i % 7 === 3) {
        const s = services[i % services.length];
        const d = deployments[(i * 3) % deployments.length];
        if (s) model.delete({ group: '', kind: 'Service', namespace: s.metadata.namespace ?? '', name: s.metadata.name });
        if (d) model.delete({ group: 'apps', kind: 'Deployment', namespace: d.metadata.namespace ?? '', name: d.metadata.name });
        if (i % 2 === 0 && s) model.apply(s);
      }
    }
    const after = drain(model.scanSteps()).value;
    assert.deepEqual(after.flows, model.flows());
    assert.deepEqual(after.serverPorts, model.serverPorts());
  });
});
