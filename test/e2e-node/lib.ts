// Shared by the node suite's scenarios (test/e2e-node/*.e2e.ts): what scripts/e2e-node.sh set up
// (read from the environment it exports), kubectl and helm as a person runs them, waiting with a
// deadline, and one Helm release per scenario file in a namespace of its own.
// The API below is stable: other scenario files rely on it (add, do not change).
import { execFile, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { waitFor as waitUntil } from '../lib/wait.js';

function need(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the node suite with \`npm run e2e:node\` or \`scripts/e2e-node.sh test WORKDIR\` (scripts/e2e-node.sh sets up the node)`);
  return value;
}

/** What scripts/e2e-node.sh wrote to WORKDIR/e2e-node.env. */
export interface NodeEnv {
  /** Repository root; kubectl and helm run here. */
  root: string;
  /** The run's work dir (logs: apiserver.log, controller-manager.log, node/kubelet.log, ...). */
  work: string;
  /** scripts/e2e-tools.sh's directory: kubectl, helm, kube-apiserver, etcd, istio-crds.yaml. */
  bin: string;
  kubeconfig: string;
  /** scripts/node-tools.sh's directory: kubelet, containerd, ctr, runc, cni/, buildctl, ... */
  nodeBin: string;
  /** The image built from ./Dockerfile and imported into the node, e.g. mtls-guard.local/mtls-guard:e2e. */
  image: string;
  imageRepository: string;
  imageTag: string;
  /** The node's InternalIP (not loopback) and name. */
  nodeIp: string;
  nodeName: string;
  /** The node's own work dir (containerd root/state, kubelet root dir, pod logs). */
  nodeWork: string;
  /** containerd's socket, for `ctr --address ... -n k8s.io`. */
  containerdSock: string;
  /** The cluster CA (ca.crt, ca.key) and the other certificates of start-cluster.sh. */
  pkiDir: string;
  apiserverUrl: string;
  /** charts/mtls-guard in the working tree. */
  chart: string;
}

let cached: NodeEnv | undefined;

/** The node suite's environment; throws naming the first missing variable. */
export function nodeEnv(): NodeEnv {
  if (cached) return cached;
  const root = need('E2E_ROOT');
  cached = {
    root,
    work: need('E2E_WORK'),
    bin: need('E2E_BIN'),
    kubeconfig: need('KUBECONFIG'),
    nodeBin: need('E2E_NODE_BIN'),
    image: need('E2E_IMAGE'),
    imageRepository: need('E2E_IMAGE_REPOSITORY'),
    imageTag: need('E2E_IMAGE_TAG'),
    nodeIp: need('E2E_NODE_IP'),
    nodeName: need('E2E_NODE_NAME'),
    nodeWork: need('E2E_NODE_WORK'),
    containerdSock: need('E2E_CONTAINERD_SOCK'),
    pkiDir: need('E2E_PKI_DIR'),
    apiserverUrl: need('E2E_APISERVER_URL'),
    chart: join(root, 'charts', 'mtls-guard'),
  };
  return cached;
}

/** One finished command: what was run, its exit status and its output as printed. */
export interface Run {
  command: string;
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Written to the command's stdin (e.g. a manifest for `kubectl apply -f -`). */
  input?: string;
  /** Kills the command after this long; default 60 s (kubectl), 180 s (helm). */
  timeoutMs?: number;
}

function toolPath(tool: string): string {
  const env = nodeEnv();
  return tool === 'kubectl' || tool === 'helm' ? join(env.bin, tool) : join(env.nodeBin, tool);
}

function runSync(tool: string, args: readonly string[], options: RunOptions, defaultTimeoutMs: number): Run {
  const env = nodeEnv();
  const r = spawnSync(toolPath(tool), args, {
    cwd: env.root,
    input: options.input ?? '',
    encoding: 'utf8',
    env: { ...process.env, KUBECONFIG: env.kubeconfig },
    timeout: options.timeoutMs ?? defaultTimeoutMs,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  return { command: `${tool} ${args.join(' ')}`, status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** kubectl from the suite's tool chain against the suite's cluster (synchronous). */
export function kubectl(args: readonly string[], options: RunOptions = {}): Run {
  return runSync('kubectl', args, options, 60_000);
}

/** helm from the suite's tool chain (synchronous). */
export function helm(args: readonly string[], options: RunOptions = {}): Run {
  return runSync('helm', args, options, 180_000);
}

/** A binary of the node's tool chain (e.g. `ctr`, `runc`), synchronous; default timeout 60 s. */
export function runNodeTool(tool: string, args: readonly string[], options: RunOptions = {}): Run {
  return runSync(tool, args, options, 60_000);
}

/**
 * kubectl without blocking the event loop, for load that runs while something else happens
 * (e.g. a steady stream of dry-run creates during a `helm upgrade`). Never rejects for a non-zero
 * exit: the status is in the result; rejects only when kubectl could not be started.
 */
export function kubectlAsync(args: readonly string[], options: RunOptions = {}): Promise<Run> {
  const env = nodeEnv();
  return new Promise((resolve, reject) => {
    const child = execFile(
      toolPath('kubectl'),
      args,
      { cwd: env.root, env: { ...process.env, KUBECONFIG: env.kubeconfig }, timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') {
          if (err.killed || err.signal) {
            resolve({ command: `kubectl ${args.join(' ')}`, status: null, stdout, stderr: `${stderr}\n(killed: ${String(err.signal)})` });
            return;
          }
          reject(err);
          return;
        }
        resolve({ command: `kubectl ${args.join(' ')}`, status: err ? (err.code as number) : 0, stdout, stderr });
      },
    );
    child.stdin?.end(options.input ?? '');
  });
}

/** The whole run, for assertion messages. */
export function show(r: Run): string {
  return `$ ${r.command}\n(exit ${String(r.status)})\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
}

/** The run itself when it exited 0; throws with the whole run otherwise. */
export function ok(r: Run): Run {
  if (r.status !== 0) throw new Error(show(r));
  return r;
}

/** The parsed `-o json` output of a kubectl command that must succeed. */
export function kubectlJson<T>(args: readonly string[], options: RunOptions = {}): T {
  return JSON.parse(ok(kubectl([...args, '-o', 'json'], options)).stdout) as T;
}

/** The `Warning: ...` lines kubectl printed (API server warnings go to stderr). */
export function warnings(r: Run): string[] {
  return r.stderr.split('\n').filter((l) => l.startsWith('Warning: '));
}

/**
 * Polls `check` until it returns true; fails after `timeoutMs` (default 60 s) naming `what` and
 * the last error `check` threw. A passing wait returns as soon as the condition holds.
 */
export function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000, intervalMs = 500): Promise<void> {
  return waitUntil(what, check, { timeoutMs, intervalMs });
}

/** `--set` arguments that point the chart at the image built from ./Dockerfile (never pulled). */
export function imageValues(): string[] {
  const env = nodeEnv();
  return ['--set', `image.repository=${env.imageRepository}`, '--set', `image.tag=${env.imageTag}`, '--set', 'image.pullPolicy=Never'];
}

export interface ReleaseOptions {
  /** Release name (also the prefix of the chart's object names). */
  release: string;
  /** The release's own namespace, created here (one per scenario file). */
  namespace: string;
  /** Labels of that namespace (e.g. pod-security.kubernetes.io/enforce: restricted). */
  namespaceLabels?: Record<string, string>;
  /** More helm arguments, after the image values (e.g. ['--set', 'replicaCount=1'], ['-f', file]). */
  args?: readonly string[];
  /** `helm install --timeout`, seconds; default 180. */
  timeoutSeconds?: number;
}

/**
 * Creates the namespace and runs `helm install --wait` of the working tree's chart with the
 * suite's image; the pods are Ready (through the chart's probes) when it returns. Throws with
 * helm's output, the namespace's pods and events when the install fails.
 */
export function installRelease(o: ReleaseOptions): Run {
  const env = nodeEnv();
  ok(kubectl(['create', 'namespace', o.namespace]));
  const labels = Object.entries(o.namespaceLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  if (labels.length) ok(kubectl(['label', 'namespace', o.namespace, '--overwrite', ...labels]));
  const timeout = o.timeoutSeconds ?? 180;
  const r = helm(
    ['install', o.release, env.chart, '--namespace', o.namespace, ...imageValues(), ...(o.args ?? []), '--wait', '--timeout', `${timeout}s`],
    { timeoutMs: (timeout + 60) * 1000 },
  );
  if (r.status !== 0) {
    const pods = kubectl(['-n', o.namespace, 'get', 'pods,events', '-o', 'wide']);
    throw new Error(`${show(r)}\n--- pods and events in ${o.namespace}\n${pods.stdout}${pods.stderr}`);
  }
  return r;
}

/**
 * Helm arguments that give a release webhook configurations of its own (named after its
 * namespace) judging only namespaces labelled `<release>=target`, with cluster mode off (their
 * subject is the webhooks, not the mesh; 01 runs cluster mode: README "Cluster mode in the pods").
 * For scenarios that must not judge each other's objects.
 */
export function ownWebhookArgs(release: string, namespace: string): string[] {
  return [
    '--set', 'cluster.enabled=false',
    '--set', `webhook.validatingConfigurationName=${namespace}.validate.mtls-guard.io`,
    '--set', `webhook.mutatingConfigurationName=${namespace}.mutate.mtls-guard.io`,
    '--set', `webhook.matchNamespaceLabels.${release}=target`,
  ];
}

/** Creates namespace `target`, labelled so that `release`'s webhooks (ownWebhookArgs) judge it. */
export function createTarget(release: string, target: string): void {
  ok(kubectl(['create', 'namespace', target]));
  ok(kubectl(['label', 'namespace', target, `${release}=target`]));
}

/**
 * `helm uninstall --wait` (the webhook configurations go with it), then the namespace; waits
 * until the namespace is gone so the next scenario starts from a clean cluster. Never throws for
 * a release or namespace that is already gone.
 */
export async function uninstallRelease(release: string, namespace: string): Promise<void> {
  helm(['uninstall', release, '--namespace', namespace, '--wait', '--timeout', '120s', '--ignore-not-found']);
  kubectl(['delete', 'namespace', namespace, '--ignore-not-found', '--wait=false']);
  await waitFor(`namespace ${namespace} to be deleted`, () => kubectl(['get', 'namespace', namespace]).status !== 0, 120_000, 1000);
}

/** A pod as much as the scenarios read of it. */
export interface Pod {
  metadata: { name: string; namespace: string; uid: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec: { nodeName?: string; containers: { name: string; image: string; securityContext?: Record<string, unknown> }[]; securityContext?: Record<string, unknown> };
  status: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { name: string; ready: boolean; restartCount: number; containerID?: string; imageID?: string }[];
  };
}

/** The release's pods (selected by the chart's instance label). */
export function releasePods(release: string, namespace: string): Pod[] {
  return kubectlJson<{ items: Pod[] }>(['-n', namespace, 'get', 'pods', '-l', `app.kubernetes.io/instance=${release}`]).items;
}

/** True when the pod's Ready condition is True. */
export function podReady(pod: Pod): boolean {
  return pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}
