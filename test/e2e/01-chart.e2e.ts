// The Helm chart: lint, what it renders for each mode, and what `helm install` put into the API
// server for this run (read back with @kubernetes/client-node).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { admission, apps, core, kubeConfig, objects, statusMessage } from './lib/cluster.js';
import { e2eEnv } from './lib/env.js';
import { helm, show } from './lib/tools.js';
import * as k8s from '@kubernetes/client-node';

type Doc = { kind?: string; metadata?: { name?: string }; [k: string]: unknown };
type Hook = {
  clientConfig: { url?: string; service?: { name: string; namespace: string; path: string; port: number }; caBundle?: string };
  failurePolicy: string;
  timeoutSeconds: number;
  matchPolicy: string;
  sideEffects: string;
  admissionReviewVersions: string[];
  reinvocationPolicy?: string;
  namespaceSelector: { matchExpressions: { key: string; operator: string; values: string[] }[] };
  rules: { apiGroups: string[]; apiVersions: string[]; resources: string[]; operations: string[] }[];
};

function template(...sets: string[]): Doc[] {
  const env = e2eEnv();
  const r = helm(['template', 'rel', env.chart, '--namespace', 'guard', ...sets.flatMap((s) => ['--set', s])]);
  assert.equal(r.status, 0, show(r));
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as Doc | null)
    .filter((d): d is Doc => d !== null);
}

type NamedHook = Hook & { name: string };

/** The webhooks of the configuration of `kind`, by name. */
function hooks(docs: Doc[], kind: string): Map<string, Hook> {
  const doc = docs.find((d) => d.kind === kind);
  assert.ok(doc, `helm template rendered no ${kind}`);
  return new Map((doc['webhooks'] as NamedHook[]).map((h) => [h.name, h]));
}

/** The configuration's main webhook (validate.mtls-guard.io or mutate.mtls-guard.io). */
function hook(docs: Doc[], kind: string): Hook {
  const name = kind === 'ValidatingWebhookConfiguration' ? 'validate.mtls-guard.io' : 'mutate.mtls-guard.io';
  const h = hooks(docs, kind).get(name);
  assert.ok(h, `${kind} has no webhook ${name}`);
  return h;
}

/** Resources per API group, from a webhook's rules. */
function ruleMap(h: Hook): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const r of h.rules) {
    assert.deepEqual(r.apiVersions, ['*'], 'every API version is judged');
    assert.deepEqual(r.operations, ['CREATE', 'UPDATE']);
    for (const g of r.apiGroups) out[g] = [...(out[g] ?? []), ...r.resources].sort();
  }
  return out;
}

/** Every key of `expected` is in `actual` with the same value (lists compared whole). */
function assertSubset(actual: unknown, expected: unknown, path: string): void {
  if (expected && typeof expected === 'object' && !Array.isArray(expected)) {
    assert.ok(actual && typeof actual === 'object' && !Array.isArray(actual), `${path}: expected a map`);
    for (const [k, v] of Object.entries(expected)) assertSubset((actual as Record<string, unknown>)[k], v, `${path}.${k}`);
  } else {
    assert.deepEqual(actual, expected, path);
  }
}

const WORKLOADS = {
  apps: ['daemonsets', 'deployments', 'replicasets', 'statefulsets'],
  batch: ['cronjobs', 'jobs'],
  'apps.openshift.io': ['deploymentconfigs'],
  'argoproj.io': ['rollouts'],
};

describe('helm chart charts/mtls-guard', () => {
  it('passes helm lint --strict', () => {
    const r = helm(['lint', '--strict', e2eEnv().chart]);
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  it('renders in-cluster defaults: Service clientConfig, Fail, least privilege, DESIGN.md default policy', () => {
    // certificates.mode secret: caBundle comes from webhook.caBundle (the other modes: 09-install-modes).
    const docs = template('certificates.mode=secret', 'webhook.caBundle=Q0E=');
    const kinds = docs.map((d) => d.kind).sort();
    // Two ClusterRoles in cluster mode (the default): the mesh reader and the PolicyReport writer.
    assert.deepEqual(kinds, ['ClusterRole', 'ClusterRole', 'ClusterRoleBinding', 'ClusterRoleBinding', 'ConfigMap', 'Deployment', 'MutatingWebhookConfiguration', 'PodDisruptionBudget', 'Service', 'ServiceAccount', 'ValidatingWebhookConfiguration']);

    const validate = hook(docs, 'ValidatingWebhookConfiguration');
    const mutate = hook(docs, 'MutatingWebhookConfiguration');
    assert.deepEqual(validate.clientConfig, { service: { name: 'rel-mtls-guard', namespace: 'guard', path: '/validate', port: 443 }, caBundle: 'Q0E=' });
    assert.deepEqual(mutate.clientConfig, { service: { name: 'rel-mtls-guard', namespace: 'guard', path: '/mutate', port: 443 }, caBundle: 'Q0E=' });
    for (const h of [validate, mutate]) {
      assert.equal(h.failurePolicy, 'Fail');
      assert.equal(h.timeoutSeconds, 5);
      assert.equal(h.matchPolicy, 'Equivalent');
      assert.equal(h.sideEffects, 'None');
      assert.deepEqual(h.admissionReviewVersions, ['v1', 'v1beta1']);
      assert.deepEqual(h.namespaceSelector.matchExpressions, [
        { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'guard'] },
        { key: 'mtls-guard.io/ignore', operator: 'NotIn', values: ['true'] },
      ]);
    }
    assert.deepEqual(ruleMap(validate), { 'security.istio.io': ['peerauthentications'], 'networking.istio.io': ['destinationrules'], ...WORKLOADS });
    assert.deepEqual(ruleMap(mutate), WORKLOADS);
    assert.equal(mutate.reinvocationPolicy, 'IfNeeded');
    assert.equal(validate.reinvocationPolicy, undefined);
    // Cluster mode (the default) adds the DELETE webhook: warnings only, so it never blocks a deletion.
    assert.deepEqual([...hooks(docs, 'ValidatingWebhookConfiguration').keys()], ['validate.mtls-guard.io', 'validate-delete.mtls-guard.io']);
    assert.deepEqual([...hooks(docs, 'MutatingWebhookConfiguration').keys()], ['mutate.mtls-guard.io']);
    const deletes = hooks(docs, 'ValidatingWebhookConfiguration').get('validate-delete.mtls-guard.io') as Hook;
    assert.deepEqual(deletes.clientConfig, validate.clientConfig);
    assert.deepEqual(deletes.rules, [
      { apiGroups: ['security.istio.io'], apiVersions: ['*'], resources: ['peerauthentications'], operations: ['DELETE'], scope: 'Namespaced' },
      { apiGroups: ['networking.istio.io'], apiVersions: ['*'], resources: ['destinationrules'], operations: ['DELETE'], scope: 'Namespaced' },
    ]);
    assert.equal(deletes.failurePolicy, 'Ignore');
    assert.deepEqual(deletes.namespaceSelector, validate.namespaceSelector);
    assert.equal(deletes.timeoutSeconds, validate.timeoutSeconds);

    const sa = docs.find((d) => d.kind === 'ServiceAccount') as Doc;
    assert.equal(sa['automountServiceAccountToken'], false);
    const deployment = docs.find((d) => d.kind === 'Deployment') as Doc & {
      spec: { template: { spec: { automountServiceAccountToken: boolean; securityContext: Record<string, unknown>; containers: { args: string[]; image: string; securityContext: Record<string, unknown> }[] } } };
    };
    const pod = deployment.spec.template.spec;
    // Cluster mode (the default): a token for the read-only watches, the server told so.
    assert.equal(pod.automountServiceAccountToken, true);
    assert.ok(pod.containers[0]?.args.includes('--cluster'));
    assert.equal(pod.securityContext['runAsNonRoot'], true);
    const container = pod.containers[0];
    assert.ok(container);
    assert.equal(container.image, 'mtls-guard:0.1.0');
    assert.deepEqual(container.args.slice(0, 5), ['--config=/etc/mtls-guard/policy.yaml', '--tls-cert=/tls/tls.crt', '--tls-key=/tls/tls.key', '--port=8443', '--metrics-port=9090']);
    // The certificate must name the Service the API server calls; the server refuses one that does not.
    assert.ok(container.args.some((a) => /^--tls-server-name=[a-z0-9-]+\.[a-z0-9-]+\.svc$/.test(a)), container.args.join(' '));
    assert.equal(container.securityContext['allowPrivilegeEscalation'], false);
    assert.equal(container.securityContext['readOnlyRootFilesystem'], true);

    // The ConfigMap carries DESIGN.md's defaults, and the server accepts them as written.
    const cm = docs.find((d) => d.kind === 'ConfigMap') as Doc & { data: Record<string, string> };
    const policy = parse(cm.data['policy.yaml'] ?? '') as Record<string, unknown>;
    assert.equal(policy['mode'], 'enforce');
    const rules = policy['rules'] as Record<string, { action: string }>;
    assert.equal(rules['peerauthentication-permissive']?.action, 'off', '"off" must stay a string, not YAML 1.1 false');
    assert.deepEqual(Object.keys(rules).sort(), [
      'destinationrule-disable',
      'destinationrule-insecure-tls',
      'destinationrule-strict-conflict',
      'peerauthentication-authz-conflict',
      'peerauthentication-disable',
      'peerauthentication-permissive',
      'peerauthentication-strict-conflict',
      'workload-port-exclusion',
    ]);
  });

  it('cluster mode: a read-only ClusterRole on exactly the kinds the mesh model reads, one on the PolicyReports; off: no RBAC, no token', () => {
    const docs = template('certificates.mode=secret', 'webhook.caBundle=Q0E=', 'networkPolicy.enabled=true');
    type Role = Doc & { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] };
    const named = (kind: string, name: string) => docs.find((d) => d.kind === kind && d.metadata?.name === name);
    const rulesOf = (role: Role | undefined) => role?.rules.map((r) => ({ ...r, resources: [...r.resources].sort() }));
    const read = ['get', 'list', 'watch'];
    assert.deepEqual(rulesOf(named('ClusterRole', 'rel-mtls-guard-guard-mesh-reader') as Role | undefined), [
      { apiGroups: [''], resources: ['namespaces', 'services'], verbs: read },
      { apiGroups: ['apps'], resources: ['daemonsets', 'deployments', 'statefulsets'], verbs: read },
      { apiGroups: ['batch'], resources: ['cronjobs', 'jobs'], verbs: read },
      { apiGroups: ['apps.openshift.io'], resources: ['deploymentconfigs'], verbs: read },
      { apiGroups: ['argoproj.io'], resources: ['rollouts'], verbs: read },
      { apiGroups: ['security.istio.io'], resources: ['authorizationpolicies', 'peerauthentications'], verbs: read },
      { apiGroups: ['networking.istio.io'], resources: ['destinationrules', 'serviceentries'], verbs: read },
    ]);
    // Writes: only the PolicyReports the server keeps, nothing else.
    assert.deepEqual(rulesOf(named('ClusterRole', 'rel-mtls-guard-guard-policy-reports') as Role | undefined), [
      { apiGroups: ['wgpolicyk8s.io'], resources: ['clusterpolicyreports', 'policyreports'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] },
    ]);
    for (const name of ['rel-mtls-guard-guard-mesh-reader', 'rel-mtls-guard-guard-policy-reports']) {
      const binding = named('ClusterRoleBinding', name) as Doc & { roleRef: { kind: string; name: string }; subjects: unknown[] };
      assert.deepEqual(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name });
      assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'rel-mtls-guard', namespace: 'guard' }]);
    }
    const noReports = template('certificates.mode=secret', 'webhook.caBundle=Q0E=', 'cluster.policyReports.enabled=false');
    assert.deepEqual(noReports.filter((d) => d.kind?.startsWith('ClusterRole')).map((d) => d.metadata?.name), ['rel-mtls-guard-guard-mesh-reader', 'rel-mtls-guard-guard-mesh-reader']);
    // Without the RBAC the server is told not to write them (it would only log a 403 otherwise).
    const argsOf = (docs: Doc[]) => (docs.find((d) => d.kind === 'Deployment') as Doc & { spec: { template: { spec: { containers: { args: string[] }[] } } } }).spec.template.spec.containers[0]?.args ?? [];
    assert.ok(argsOf(noReports).includes('--no-policy-reports'));
    assert.ok(!argsOf(docs).includes('--no-policy-reports'));
    // denyEgress in cluster mode: egress only on the API server's ports (443 as the Service, 6443 as it listens).
    type Policy = Doc & { spec: { policyTypes: string[]; egress: { ports: { port: number; protocol: string }[]; to?: unknown[] }[] } };
    const np = docs.find((d) => d.kind === 'NetworkPolicy') as Policy;
    assert.deepEqual(np.spec.policyTypes, ['Ingress', 'Egress']);
    assert.deepEqual(np.spec.egress, [{ ports: [{ port: 443, protocol: 'TCP' }, { port: 6443, protocol: 'TCP' }] }]);
    const located = template('certificates.mode=secret', 'webhook.caBundle=Q0E=', 'networkPolicy.enabled=true', 'networkPolicy.apiServerTo[0].ipBlock.cidr=10.0.0.10/32');
    assert.deepEqual((located.find((d) => d.kind === 'NetworkPolicy') as Policy).spec.egress[0]?.to, [{ ipBlock: { cidr: '10.0.0.10/32' } }]);

    const off = template('certificates.mode=secret', 'webhook.caBundle=Q0E=', 'networkPolicy.enabled=true', 'cluster.enabled=false');
    assert.deepEqual(off.filter((d) => d.kind?.startsWith('ClusterRole')), []);
    assert.deepEqual([...hooks(off, 'ValidatingWebhookConfiguration').keys()], ['validate.mtls-guard.io'], 'without the mesh a DELETE has nothing to warn about');
    const pod = (off.find((d) => d.kind === 'Deployment') as Doc & { spec: { template: { spec: { automountServiceAccountToken: boolean; containers: { args: string[] }[] } } } }).spec.template.spec;
    assert.equal(pod.automountServiceAccountToken, false);
    assert.ok(pod.containers[0]?.args.includes('--no-cluster'));
    assert.deepEqual((off.find((d) => d.kind === 'NetworkPolicy') as Policy).spec.egress, [], 'without cluster mode nothing may leave the pods');
  });

  it('adds each policy.workloadKinds entry to both webhook configurations, and the policy ConfigMap carries it', () => {
    const docs = template(
      'certificates.mode=secret',
      'webhook.caBundle=Q0E=',
      'policy.workloadKinds[0].group=platform.example.com',
      'policy.workloadKinds[0].kind=WebApp',
      'policy.workloadKinds[0].resource=webapps',
      'policy.workloadKinds[0].templatePath=spec.template',
    );
    for (const kind of ['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration']) {
      assert.deepEqual(ruleMap(hook(docs, kind))['platform.example.com'], ['webapps'], kind);
    }
    const configMap = docs.find((d) => d.kind === 'ConfigMap');
    assert.match(JSON.stringify(configMap), /WebApp/);
  });

  it('renders webhook.url for an out-of-cluster server and encodes a PEM caBundle', () => {
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    const docs = template('webhook.url=https://127.0.0.1:8443/', `webhook.caBundle=${pem}`);
    assert.deepEqual(hook(docs, 'ValidatingWebhookConfiguration').clientConfig, { url: 'https://127.0.0.1:8443/validate', caBundle: Buffer.from(pem.trim()).toString('base64') });
    assert.equal(hook(docs, 'MutatingWebhookConfiguration').clientConfig.url, 'https://127.0.0.1:8443/mutate');
  });

  it('uses failurePolicy Ignore in audit mode unless overridden, and refuses bad values', () => {
    assert.equal(hook(template('policy.mode=audit'), 'ValidatingWebhookConfiguration').failurePolicy, 'Ignore');
    assert.equal(hook(template('policy.mode=audit'), 'MutatingWebhookConfiguration').failurePolicy, 'Ignore');
    assert.equal(hook(template('policy.mode=audit', 'webhook.failurePolicy=Fail'), 'ValidatingWebhookConfiguration').failurePolicy, 'Fail');
    assert.equal(hook(template('webhook.failurePolicy=Ignore', 'webhook.timeoutSeconds=10'), 'MutatingWebhookConfiguration').timeoutSeconds, 10);
    for (const bad of ['webhook.failurePolicy=Sometimes', 'webhook.timeoutSeconds=31', 'certificates.mode=vault']) {
      const r = helm(['template', 'rel', e2eEnv().chart, '--set', bad]);
      assert.notEqual(r.status, 0, `helm template --set ${bad} should fail\n${show(r)}`);
      // values.schema.json: "value must be one of ...", "maximum: got 31, want 30".
      assert.match(r.stderr, /must be|maximum|not supported/);
    }
  });
});

describe('the release installed for this run (read back with @kubernetes/client-node)', () => {
  it('points both webhooks at the local server with the CA of `mtls-guard certs`', async () => {
    const env = e2eEnv();
    const ca = Buffer.from(readFileSync(`${env.certsDir}/ca.crt`)).toString('base64');
    const v = await admission().readValidatingWebhookConfiguration({ name: 'validate.mtls-guard.io' });
    const m = await admission().readMutatingWebhookConfiguration({ name: 'mutate.mtls-guard.io' });
    const vh = v.webhooks?.[0];
    const mh = m.webhooks?.[0];
    assert.equal(vh?.clientConfig.url, `https://127.0.0.1:${env.webhookPort}/validate`);
    assert.equal(mh?.clientConfig.url, `https://127.0.0.1:${env.webhookPort}/mutate`);
    // The API server stores caBundle as bytes; client-node hands back the base64 text.
    assert.equal(vh?.clientConfig.caBundle, ca);
    assert.equal(mh?.clientConfig.caBundle, ca);
    assert.equal(vh?.failurePolicy, 'Fail');
    assert.equal(mh?.reinvocationPolicy, 'IfNeeded');
    assert.equal(v.metadata?.labels?.['app.kubernetes.io/managed-by'], 'Helm');
  });

  it('stored the policy ConfigMap, the ServiceAccount, and only the cluster-mode bindings for it (mesh reader, PolicyReport writer)', async () => {
    const env = e2eEnv();
    const cm = await core().readNamespacedConfigMap({ name: `${env.release}-policy`, namespace: env.releaseNamespace });
    // Helm merges the given policy over values.yaml's defaults: every key given is there as given.
    assertSubset(parse(cm.data?.['policy.yaml'] ?? ''), parse(readFileSync(env.basePolicyFile, 'utf8')), 'policy');
    const sa = await core().readNamespacedServiceAccount({ name: env.release, namespace: env.releaseNamespace });
    assert.equal(sa.automountServiceAccountToken, false);
    const rbac = kubeConfig().makeApiClient(k8s.RbacAuthorizationV1Api);
    const ours = (b: k8s.V1ClusterRoleBinding | k8s.V1RoleBinding): boolean =>
      (b.subjects ?? []).some((s) => s.kind === 'ServiceAccount' && s.name === env.release && s.namespace === env.releaseNamespace);
    const names = [`${env.release}-${env.releaseNamespace}-mesh-reader`, `${env.release}-${env.releaseNamespace}-policy-reports`];
    const clusterBindings = (await rbac.listClusterRoleBinding()).items.filter(ours);
    assert.deepEqual(
      clusterBindings.map((b) => [b.metadata?.name, b.roleRef.kind, b.roleRef.name]).sort(),
      names.map((name) => [name, 'ClusterRole', name]),
      'only the cluster-mode bindings',
    );
    assert.deepEqual((await rbac.listRoleBindingForAllNamespaces()).items.filter(ours), []);
    const reader = await rbac.readClusterRole({ name: names[0] as string });
    const verbs = new Set((reader.rules ?? []).flatMap((r) => r.verbs));
    assert.deepEqual([...verbs].sort(), ['get', 'list', 'watch'], 'read-only');
    const writer = await rbac.readClusterRole({ name: names[1] as string });
    for (const role of [reader, writer]) {
      assert.ok(!(role.rules ?? []).some((r) => (r.resources ?? []).some((res) => ['secrets', 'configmaps', 'pods', '*'].includes(res))), 'no Secrets, ConfigMaps or Pods');
    }
    assert.deepEqual((writer.rules ?? []).map((r) => r.apiGroups), [['wgpolicyk8s.io']], 'writes only PolicyReports');
    const deployment = await apps().readNamespacedDeployment({ name: env.release, namespace: env.releaseNamespace });
    assert.equal(deployment.spec?.template.spec?.serviceAccountName, env.release);
  });

  it('does not judge the release namespace or kube-system (namespaceSelector)', async () => {
    const env = e2eEnv();
    for (const namespace of [env.releaseNamespace, 'kube-system']) {
      try {
        await objects().create(
          { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'not-judged', namespace }, spec: { mtls: { mode: 'DISABLE' } } } as never,
          undefined,
          'All',
        );
      } catch (err) {
        assert.fail(`a dry-run create in ${namespace} should not reach the webhook: ${statusMessage(err)}`);
      }
    }
  });
});
