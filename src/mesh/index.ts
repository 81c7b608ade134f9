// The mesh model's public surface: everything outside src/mesh/ imports from here. Pure: built
// from objects (manifests for `check`/`scan`, informer caches in a cluster), no I/O.
export { MeshModel, type MeshObjectKey } from './model.js';
export { sameModelInputs, type ModelInputs } from './objects.js';
export type { AuthorizationConflict, ClientGroup, ClientTls, Flow, FlowOutcome, MeshObjectRef, MeshView, PeerAuthenticationEffect, ServerMode, ServerPort, SettingSource } from '../engine/index.js';
