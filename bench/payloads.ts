// AdmissionReview bodies for the benchmark and the reliability tests, shaped like what a real
// API server sends: full request fields, userInfo with groups, managedFields on the objects.
// Deterministic (no randomness) so two runs load the servers with the same bytes.

export interface Payload {
  /** Stable id used in tables, file names and the chart. */
  id: string;
  title: string;
  /** The mtls-guard webhook this review is meant for. */
  webhook: 'validate' | 'mutate';
  body: string;
  /** What mtls-guard is expected to answer, checked once before the load starts. */
  expect: 'deny' | 'patch' | 'allow';
}

interface ReviewFields {
  uid: string;
  group: string;
  version: string;
  kind: string;
  resource: string;
  operation: 'CREATE' | 'UPDATE';
  namespace: string;
  name: string;
  object: unknown;
  oldObject?: unknown;
}

function review(f: ReviewFields): Record<string, unknown> {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: f.uid,
      kind: { group: f.group, version: f.version, kind: f.kind },
      resource: { group: f.group, version: f.version, resource: f.resource },
      requestKind: { group: f.group, version: f.version, kind: f.kind },
      requestResource: { group: f.group, version: f.version, resource: f.resource },
      name: f.name,
      namespace: f.namespace,
      operation: f.operation,
      userInfo: {
        username: 'system:serviceaccount:argocd:argocd-application-controller',
        uid: '2b8c1bd4-6a8e-4d0e-9d1c-7c0f4f6e1a01',
        groups: ['system:serviceaccounts', 'system:serviceaccounts:argocd', 'system:authenticated'],
        extra: { 'authentication.kubernetes.io/pod-name': ['argocd-application-controller-0'] },
      },
      object: f.object,
      oldObject: f.oldObject ?? null,
      dryRun: false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: f.operation === 'CREATE' ? 'CreateOptions' : 'UpdateOptions', fieldManager: 'argocd-controller' },
    },
  };
}

export function peerAuthenticationDisable(): Record<string, unknown> {
  const object = {
    apiVersion: 'security.istio.io/v1',
    kind: 'PeerAuthentication',
    metadata: {
      name: 'ratings-mtls-disable',
      namespace: 'bookinfo',
      uid: 'f7d0d4a4-3b0e-4bb5-9a43-3d3c0e6c2a11',
      creationTimestamp: '2026-11-25T10:00:00Z',
      labels: { 'app.kubernetes.io/part-of': 'bookinfo' },
    },
    spec: { selector: { matchLabels: { app: 'ratings' } }, mtls: { mode: 'DISABLE' } },
  };
  return review({
    uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
    group: 'security.istio.io',
    version: 'v1',
    kind: 'PeerAuthentication',
    resource: 'peerauthentications',
    operation: 'CREATE',
    namespace: 'bookinfo',
    name: 'ratings-mtls-disable',
    object,
  });
}

/** managedFields the way kubectl/argocd leave them: one entry per manager, a FieldsV1 tree. */
function managedFields(containers: string[], managers: string[]): unknown[] {
  const containerFields = Object.fromEntries(
    containers.map((c) => [
      `k:{"name":"${c}"}`,
      {
        '.': {},
        'f:env': Object.fromEntries(['LOG_LEVEL', 'SERVICE_VERSION', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'JAVA_OPTS'].map((e) => [`k:{"name":"${e}"}`, { '.': {}, 'f:name': {}, 'f:value': {} }])),
        'f:image': {},
        'f:imagePullPolicy': {},
        'f:livenessProbe': { '.': {}, 'f:httpGet': { '.': {}, 'f:path': {}, 'f:port': {}, 'f:scheme': {} }, 'f:periodSeconds': {} },
        'f:name': {},
        'f:ports': { '.': {}, 'k:{"containerPort":9080,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {}, 'f:name': {}, 'f:protocol': {} } },
        'f:readinessProbe': { '.': {}, 'f:httpGet': { '.': {}, 'f:path': {}, 'f:port': {}, 'f:scheme': {} } },
        'f:resources': { '.': {}, 'f:limits': { '.': {}, 'f:cpu': {}, 'f:memory': {} }, 'f:requests': { '.': {}, 'f:cpu': {}, 'f:memory': {} } },
        'f:securityContext': { '.': {}, 'f:runAsNonRoot': {}, 'f:allowPrivilegeEscalation': {} },
        'f:terminationMessagePath': {},
        'f:volumeMounts': { '.': {}, 'k:{"mountPath":"/tmp"}': { '.': {}, 'f:mountPath': {}, 'f:name': {} } },
      },
    ]),
  );
  return managers.map((manager, i) => ({
    manager,
    operation: i === 0 ? 'Apply' : 'Update',
    apiVersion: 'apps/v1',
    time: `2026-11-2${i}T09:1${i}:00Z`,
    fieldsType: 'FieldsV1',
    fieldsV1: {
      'f:metadata': { 'f:annotations': { '.': {}, 'f:deployment.kubernetes.io/revision': {} }, 'f:labels': { '.': {}, 'f:app': {}, 'f:version': {} } },
      'f:spec': {
        'f:replicas': {},
        'f:selector': {},
        'f:strategy': { 'f:rollingUpdate': { '.': {}, 'f:maxSurge': {}, 'f:maxUnavailable': {} }, 'f:type': {} },
        'f:template': {
          'f:metadata': { 'f:labels': { '.': {}, 'f:app': {}, 'f:version': {} } },
          'f:spec': { 'f:containers': containerFields, 'f:serviceAccountName': {}, 'f:volumes': { '.': {}, 'k:{"name":"tmp"}': { '.': {}, 'f:emptyDir': {}, 'f:name': {} } } },
        },
      },
    },
  }));
}

function container(name: string, image: string): Record<string, unknown> {
  return {
    name,
    image,
    imagePullPolicy: 'IfNotPresent',
    ports: [{ name: 'http', containerPort: 9080, protocol: 'TCP' }],
    env: [
      { name: 'LOG_LEVEL', value: 'info' },
      { name: 'SERVICE_VERSION', value: 'v1' },
      { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: 'http://otel-collector.observability.svc:4317' },
      { name: 'JAVA_OPTS', value: '-XX:+UseContainerSupport -XX:MaxRAMPercentage=75' },
    ],
    resources: { limits: { cpu: '500m', memory: '512Mi' }, requests: { cpu: '100m', memory: '128Mi' } },
    livenessProbe: { httpGet: { path: '/health', port: 9080, scheme: 'HTTP' }, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
    readinessProbe: { httpGet: { path: '/ready', port: 9080, scheme: 'HTTP' }, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 },
    securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false },
    volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
  };
}

/** A Deployment as the API server has it at admission: defaults filled in, managedFields set. */
export function deployment(name: string, extraAnnotations: Record<string, string> = {}): Record<string, unknown> {
  const containers = [name, 'log-shipper'];
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name,
      namespace: 'bookinfo',
      uid: '5c1e3b0e-8a57-4c7e-9f0c-2d7b1a8f3e21',
      resourceVersion: '184467',
      generation: 7,
      creationTimestamp: '2026-11-20T08:00:00Z',
      labels: { app: name, version: 'v1', 'app.kubernetes.io/part-of': 'bookinfo', 'app.kubernetes.io/managed-by': 'argocd' },
      annotations: { 'deployment.kubernetes.io/revision': '7', 'argocd.argoproj.io/tracking-id': `bookinfo:apps/Deployment:bookinfo/${name}`, ...extraAnnotations },
      managedFields: managedFields(containers, ['argocd-controller', 'kube-controller-manager']),
    },
    spec: {
      replicas: 3,
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
      selector: { matchLabels: { app: name, version: 'v1' } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
      template: {
        metadata: { labels: { app: name, version: 'v1' }, annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9080' } },
        spec: {
          serviceAccountName: `bookinfo-${name}`,
          restartPolicy: 'Always',
          terminationGracePeriodSeconds: 30,
          dnsPolicy: 'ClusterFirst',
          schedulerName: 'default-scheduler',
          securityContext: {},
          containers: containers.map((c) => container(c, `quay.io/bookinfo/examples-bookinfo-${c}:1.20.2`)),
          volumes: [{ name: 'tmp', emptyDir: {} }],
        },
      },
    },
    status: {
      observedGeneration: 7,
      replicas: 3,
      updatedReplicas: 3,
      readyReplicas: 3,
      availableReplicas: 3,
      conditions: [
        { type: 'Available', status: 'True', lastUpdateTime: '2026-11-24T08:00:00Z', lastTransitionTime: '2026-11-24T08:00:00Z', reason: 'MinimumReplicasAvailable', message: 'Deployment has minimum availability.' },
        {
          type: 'Progressing',
          status: 'True',
          lastUpdateTime: '2026-11-24T08:00:00Z',
          lastTransitionTime: '2026-11-20T08:00:00Z',
          reason: 'NewReplicaSetAvailable',
          message: `ReplicaSet "${name}-7d9f8c6b5" has successfully progressed.`,
        },
      ],
    },
  };
}

export function deploymentCreate(): Record<string, unknown> {
  return review({
    uid: '9b3e2f7a-1c4d-4e8f-a5b6-c7d8e9f0a1b2',
    group: 'apps',
    version: 'v1',
    kind: 'Deployment',
    resource: 'deployments',
    operation: 'CREATE',
    namespace: 'bookinfo',
    name: 'reviews-v1',
    object: deployment('reviews-v1'),
  });
}

/**
 * An UPDATE review of about `bytes` bytes: a Deployment whose old and new versions each carry
 * half of the bulk in a last-applied-configuration-style annotation (the usual reason a real
 * review gets large), so the engine has to walk both objects.
 */
export function deploymentUpdate(bytes: number): Record<string, unknown> {
  const base = JSON.stringify(deploymentCreate()).length * 2;
  const bulk = (seed: string): string => {
    const chunk = `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"${seed}"},"data":{"k":"v"}},`;
    // The annotation is JSON inside a JSON string: its quotes are escaped on the wire.
    const escaped = JSON.stringify(chunk).length - 2;
    const length = Math.max(0, Math.floor(((bytes - base) / 2) * (chunk.length / escaped)));
    return chunk.repeat(Math.ceil(length / chunk.length)).slice(0, length);
  };
  return review({
    uid: '3f1a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8',
    group: 'apps',
    version: 'v1',
    kind: 'Deployment',
    resource: 'deployments',
    operation: 'UPDATE',
    namespace: 'bookinfo',
    name: 'reviews-v1',
    object: deployment('reviews-v1', { 'kubectl.kubernetes.io/last-applied-configuration': bulk('new') }),
    oldObject: deployment('reviews-v1', { 'kubectl.kubernetes.io/last-applied-configuration': bulk('old') }),
  });
}

export const MIB = 1024 * 1024;

export function benchPayloads(): Payload[] {
  return [
    { id: 'pa-deny', title: 'PeerAuthentication DISABLE (deny)', webhook: 'validate', body: JSON.stringify(peerAuthenticationDisable()), expect: 'deny' },
    { id: 'deploy-10k', title: 'Deployment CREATE with managedFields (mutate)', webhook: 'mutate', body: JSON.stringify(deploymentCreate()), expect: 'patch' },
    { id: 'update-1mib', title: 'Deployment UPDATE ~1 MiB (mutate)', webhook: 'mutate', body: JSON.stringify(deploymentUpdate(MIB)), expect: 'patch' },
  ];
}
