// @kubernetes/client-node, as an operator's own tooling would use it: setup and read-back.
import * as k8s from '@kubernetes/client-node';
import { e2eEnv } from './env.js';
import { waitFor as waitUntil } from '../../lib/wait.js';

let config: k8s.KubeConfig | undefined;

export function kubeConfig(): k8s.KubeConfig {
  if (!config) {
    config = new k8s.KubeConfig();
    config.loadFromFile(e2eEnv().kubeconfig);
  }
  return config;
}

export const core = (): k8s.CoreV1Api => kubeConfig().makeApiClient(k8s.CoreV1Api);
export const apps = (): k8s.AppsV1Api => kubeConfig().makeApiClient(k8s.AppsV1Api);
export const admission = (): k8s.AdmissionregistrationV1Api => kubeConfig().makeApiClient(k8s.AdmissionregistrationV1Api);
export const objects = (): k8s.KubernetesObjectApi => k8s.KubernetesObjectApi.makeApiClient(kubeConfig());

export type KObject = k8s.KubernetesObject & Record<string, unknown>;

export function statusCode(err: unknown): number | undefined {
  return err instanceof k8s.ApiException ? (err as k8s.ApiException<unknown>).code : undefined;
}

/** The Status message of a failed API call (the text kubectl prints after "Error from server"). */
export function statusMessage(err: unknown): string {
  if (!(err instanceof k8s.ApiException)) return err instanceof Error ? err.message : String(err);
  const body: unknown = (err as k8s.ApiException<unknown>).body;
  const parsed: unknown = typeof body === 'string' ? safeJson(body) : body;
  if (parsed && typeof parsed === 'object' && typeof (parsed as { message?: unknown }).message === 'string') {
    return (parsed as { message: string }).message;
  }
  return typeof body === 'string' ? body : JSON.stringify(body);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Creates the namespace (with labels) unless it exists; labels of an existing one are set. */
export async function ensureNamespace(name: string, labels: Record<string, string> = {}): Promise<void> {
  try {
    await core().createNamespace({ body: { metadata: { name, labels } } });
  } catch (err) {
    if (statusCode(err) !== 409) throw err;
    if (Object.keys(labels).length) await setNamespaceLabels(name, labels);
  }
}

/** Sets (string) or removes (null) namespace labels with a JSON merge patch. */
export async function setNamespaceLabels(name: string, labels: Record<string, string | null>): Promise<void> {
  await objects().patch(
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: labels as Record<string, string> } },
    undefined,
    undefined,
    undefined,
    undefined,
    k8s.PatchStrategy.MergePatch,
  );
}

/** The stored object, or undefined when the API server answers 404. */
export async function readObject(apiVersion: string, kind: string, namespace: string, name: string): Promise<KObject | undefined> {
  try {
    return (await objects().read({ apiVersion, kind, metadata: { name, namespace } })) as KObject;
  } catch (err) {
    if (statusCode(err) === 404) return undefined;
    throw err;
  }
}

/** Polls until `check` returns true; fails with `what` (and the API's last error) after the timeout. */
export function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000, intervalMs = 250): Promise<void> {
  return waitUntil(what, check, { timeoutMs, intervalMs, describeError: statusMessage });
}

/** The pod template annotations of a stored workload (CronJob: the job template's). */
export function templateAnnotations(obj: KObject | undefined): Record<string, string> | undefined {
  if (!obj) return undefined;
  let spec = obj['spec'] as Record<string, unknown> | undefined;
  if (obj.kind === 'CronJob') spec = (spec?.['jobTemplate'] as Record<string, unknown> | undefined)?.['spec'] as Record<string, unknown> | undefined;
  const template = spec?.['template'] as { metadata?: { annotations?: Record<string, string> } } | undefined;
  return template?.metadata?.annotations;
}
