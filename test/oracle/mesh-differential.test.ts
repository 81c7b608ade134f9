// Differential test of the mesh model (src/mesh) against Istio's own code (the oracle's `mesh`
// op): fast-check generates small meshes (2-3 namespaces with istio-system as the root, Services
// with numeric, named and absent targetPorts, workloads with and without a sidecar,
// PeerAuthentications at mesh / namespace / workload level with portLevelMtls and UNSET,
// DestinationRules with short / FQDN / wildcard hosts, subsets, portLevelSettings, tls with and
// without a mode, exportTo and workloadSelector), and for each mesh, every client (namespace x pod
// labels) x host x port x subset, compares:
//   - the DestinationRules picked (SidecarScope.DestinationRule's GetFrom()),
//   - the client TLS (GetPortLevelTrafficPolicy + MergeSubsetTrafficPolicy; null = AUTO),
//   - the endpoints reached (workload x container port) and the server mode on each,
//   - the outcome: Istio does not answer it at this level; it is composed from Istio's three
//     answers with the table in README.md ("mesh") and compared with the model's,
//   - the server mode (and sidecar) of every workload port (GetMutualTLSModeForPort).
// The oracle must be built (scripts/oracle.sh); without it the test is skipped unless
// MTLS_GUARD_REQUIRE_ORACLE is set. Seeds: MTLS_GUARD_SEED (default 20261130) .. +3; meshes per
// seed: MTLS_GUARD_MESH_RUNS (default 250).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Oracle, oracleBinary } from './client.js';
import { runMeshes } from './mesh-harness.js';

const bin = oracleBinary({ ifBuilt: true });
const required = process.env['MTLS_GUARD_REQUIRE_ORACLE'] !== undefined;
const skip = bin || required ? false : 'oracle not built (run scripts/oracle.sh, or set MTLS_GUARD_ORACLE)';
const SEED = Number(process.env['MTLS_GUARD_SEED'] ?? 20261130);
const SEEDS = [SEED, SEED + 1, SEED + 2, SEED + 3];
const RUNS = Number(process.env['MTLS_GUARD_MESH_RUNS'] ?? 250);

describe(`mesh model vs Istio's own code (seeds ${SEEDS.join(', ')}, ${RUNS} meshes each)`, { skip }, () => {
  let oracle: Oracle;
  before(async () => {
    assert.ok(bin, 'MTLS_GUARD_REQUIRE_ORACLE is set but the oracle is not built: run scripts/oracle.sh');
    oracle = await Oracle.start(bin);
  });
  after(async () => {
    await oracle?.close();
  });

  it('picks the same DestinationRules, client TLS, endpoints, server modes and outcomes as Istio', async () => {
    // Empty workloadSelectors included: the model once read them as no selector (oracle-found fixtures).
    const tally = await runMeshes(oracle, SEEDS, RUNS, { emptySelector: true });
    process.stdout.write(`# mesh differential: ${tally.summary()}\n`);
    for (const what of ['outcome mtls', 'outcome plaintext', 'outcome broken', 'outcome tls', 'rules picked 2+', 'rule from root ns', 'rule from service ns', 'clientTls AUTO', 'server sidecar DISABLE']) {
      assert.ok((tally.coverage.get(what) ?? 0) > 0, `the generator never reached "${what}": ${tally.summary()}`);
    }
    assert.equal(tally.byAspect.size, 0, `${tally.summary()}\n  ${tally.examples.join('\n  ')}`);
  });
});
