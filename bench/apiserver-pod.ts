// `npm run bench:apiserver:pod` (bench/apiserver.ts --pod): the same four configurations as the
// local form, with (b) the floor server and (d) mtls-guard running as PODS on a real kubelet node
// (the node suite's harness, scripts/e2e-node.sh up: containerd + runc + CNI bridge + kubelet, the
// image built from our Dockerfile). The API server calls each through its Service (clientConfig.
// service, port 443; aggregator routing sends the call straight to the pod IP, not through
// kube-proxy's Service rules), as in a real install. mtls-guard is `helm install`ed with the
// chart's defaults except: one replica (the floor is one pod too), no PodDisruptionBudget (one
// replica), cluster mode off (as in the local form, so both forms time the same decision), and
// its own webhook configurations matching no namespace, so only the bench's registration
// (switched between (b) and (d)) sends it reviews.
// The floor pod runs bench/baseline-server.ts (transpiled, from a ConfigMap) on the same image's
// node, with the chart's pod and container security settings and resources.
// Holds the node lock for the whole run (scripts/e2e-node.sh); everything is torn down at the
// end, on failure and on SIGINT/SIGTERM. Must run as root (containerd, kubelet).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, envFile, guardDurations, poll, webhookConfiguration } from './apiserver-kube.js';
import { floorStats, measureRounds, PA_RESOURCES, runResults, type RoundsOptions } from './apiserver-rounds.js';
import { ROOT, run, transpile } from './processes.js';
import type { ApiServerResults } from './report.js';

const NAMESPACE = 'mtls-guard-bench';
const RELEASE = 'bench';
const FLOOR = 'bench-floor';
/** The chart's default requests/limits (charts/mtls-guard/values.yaml), given to the floor pod as well. */
const RESOURCES = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } };

export interface PodRunOptions extends RoundsOptions {
  /** Rebuild dist/ first (the image is built from the source tree either way). */
  build: boolean;
  /** Registers a teardown step, run in reverse order at the end, on failure and on a signal. */
  onCleanUp: (step: () => Promise<void>) => void;
}

/** scripts/e2e-node.sh up|down WORKDIR, its progress lines on our stderr (a cold `up` builds for a while); rejects on a non-zero exit. */
function nodeScript(mode: 'up' | 'down', nodeWork: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(ROOT, 'scripts/e2e-node.sh'), mode, nodeWork], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`scripts/e2e-node.sh ${mode} ${nodeWork} exited ${code ?? signal}`))));
  });
}

/** The floor server as a Deployment + Service (port 443 -> 8443), dressed as the chart dresses mtls-guard. */
function floorManifest(image: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: FLOOR, namespace: NAMESPACE },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: FLOOR } },
          template: {
            metadata: { labels: { app: FLOOR } },
            spec: {
              automountServiceAccountToken: false,
              securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
              containers: [
                {
                  name: 'floor',
                  image,
                  imagePullPolicy: 'Never',
                  command: ['node', '/bench/baseline-server.mjs', '--cert', '/tls/tls.crt', '--key', '/tls/tls.key', '--port', '8443', '--host', '0.0.0.0'],
                  ports: [{ name: 'https', containerPort: 8443 }],
                  readinessProbe: { tcpSocket: { port: 8443 }, periodSeconds: 2 },
                  securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
                  resources: RESOURCES,
                  volumeMounts: [
                    { name: 'server', mountPath: '/bench', readOnly: true },
                    { name: 'tls', mountPath: '/tls', readOnly: true },
                  ],
                },
              ],
              volumes: [
                { name: 'server', configMap: { name: `${FLOOR}-server` } },
                { name: 'tls', secret: { secretName: `${FLOOR}-tls` } },
              ],
            },
          },
        },
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: FLOOR, namespace: NAMESPACE },
        spec: { selector: { app: FLOOR }, ports: [{ name: 'https', port: 443, targetPort: 8443 }] },
      },
    ],
  });
}

/**
 * Brings the node up, installs both pods, measures (a)-(d) with measureRounds and returns the
 * results (webhookIn 'pod'); undefined when stopped by a signal. Throws with the failing step's
 * output (helm's, kubectl's, scripts/e2e-node.sh's) on any failure; teardown is left to the
 * registered clean-up steps.
 */
export async function runInPods(o: PodRunOptions): Promise<ApiServerResults | undefined> {
  if (process.getuid?.() !== 0) throw new Error('the pod form runs a kubelet node: run it as root');
  const started = new Date();
  const loadBefore = loadavg();
  if (o.build) {
    o.log('building dist/ (npm run build)');
    await run('npm', ['run', 'build']);
  }
  const work = mkdtempSync(join(tmpdir(), 'mtls-guard-bench-pod-'));
  const nodeWork = join(work, 'node');
  o.onCleanUp(async () => rmSync(work, { recursive: true, force: true }));
  o.onCleanUp(() => nodeScript('down', nodeWork));
  o.log(`node up in ${nodeWork} (scripts/e2e-node.sh up: tool chains, image from ./Dockerfile, control plane, kubelet; waits for the node lock)`);
  await nodeScript('up', nodeWork);
  if (o.stopped()) return undefined;
  const env = envFile(join(nodeWork, 'e2e-node.env'));
  const need = (k: string): string => {
    const v = env[k];
    if (!v) throw new Error(`${nodeWork}/e2e-node.env has no ${k}`);
    return v;
  };
  const bin = need('E2E_BIN');
  const image = need('E2E_IMAGE');
  for (const k of ['KUBECONFIG', 'HELM_CACHE_HOME', 'HELM_CONFIG_HOME', 'HELM_DATA_HOME', 'KUBECACHEDIR']) process.env[k] = need(k);
  const cluster = connect(nodeWork, bin, work);
  o.onCleanUp(async () => cluster.agent.destroy());
  const versions = (await run(join(bin, 'kube-apiserver'), ['--version'])).trim();

  o.log(`floor pod (${FLOOR}) and mtls-guard (helm release ${RELEASE}) in namespace ${NAMESPACE}`);
  await cluster.kubectl(['create', 'namespace', NAMESPACE]);
  const floorCerts = join(work, 'floor-certs');
  await run(process.execPath, [join(ROOT, 'bin/mtls-guard.js'), 'certs', '--service', FLOOR, '--namespace', NAMESPACE, '--out', floorCerts]);
  await cluster.kubectl(['-n', NAMESPACE, 'create', 'secret', 'tls', `${FLOOR}-tls`, '--cert', join(floorCerts, 'tls.crt'), '--key', join(floorCerts, 'tls.key')]);
  const script = transpile(join(ROOT, 'bench/baseline-server.ts'), join(work, 'baseline-server.mjs'));
  await cluster.kubectl(['-n', NAMESPACE, 'create', 'configmap', `${FLOOR}-server`, `--from-file=baseline-server.mjs=${script}`]);
  await cluster.kubectl(['apply', '-f', '-'], floorManifest(image));
  const [repository, tag] = [image.slice(0, image.lastIndexOf(':')), image.slice(image.lastIndexOf(':') + 1)];
  await run(join(bin, 'helm'), [
    'install', RELEASE, join(ROOT, 'charts/mtls-guard'), '--namespace', NAMESPACE,
    '--set', `image.repository=${repository}`, '--set', `image.tag=${tag}`, '--set', 'image.pullPolicy=Never',
    '--set', 'replicaCount=1', '--set', 'podDisruptionBudget.enabled=false', '--set', 'cluster.enabled=false',
    // Its own configurations judge no namespace: the bench's registration alone sends it reviews.
    '--set', `webhook.validatingConfigurationName=${NAMESPACE}.validate.mtls-guard.io`,
    '--set', `webhook.mutatingConfigurationName=${NAMESPACE}.mutate.mtls-guard.io`,
    '--set', `webhook.matchNamespaceLabels.${NAMESPACE}=never`,
    '--wait', '--timeout', '180s',
  ]);
  await cluster.kubectl(['-n', NAMESPACE, 'rollout', 'status', `deployment/${FLOOR}`, '--timeout=120s']);
  const podIp = (selector: string): Promise<string> =>
    poll(`pod ${selector} running with an IP`, 60_000, 500, async () => {
      const ip = (await cluster.kubectl(['-n', NAMESPACE, 'get', 'pods', '-l', selector, '--field-selector=status.phase=Running', '-o', 'jsonpath={.items[*].status.podIP}'])).trim();
      return ip && !ip.includes(' ') ? { value: ip } : { note: `IPs: '${ip}'` };
    });
  const guardIp = await podIp(`app.kubernetes.io/instance=${RELEASE}`);
  const floorIp = await podIp(`app=${FLOOR}`);
  const guardCa = (await cluster.kubectl(['get', 'validatingwebhookconfiguration', `${NAMESPACE}.validate.mtls-guard.io`, '-o', 'jsonpath={.webhooks[0].clientConfig.caBundle}'])).trim();
  const nodeInfo = JSON.parse(await cluster.kubectl(['get', 'node', need('E2E_NODE_NAME'), '-o', 'jsonpath={.status.nodeInfo}'])) as { kubeletVersion: string; containerRuntimeVersion: string };
  const podNode = (await cluster.kubectl(['-n', NAMESPACE, 'exec', `deployment/${FLOOR}`, '--', 'node', '--version'])).trim();
  o.log(`pods ready: mtls-guard ${guardIp}, floor ${floorIp} (Node ${podNode})`);

  const service = (name: string): { service: { namespace: string; name: string; port: number } } => ({ service: { namespace: NAMESPACE, name, port: 443 } });
  const rounds = await measureRounds(
    cluster,
    {
      yaml: {
        floor: webhookConfiguration(service(FLOOR), readFileSync(join(floorCerts, 'ca.crt')).toString('base64'), PA_RESOURCES),
        'mtls-guard': webhookConfiguration(service(`${RELEASE}-mtls-guard`), guardCa, PA_RESOURCES),
      },
      floorReviews: () => floorStats(floorIp, 8443),
      guardDurations: () => guardDurations(9090, guardIp),
    },
    o,
  );
  if (o.stopped()) return undefined;
  return {
    ...runResults({ started, apiserver: versions, rounds: o.rounds, loadBefore, loadAfter: loadavg() }, rounds),
    webhookIn: 'pod',
    pods: {
      image,
      node: podNode,
      kubelet: nodeInfo.kubeletVersion,
      containerRuntime: nodeInfo.containerRuntimeVersion,
      resources: `requests cpu ${RESOURCES.requests.cpu} memory ${RESOURCES.requests.memory}, limit memory ${RESOURCES.limits.memory}, no cpu limit`,
    },
  };
}
