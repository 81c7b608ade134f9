#!/usr/bin/env node
// Wraps one document of a manifest file in an AdmissionReview, the way the API server sends it,
// for trying the webhook with curl:  node examples/admission-review.mjs FILE [DOC] [OPERATION]
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';

const [file, doc = '1', operation = 'CREATE'] = process.argv.slice(2);
if (!file) {
  console.error('usage: admission-review.mjs FILE [DOCUMENT-NUMBER (1-based)] [CREATE|UPDATE|DELETE]');
  process.exit(2);
}
const object = parseAllDocuments(readFileSync(file, 'utf8'))[Number(doc) - 1]?.toJS();
if (!object) {
  console.error(`${file}: no document ${doc}`);
  process.exit(2);
}
const [group, version] = object.apiVersion.includes('/') ? object.apiVersion.split('/') : ['', object.apiVersion];
const review = {
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: {
    uid: `demo-${Date.now()}`,
    kind: { group, version, kind: object.kind },
    operation,
    namespace: object.metadata?.namespace ?? 'default',
    name: object.metadata?.name,
    userInfo: { username: 'alice', groups: ['system:authenticated'] },
    object: operation === 'DELETE' ? null : object,
    oldObject: operation === 'CREATE' ? null : object,
  },
};
process.stdout.write(JSON.stringify(review));
