// AdmissionReview decoding and encoding (admission.k8s.io v1 and v1beta1). Hand-checked rather
// than schema-parsed: this runs on every API-server write, the checks are few, and each error
// names the field the API server (or a person with curl) got wrong.
import { asRecord, asString, dig, displayName, type AdmissionOperation, type Decision, type EngineRequest } from '../engine/index.js';
import { admissionStatus, auditAnnotations } from './response.js';

export const REVIEW_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'] as const;
export type ReviewVersion = (typeof REVIEW_VERSIONS)[number];
const OPERATIONS: readonly AdmissionOperation[] = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'];

export interface DecodedReview {
  apiVersion: ReviewVersion;
  uid: string;
  dryRun: boolean;
  request: EngineRequest;
}

export type DecodeResult = { ok: true; review: DecodedReview } | { ok: false; error: string };

function fail(error: string): DecodeResult {
  return { ok: false, error };
}

function objectName(req: Record<string, unknown>, object: unknown, oldObject: unknown): string {
  const name = asString(req['name']) || asString(dig(object, 'metadata', 'name')) || asString(dig(oldObject, 'metadata', 'name'));
  return displayName(name, asString(dig(object, 'metadata', 'generateName')));
}

function isObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describeJson(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}

/**
 * CREATE and UPDATE carry the object being written, and UPDATE the one it replaces (the API
 * server always sends both), so anything but a JSON object there is not a review from an API
 * server; judging it would let it through unexamined. DELETE carries no object and CONNECT
 * an options object that is not judged.
 */
function checkObjects(operation: AdmissionOperation, req: Record<string, unknown>): string | undefined {
  if (operation !== 'CREATE' && operation !== 'UPDATE') return undefined;
  if (!isObject(req['object'])) return `request.object: expected the ${operation === 'CREATE' ? 'object being created' : 'new object'} (a JSON object) on ${operation}, got ${describeJson(req['object'])}`;
  if (operation === 'UPDATE' && !isObject(req['oldObject'])) {
    return `request.oldObject: expected the object being replaced (a JSON object) on UPDATE, got ${describeJson(req['oldObject'])}`;
  }
  return undefined;
}

/**
 * Checks a parsed request body as an AdmissionReview (admission.k8s.io v1 or v1beta1) and turns
 * its request into the engine's request: kind, operation, namespace and name (the name of an
 * object with only generateName as `<generateName><generated>`), object, oldObject, user.
 * @param body the JSON-parsed body, any value.
 * @returns the review's apiVersion, uid, dryRun and request; or an error naming the field that is
 *   wrong (kind, apiVersion, request.uid, request.kind, request.operation, request.object...),
 *   which the transport answers with 400. Never throws.
 */
export function decodeReview(body: unknown): DecodeResult {
  const review = asRecord(body);
  if (!review) return fail('body is not a JSON object; expected an AdmissionReview');
  if (review['kind'] !== 'AdmissionReview') return fail(`kind: expected "AdmissionReview", got ${JSON.stringify(review['kind'] ?? null)}`);
  const apiVersion = review['apiVersion'];
  if (!REVIEW_VERSIONS.includes(apiVersion as ReviewVersion)) {
    return fail(`apiVersion: expected one of ${REVIEW_VERSIONS.join(', ')}, got ${JSON.stringify(apiVersion ?? null)}`);
  }
  const req = asRecord(review['request']);
  if (!req) return fail('request: missing or not an object');
  const uid = req['uid'];
  if (typeof uid !== 'string' || uid === '') return fail('request.uid: missing or not a non-empty string');
  const kind = asRecord(req['kind']);
  if (!kind) return fail('request.kind: missing or not an object');
  const group = kind['group'] ?? '';
  const version = kind['version'];
  const kindName = kind['kind'];
  if (typeof group !== 'string') return fail('request.kind.group: not a string');
  if (typeof version !== 'string') return fail('request.kind.version: missing or not a string');
  if (typeof kindName !== 'string' || kindName === '') return fail('request.kind.kind: missing or not a string');
  const operation = req['operation'];
  if (!OPERATIONS.includes(operation as AdmissionOperation)) {
    return fail(`request.operation: expected one of ${OPERATIONS.join(', ')}, got ${JSON.stringify(operation ?? null)}`);
  }
  for (const key of ['namespace', 'name'] as const) {
    if (req[key] !== undefined && typeof req[key] !== 'string') return fail(`request.${key}: not a string`);
  }
  const userInfo = req['userInfo'];
  if (userInfo !== undefined && !asRecord(userInfo)) return fail('request.userInfo: not an object');
  const username = dig(userInfo, 'username');
  if (username !== undefined && typeof username !== 'string') return fail('request.userInfo.username: not a string');
  const groupsRaw = dig(userInfo, 'groups');
  if (groupsRaw !== undefined && groupsRaw !== null && !(Array.isArray(groupsRaw) && groupsRaw.every((g) => typeof g === 'string'))) {
    return fail('request.userInfo.groups: not a list of strings');
  }
  const object = req['object'] ?? null;
  const oldObject = req['oldObject'] ?? null;
  const objectProblem = checkObjects(operation as AdmissionOperation, req);
  if (objectProblem) return fail(objectProblem);
  const user: EngineRequest['user'] = {};
  if (typeof username === 'string') user.username = username;
  if (Array.isArray(groupsRaw)) user.groups = groupsRaw as string[];
  const namespace = asString(req['namespace']) || asString(dig(object, 'metadata', 'namespace')) || '';
  return {
    ok: true,
    review: {
      apiVersion: apiVersion as ReviewVersion,
      uid,
      dryRun: req['dryRun'] === true,
      request: {
        kind: { group, version, kind: kindName },
        operation: operation as AdmissionOperation,
        namespace,
        name: objectName(req, object, oldObject),
        object,
        oldObject,
        user,
      },
    },
  };
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { metadata: Record<string, never>; status: 'Failure'; code: number; reason: string; message: string };
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
  patchType?: 'JSONPatch';
  patch?: string;
}

export interface AdmissionReviewOut {
  apiVersion: ReviewVersion;
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

/**
 * The AdmissionReview answer for a decision: `response.uid` is the request's, the apiVersion is
 * echoed; a refusal's status (403/500), warnings, audit annotations, and the patch (base64 JSON
 * Patch, only when allowed and non-empty).
 */
export function encodeReview(apiVersion: ReviewVersion, uid: string, decision: Decision): AdmissionReviewOut {
  const response: AdmissionResponse = { uid, allowed: decision.allowed };
  const status = admissionStatus(decision);
  if (status) response.status = { metadata: {}, status: 'Failure', ...status };
  if (decision.warnings.length) response.warnings = decision.warnings;
  const annotations = auditAnnotations(decision);
  if (Object.keys(annotations).length) response.auditAnnotations = annotations;
  if (decision.allowed && decision.patch.length) {
    response.patchType = 'JSONPatch';
    response.patch = Buffer.from(JSON.stringify(decision.patch)).toString('base64');
  }
  return { apiVersion, kind: 'AdmissionReview', response };
}
