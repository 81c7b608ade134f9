// The decision log wrapper with a stand-in inner handler, for outcomes the real engine gives
// only on a bug (a rule that throws).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DecodedReview } from '../../src/admission/review.js';
import type { Decision } from '../../src/engine/types.js';
import type { AdmissionContext } from '../../src/server/handler.js';
import { withDecisionLog } from '../../src/server/log-decision.js';
import { LEVEL, memoryLogger } from './helpers.js';

const review: DecodedReview = {
  apiVersion: 'admission.k8s.io/v1',
  uid: 'u-fail',
  dryRun: false,
  request: {
    kind: { group: 'security.istio.io', version: 'v1', kind: 'PeerAuthentication' },
    operation: 'CREATE',
    namespace: 'bookinfo',
    name: 'p',
    object: {},
    user: { username: 'bob' },
  },
};

const failed: Decision = {
  allowed: false,
  mode: 'enforce',
  violations: [],
  failures: [{ rule: 'peerauthentication-disable', error: 'boom' }],
  warnings: [],
  notices: [],
  refusal: { cause: 'rule-failure', message: 'mtls-guard internal error' },
  patch: [],
  mutations: [],
};

test('a decision with rule failures is logged once, at error level, with the failures', () => {
  const { logger, lines } = memoryLogger();
  const ctx: AdmissionContext = { webhook: 'validate', review, startedAt: process.hrtime.bigint() };
  const out = withDecisionLog(() => failed, logger)(ctx);
  assert.equal(out, failed, 'the decision passes through unchanged');
  assert.equal(lines.length, 1);
  assert.equal(lines[0]?.level, LEVEL.error);
  assert.equal(lines[0]?.['decision'], 'denied');
  assert.deepEqual(lines[0]?.['failures'], [{ rule: 'peerauthentication-disable', error: 'boom' }]);
  assert.equal(lines[0]?.['user'], 'bob');
});

test('a decision without failures is logged at info', () => {
  const { logger, lines } = memoryLogger();
  const ctx: AdmissionContext = { webhook: 'validate', review, startedAt: process.hrtime.bigint() };
  withDecisionLog(() => ({ ...failed, allowed: true, failures: [], status: undefined } as Decision), logger)(ctx);
  assert.equal(lines[0]?.level, LEVEL.info);
  assert.equal(lines[0]?.['decision'], 'allowed');
  assert.equal(lines[0]?.['failures'], undefined);
});
