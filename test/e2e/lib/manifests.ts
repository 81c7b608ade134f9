// Small manifest builders and parsers shared by the scenarios.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { e2eEnv } from './env.js';

export type Manifest = Record<string, unknown> & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; [k: string]: unknown } };

/** The documents of a repository file (e.g. examples/manifests/bookinfo-violations.yaml). */
export function repoManifests(path: string): Manifest[] {
  return parseAllDocuments(readFileSync(join(e2eEnv().root, path), 'utf8')).map((d) => d.toJS() as Manifest);
}

/** Multi-document YAML for `kubectl apply -f -`. */
export function yamlDocs(...docs: Manifest[]): string {
  return docs.map((d) => stringify(d)).join('---\n');
}

export function peerAuthentication(namespace: string, name: string, spec: Record<string, unknown>, apiVersion = 'security.istio.io/v1'): Manifest {
  return { apiVersion, kind: 'PeerAuthentication', metadata: { name, namespace }, spec };
}

export function destinationRule(namespace: string, name: string, host: string, spec: Record<string, unknown> = {}, apiVersion = 'networking.istio.io/v1'): Manifest {
  return { apiVersion, kind: 'DestinationRule', metadata: { name, namespace }, spec: { host, trafficPolicy: { tls: { mode: 'DISABLE' } }, ...spec } };
}

export function podTemplate(app: string, annotations?: Record<string, string>): Record<string, unknown> {
  return {
    metadata: { labels: { app }, ...(annotations && { annotations }) },
    spec: { containers: [{ name: app, image: `registry.example/${app}:1.0` }] },
  };
}

export function deployment(namespace: string, name: string, annotations?: Record<string, string>): Manifest {
  return { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace }, spec: { selector: { matchLabels: { app: name } }, template: podTemplate(name, annotations) } };
}

export function cronJob(namespace: string, name: string): Manifest {
  const template = podTemplate(name);
  (template['spec'] as Record<string, unknown>)['restartPolicy'] = 'OnFailure';
  return { apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name, namespace }, spec: { schedule: '0 3 * * *', jobTemplate: { spec: { template } } } };
}

export function deploymentConfig(namespace: string, name: string): Manifest {
  return { apiVersion: 'apps.openshift.io/v1', kind: 'DeploymentConfig', metadata: { name, namespace }, spec: { replicas: 1, selector: { app: name }, template: podTemplate(name) } };
}

/** The README's example manifests (repository-relative: kubectl prints the path as given). */
export const VIOLATIONS_FILE = 'examples/manifests/bookinfo-violations.yaml';
export const ALLOWED_FILE = 'examples/manifests/bookinfo-allowed.yaml';

/**
 * Our warning lines as kubectl prints them: `Warning: mtls-guard: [rule] Kind ns/name: ...`, one
 * line, at most 256 characters after "Warning: ". The wording after the object is the engine's.
 */
export function ourWarning(line: string | undefined, rule: string, ref: string): string {
  const text = line ?? '';
  const prefix = `Warning: mtls-guard: [${rule}] ${ref}`;
  if (!text.startsWith(prefix)) throw new Error(`expected a warning starting with "${prefix}", got: ${text}`);
  if (text.length > 'Warning: '.length + 256) throw new Error(`warning over 256 characters: ${text}`);
  return text.slice(prefix.length);
}

export const DENIED_PREFIX = 'admission webhook "validate.mtls-guard.io" denied the request: ';

/**
 * The kubectl errors in stderr, one per refused object: each starts with "Error from server" and
 * runs to the next one (our messages span several lines).
 */
export function serverErrors(stderr: string): string[] {
  return stderr
    .split(/^(?=Error from server)/m)
    .map((s) => s.trimEnd())
    .filter((s) => s.startsWith('Error from server'));
}

/** The webhook's own message inside a kubectl error (the text after "denied the request: "). */
export function deniedMessage(error: string): string | undefined {
  const i = error.indexOf(DENIED_PREFIX);
  return i < 0 ? undefined : error.slice(i + DENIED_PREFIX.length);
}

export const SIDECAR_ANNOTATIONS = {
  'sidecar.istio.io/rewriteAppHTTPProbers': 'true',
  'sidecar.istio.io/statsInclusionPrefixes': 'tls_inspector,listener,cluster',
};
