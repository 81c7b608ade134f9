// The layers of src/ and the one direction imports may point, enforced by `npm run lint`:
//
//   cli ──> server ──> admission ──> engine
//    │        │                        ▲
//    │        ├──> reports ──> mesh ───┤   (the mesh model answers the engine's MeshView)
//    │        └──> policy, certs ──────┘   (policy reads files into the engine's Policy)
//    └──> reports, mesh, policy, certs, admission
//
// - engine/  pure: imports no other layer and nothing that does I/O or serves (no fs, http, pino,
//            express, prom-client); everything else reaches it only through engine/index.ts.
// - admission/  AdmissionReview decode/encode and response mapping: the engine only.
// - policy/  reading policy text into the engine's Policy: the engine only.
// - mesh/    the mesh model (pure like the engine): the engine's public surface only, no I/O.
//            The engine declares what mesh-aware rules ask (engine/mesh-view.ts) and never
//            imports mesh/; server and cli build the model and hand it to the engine.
// - reports/ the mesh as reports (scan's rows, PolicyReports), pure like mesh/: the engine's and
//            the mesh model's public surfaces only, no I/O. `scan` prints them, the server writes
//            them to the cluster: one implementation for both.
// - certs/   certificate generation: no other layer.
// - server/  transport, TLS, watches, metrics: engine, admission, policy, certs, mesh, reports;
//            never cli.
// - cli/     commands: any layer below it.
// - util/    tiny helpers every layer may use (errorMessage); imports no other layer.
// A wrong import fails CI; test/lint/layers.test.ts shows each rule catching one.

const engineInternals = {
  group: ['**/engine/*', '**/engine/**/*', '!**/engine/index.js'],
  message: 'outside src/engine, import the engine only through engine/index.js (its public surface)',
};
const meshInternals = {
  group: ['**/mesh/*', '**/mesh/**/*', '!**/mesh/index.js'],
  message: 'outside src/mesh, import the mesh model only through mesh/index.js (its public surface)',
};
const layer = (name) => ({
  group: [`**/${name}/*`, `**/${name}/**/*`, `**/${name}.js`],
  message: `this layer may not import from src/${name}/ (see eslint.layers.js for the direction)`,
});
const restrict = (files, patterns, paths = []) => ({
  files,
  rules: { 'no-restricted-imports': ['error', { patterns, paths }] },
});
const ioModules = ['node:fs', 'node:fs/promises', 'node:http', 'node:https', 'node:http2', 'node:child_process', 'pino', 'express', 'prom-client'].map(
  (name) => ({ name, message: 'the engine is pure: no I/O, no serving; do it in server/, cli/ or policy/' }),
);

export const LAYER_RULES = [
  restrict(['src/engine/**/*.ts'], [layer('admission'), layer('policy'), layer('server'), layer('cli'), layer('certs'), layer('mesh'), layer('reports')], ioModules),
  restrict(['src/mesh/**/*.ts'], [engineInternals, layer('admission'), layer('policy'), layer('server'), layer('cli'), layer('certs'), layer('reports')], ioModules),
  restrict(['src/reports/**/*.ts'], [engineInternals, meshInternals, layer('admission'), layer('policy'), layer('server'), layer('cli'), layer('certs')], ioModules),
  restrict(['src/admission/**/*.ts'], [engineInternals, layer('policy'), layer('server'), layer('cli'), layer('certs'), layer('reports')]),
  restrict(['src/policy/**/*.ts'], [engineInternals, layer('admission'), layer('server'), layer('cli'), layer('certs'), layer('reports')]),
  restrict(['src/certs/**/*.ts'], [layer('engine'), layer('admission'), layer('policy'), layer('server'), layer('cli'), layer('reports')]),
  restrict(['src/server/**/*.ts'], [engineInternals, meshInternals, layer('cli')]),
  restrict(['src/cli/**/*.ts', 'src/cli.ts'], [engineInternals, meshInternals]),
  restrict(['src/util/**/*.ts'], [layer('engine'), layer('admission'), layer('policy'), layer('server'), layer('cli'), layer('certs'), layer('mesh'), layer('reports')]),
];
