// Production install (issue "Production install"): every certificates.mode × policy mode passes
// `helm lint --strict` and renders what that platform needs; values.schema.json refuses bad values
// at `helm template` and `helm install`; every rendered mode (with NetworkPolicy and ServiceMonitor)
// is accepted by the real API server in a server-side dry run, with cert-manager's CRDs and the
// ServiceMonitor CRD from their pinned Go modules, in namespaces that enforce the "restricted" Pod
// Security Standard; and in helm mode a real `helm install` followed by `helm upgrade`s keeps the
// CA (Secrets and both webhook configurations' caBundle), renews the serving certificate with the
// same CA when due, and `helm uninstall` removes the webhook configurations.
//
// There is no kubelet: the pods are never run, and webhooks that point at the in-cluster Service
// cannot be called. So the installed release below matches no namespace
// (webhook.matchNamespaceLabels) and its configurations have names of their own; the run's main
// release (scripts/e2e.sh) keeps answering for validate.mtls-guard.io throughout.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments, stringify } from 'yaml';
import { addonCrds, installCrds } from './lib/addons.js';
import { admission, apps, core, ensureNamespace, statusCode } from './lib/cluster.js';
import { e2eEnv } from './lib/env.js';
import { helm, kubectl, show } from './lib/tools.js';

type Meta = { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
type Doc = { apiVersion: string; kind: string; metadata: Meta; [k: string]: unknown };
type Hook = { clientConfig: { caBundle?: string; service?: { name: string } }; failurePolicy: string; namespaceSelector: { matchLabels?: Record<string, string> } };
type Volume = { name: string; secret?: { secretName: string } };
type Container = {
  args: string[];
  volumeMounts: { name: string; mountPath: string; subPath?: string }[];
  securityContext: Record<string, unknown>;
  resources: { requests?: Record<string, string>; limits?: Record<string, string> };
  livenessProbe: { httpGet: { path: string; port: string; scheme: string } };
  readinessProbe: { httpGet: { path: string; port: string; scheme: string } };
  lifecycle?: { preStop?: { exec?: { command: string[] }; sleep?: { seconds: number } } };
};
type PodSpec = {
  securityContext: Record<string, unknown>;
  containers: Container[];
  volumes: Volume[];
  terminationGracePeriodSeconds: number;
  priorityClassName?: string;
  affinity?: { podAntiAffinity?: Record<string, unknown> };
  topologySpreadConstraints?: { topologyKey: string; whenUnsatisfiable: string }[];
};
type DeploymentDoc = Doc & { spec: { replicas: number; strategy: { rollingUpdate: { maxUnavailable: number } }; template: { metadata: Meta; spec: PodSpec } } };

const CERT_MODES = ['helm', 'cert-manager', 'openshift', 'secret'] as const;
const POLICY_MODES = ['enforce', 'audit'] as const;
type CertMode = (typeof CERT_MODES)[number];
type PolicyMode = (typeof POLICY_MODES)[number];

const RELEASE = 'guard';
const FULLNAME = 'guard-mtls-guard';
const TLS_SECRET = `${FULLNAME}-tls`;
const CA_SECRET = `${FULLNAME}-ca`;

const sans = (ns: string, svc = FULLNAME): string[] => [svc, `${svc}.${ns}`, `${svc}.${ns}.svc`, `${svc}.${ns}.svc.cluster.local`];
const b64 = (text: string | Buffer): string => Buffer.from(text).toString('base64');
const pem = (base64: string): string => Buffer.from(base64, 'base64').toString('utf8');

/** The run's CA, as a secret-mode user would give it. */
function runCaBundle(): string {
  return b64(readFileSync(join(e2eEnv().certsDir, 'ca.crt')));
}

/** Namespace of one combination; its webhook configurations get names of their own too. */
const nsOf = (certMode: CertMode, policyMode: PolicyMode): string => `e2e-install-${certMode}-${policyMode}`;

function modeArgs(certMode: CertMode, policyMode: PolicyMode, ns: string): string[] {
  return [
    '--set', `certificates.mode=${certMode}`,
    '--set', `policy.mode=${policyMode}`,
    '--set', `webhook.validatingConfigurationName=${ns}.validate.mtls-guard.io`,
    '--set', `webhook.mutatingConfigurationName=${ns}.mutate.mtls-guard.io`,
    ...(certMode === 'secret' ? ['--set', `webhook.caBundle=${runCaBundle()}`] : []),
  ];
}

function render(ns: string, args: readonly string[], extra: readonly string[] = []): Doc[] {
  const r = helm(['template', RELEASE, e2eEnv().chart, '--namespace', ns, ...args, ...extra]);
  assert.equal(r.status, 0, show(r));
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as Doc | null)
    .filter((d): d is Doc => d !== null);
}

function only(docs: Doc[], kind: string, name?: string): Doc {
  const found = docs.filter((d) => d.kind === kind && (name === undefined || d.metadata.name === name));
  assert.equal(found.length, 1, `expected one ${kind}${name ? ` ${name}` : ''}, got ${found.length}`);
  return found[0] as Doc;
}

const hookOf = (doc: Doc): Hook => (doc['webhooks'] as Hook[])[0] as Hook;
const hooks = (docs: Doc[]): Doc[] => [only(docs, 'ValidatingWebhookConfiguration'), only(docs, 'MutatingWebhookConfiguration')];
const deploymentOf = (docs: Doc[]): DeploymentDoc => only(docs, 'Deployment') as DeploymentDoc;

/** The serving certificate was issued by the CA, for the Service's names, and is current. */
function assertServingCert(tlsPem: string, caPem: string, ns: string, svc = FULLNAME): X509Certificate {
  const cert = new X509Certificate(tlsPem);
  const ca = new X509Certificate(caPem);
  assert.ok(ca.ca, 'the CA certificate is a CA');
  assert.ok(cert.checkIssued(ca) && cert.verify(ca.publicKey), 'the serving certificate is signed by the CA');
  assert.equal(cert.subjectAltName, sans(ns, svc).map((n) => `DNS:${n}`).join(', '));
  assert.ok(new Date(cert.validTo).getTime() > Date.now() + 300 * 86_400_000, `valid for long enough: ${cert.validTo}`);
  return cert;
}

const EXPECTED_KINDS: Record<CertMode, string[]> = {
  helm: ['Secret', 'Secret'],
  'cert-manager': ['Certificate', 'Certificate', 'Issuer', 'Issuer'],
  openshift: [],
  secret: [],
};
const BASE_KINDS = ['ClusterRole', 'ClusterRole', 'ClusterRoleBinding', 'ClusterRoleBinding', 'ConfigMap', 'Deployment', 'MutatingWebhookConfiguration', 'NetworkPolicy', 'PodDisruptionBudget', 'Service', 'ServiceAccount', 'ServiceMonitor', 'ValidatingWebhookConfiguration'];
const OPTIONALS = ['--set', 'networkPolicy.enabled=true', '--set', 'serviceMonitor.enabled=true'];

describe('chart install modes: helm lint --strict and helm template for every certificates.mode × policy mode', () => {
  for (const certMode of CERT_MODES) {
    for (const policyMode of POLICY_MODES) {
      it(`${certMode} / ${policyMode}`, () => {
        const ns = nsOf(certMode, policyMode);
        const args = modeArgs(certMode, policyMode, ns);
        const lint = helm(['lint', '--strict', e2eEnv().chart, '--namespace', ns, ...args, ...OPTIONALS]);
        assert.equal(lint.status, 0, show(lint));
        assert.match(lint.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);

        const docs = render(ns, args, OPTIONALS);
        assert.deepEqual(docs.map((d) => d.kind).sort(), [...BASE_KINDS, ...EXPECTED_KINDS[certMode]].sort());
        const wantPolicy = policyMode === 'audit' ? 'Ignore' : 'Fail';
        for (const h of hooks(docs)) assert.equal(hookOf(h).failurePolicy, wantPolicy, `${h.kind} failurePolicy in ${policyMode} mode`);
        // Cluster mode's DELETE webhook shares the main one's clientConfig (so every CA injection
        // reaches it) and never blocks: Ignore in both policy modes.
        const validating = (only(docs, 'ValidatingWebhookConfiguration')['webhooks'] as (Hook & { name: string })[]);
        assert.deepEqual(validating.map((h) => [h.name, h.failurePolicy]), [['validate.mtls-guard.io', wantPolicy], ['validate-delete.mtls-guard.io', 'Ignore']]);
        assert.deepEqual(validating[1]?.clientConfig, validating[0]?.clientConfig);

        // The pods mount the serving certificate's Secret whole (no subPath: renewals reach them).
        const pod = deploymentOf(docs).spec.template.spec;
        assert.deepEqual(pod.volumes.filter((v) => v.secret).map((v) => v.secret?.secretName), [TLS_SECRET]);
        const mount = pod.containers[0]?.volumeMounts.find((m) => m.name === 'tls');
        assert.deepEqual(mount, { name: 'tls', mountPath: '/tls', readOnly: true });

        const service = only(docs, 'Service');
        const [validate, mutate] = hooks(docs) as [Doc, Doc];
        if (certMode === 'helm') {
          const ca = only(docs, 'Secret', CA_SECRET) as Doc & { data: Record<string, string> };
          const tls = only(docs, 'Secret', TLS_SECRET) as Doc & { data: Record<string, string> };
          assert.deepEqual(Object.keys(ca.data).sort(), ['tls.crt', 'tls.key']);
          assert.deepEqual(Object.keys(tls.data).sort(), ['ca.crt', 'tls.crt', 'tls.key']);
          assert.equal(tls.data['ca.crt'], ca.data['tls.crt']);
          for (const h of [validate, mutate]) assert.equal(hookOf(h).clientConfig.caBundle, ca.data['tls.crt'], `${h.kind} caBundle is the generated CA`);
          assertServingCert(pem(tls.data['tls.crt'] ?? ''), pem(ca.data['tls.crt'] ?? ''), ns);
          assert.equal(tls.metadata.annotations?.['mtls-guard.io/dns-names'], sans(ns).join(','));
        } else if (certMode === 'cert-manager') {
          for (const h of [validate, mutate]) {
            assert.equal(h.metadata.annotations?.['cert-manager.io/inject-ca-from'], `${ns}/${TLS_SECRET}`);
            assert.equal(hookOf(h).clientConfig.caBundle, undefined, 'cainjector fills caBundle');
          }
          const serving = only(docs, 'Certificate', TLS_SECRET) as Doc & { spec: Record<string, unknown> };
          assert.equal(serving.spec['secretName'], TLS_SECRET);
          assert.deepEqual(serving.spec['dnsNames'], sans(ns));
          assert.deepEqual(serving.spec['issuerRef'], { name: `${FULLNAME}-ca`, kind: 'Issuer', group: 'cert-manager.io' });
          const caCert = only(docs, 'Certificate', CA_SECRET) as Doc & { spec: Record<string, unknown> };
          assert.equal(caCert.spec['isCA'], true);
          assert.deepEqual(caCert.spec['issuerRef'], { name: `${FULLNAME}-selfsigned`, kind: 'Issuer', group: 'cert-manager.io' });
          assert.deepEqual((only(docs, 'Issuer', `${FULLNAME}-ca`) as Doc & { spec: unknown }).spec, { ca: { secretName: CA_SECRET } });
          assert.deepEqual((only(docs, 'Issuer', `${FULLNAME}-selfsigned`) as Doc & { spec: unknown }).spec, { selfSigned: {} });
        } else if (certMode === 'openshift') {
          assert.equal(service.metadata.annotations?.['service.beta.openshift.io/serving-cert-secret-name'], TLS_SECRET);
          for (const h of [validate, mutate]) {
            assert.equal(h.metadata.annotations?.['service.beta.openshift.io/inject-cabundle'], 'true');
            assert.equal(hookOf(h).clientConfig.caBundle, undefined, 'service-ca fills caBundle');
          }
        } else {
          for (const h of [validate, mutate]) {
            assert.equal(hookOf(h).clientConfig.caBundle, runCaBundle());
            assert.equal(h.metadata.annotations, undefined, 'nothing injects a CA');
          }
        }
        if (certMode !== 'openshift') assert.equal(service.metadata.annotations, undefined);
      });
    }
  }

  it('cert-manager with certificates.certManager.issuerRef: no Issuers of its own, the given issuer signs', () => {
    const ns = nsOf('cert-manager', 'enforce');
    const docs = render(ns, modeArgs('cert-manager', 'enforce', ns), ['--set', 'certificates.certManager.issuerRef.name=corp-ca', '--set', 'certificates.certManager.issuerRef.kind=ClusterIssuer']);
    assert.deepEqual(docs.filter((d) => d.apiVersion.startsWith('cert-manager.io/')).map((d) => `${d.kind}/${d.metadata.name}`), [`Certificate/${TLS_SECRET}`]);
    assert.deepEqual((only(docs, 'Certificate') as Doc & { spec: Record<string, unknown> }).spec['issuerRef'], { name: 'corp-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' });
  });

  it('webhook.url: helm mode makes no certificate (the server is outside the cluster) and uses webhook.caBundle', () => {
    const docs = render('guard', ['--set', 'webhook.url=https://127.0.0.1:8443', '--set', `webhook.caBundle=${runCaBundle()}`]);
    assert.deepEqual(docs.filter((d) => d.kind === 'Secret'), []);
    for (const h of hooks(docs)) assert.equal(hookOf(h).clientConfig.caBundle, runCaBundle());
  });

  it('hardened defaults: replicas, PDB, spread, resources, HTTPS probes, restricted securityContext without runAsUser, drain', () => {
    const docs = render('guard', []);
    const deployment = deploymentOf(docs);
    assert.equal(deployment.spec.replicas, 2);
    assert.equal(deployment.spec.strategy.rollingUpdate.maxUnavailable, 0);
    assert.deepEqual((only(docs, 'PodDisruptionBudget') as Doc & { spec: { minAvailable: number } }).spec.minAvailable, 1);
    const pod = deployment.spec.template.spec;
    const c = pod.containers[0] as Container;
    assert.deepEqual(pod.securityContext, { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } }, 'no runAsUser/fsGroup: restricted-v2 assigns them');
    assert.deepEqual(c.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    assert.deepEqual(c.resources, { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } });
    assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: 'webhook', scheme: 'HTTPS' });
    assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'webhook', scheme: 'HTTPS' });
    // preStopAction auto: the kubelet's own sleep action from Kubernetes 1.30 (Helm's built-in version is newer), exec sleep before.
    assert.deepEqual(c.lifecycle?.preStop, { sleep: { seconds: 5 } });
    const preStopOf = (args: string[]): unknown => deploymentOf(render('guard', args)).spec.template.spec.containers[0]?.lifecycle?.preStop;
    assert.deepEqual(preStopOf(['--kube-version', '1.29.0']), { exec: { command: ['sleep', '5'] } }, 'the API server drops the sleep field before 1.30');
    assert.deepEqual(preStopOf(['--set', 'preStopAction=exec']), { exec: { command: ['sleep', '5'] } });
    assert.deepEqual(preStopOf(['--kube-version', '1.29.0', '--set', 'preStopAction=sleep']), { sleep: { seconds: 5 } });
    assert.ok(c.args.includes('--shutdown-grace-seconds=20'));
    assert.equal(pod.terminationGracePeriodSeconds, 30, 'preStop 5 s + drain 20 s + 5 s');
    assert.equal(pod.priorityClassName, undefined);
    assert.ok(pod.affinity?.podAntiAffinity?.['preferredDuringSchedulingIgnoredDuringExecution']);
    assert.deepEqual(pod.topologySpreadConstraints?.map((t) => [t.topologyKey, t.whenUnsatisfiable]), [['topology.kubernetes.io/zone', 'ScheduleAnyway']]);
    assert.ok(pod.volumes.some((v) => v.name === 'tmp'), 'an emptyDir on /tmp for the read-only root file system');
    assert.deepEqual(docs.filter((d) => d.kind === 'NetworkPolicy' || d.kind === 'ServiceMonitor'), [], 'both optional, off by default');

    const tuned = deploymentOf(render('guard', ['--set', 'priorityClassName=system-cluster-critical', '--set', 'replicaCount=1', '--set', 'preStopSleepSeconds=0', '--set', 'scheduling.podAntiAffinity=required']));
    assert.equal(tuned.spec.template.spec.priorityClassName, 'system-cluster-critical');
    assert.equal(tuned.spec.template.spec.containers[0]?.lifecycle, undefined);
    assert.equal(tuned.spec.template.spec.terminationGracePeriodSeconds, 25);
    assert.ok(tuned.spec.template.spec.affinity?.podAntiAffinity?.['requiredDuringSchedulingIgnoredDuringExecution']);
    assert.deepEqual(render('guard', ['--set', 'replicaCount=1']).filter((d) => d.kind === 'PodDisruptionBudget'), [], 'no PDB for one replica: it would block every drain');
  });

  it('policyRollout: a checksum of the policy on the pod template changes with the policy, and is gone when false', () => {
    const checksum = (docs: Doc[]): string | undefined => deploymentOf(docs).spec.template.metadata.annotations?.['checksum/policy'];
    const base = checksum(render('guard', []));
    assert.match(base ?? '', /^[0-9a-f]{64}$/);
    assert.equal(checksum(render('guard', ['--set', 'logLevel=debug'])), base, 'other values do not roll the pods');
    assert.notEqual(checksum(render('guard', ['--set', 'policy.mode=audit'])), base);
    assert.equal(checksum(render('guard', ['--set', 'policyRollout=false'])), undefined);
  });

  it('values.schema.json and the templates refuse bad values at helm template and helm install', () => {
    const cases: [string[], RegExp][] = [
      [['--set', 'certificates.mode=vault'], /at '\/certificates\/mode': value must be one of 'helm', 'cert-manager', 'openshift', 'secret'/],
      [['--set', 'policy.mode=strict'], /at '\/policy\/mode': value must be one of 'enforce', 'audit'/],
      [['--set', 'webhook.failurePolicy=Sometimes'], /at '\/webhook\/failurePolicy': value must be one of/],
      [['--set', 'webhook.timeoutSeconds=0'], /at '\/webhook\/timeoutSeconds': minimum/],
      [['--set', 'replicaCount=two'], /at '\/replicaCount': got string, want integer/],
      [['--set', 'logLevel=loud'], /at '\/logLevel': value must be one of/],
      [['--set', 'preStopAction=nap'], /at '\/preStopAction': value must be one of 'auto', 'sleep', 'exec'/],
      // YAML's unquoted off is the boolean false; the server would refuse such a policy later.
      [['--set', 'policy.rules.peerauthentication-permissive.action=false'], /at '\/policy\/rules\/peerauthentication-permissive\/action': got boolean, want string/],
      [['--set', 'policy.rules.destinationrule-disable.acton=deny'], /additional properties 'acton' not allowed/],
      [['--set', 'certificate.mode=helm'], /additional properties 'certificate' not allowed/],
      [['--set', 'webhook.url=http://127.0.0.1:8443'], /at '\/webhook\/url': .* does not match pattern/],
      [['--set', 'certificates.mode=secret'], /webhook\.caBundle must be set with certificates\.mode secret/],
      [['--set', `webhook.caBundle=${runCaBundle()}`], /webhook\.caBundle must be empty with certificates\.mode helm/],
      [['--set', 'certificates.mode=openshift', '--set', `webhook.caBundle=${runCaBundle()}`], /webhook\.caBundle must be empty with certificates\.mode openshift/],
      [['--set', 'terminationGracePeriodSeconds=20'], /terminationGracePeriodSeconds \(20\) must be above preStopSleepSeconds \+ shutdownGraceSeconds \(25\)/],
    ];
    for (const [args, message] of cases) {
      const r = helm(['template', RELEASE, e2eEnv().chart, ...args]);
      assert.notEqual(r.status, 0, `helm template ${args.join(' ')} should fail\n${show(r)}`);
      assert.match(r.stderr, message, show(r));
    }
    // The same check at helm install, before anything reaches the cluster.
    const r = helm(['install', 'bad-values', e2eEnv().chart, '--namespace', 'e2e-install-bad', '--create-namespace', '--set', 'certificates.mode=vault']);
    assert.notEqual(r.status, 0, show(r));
    assert.match(r.stderr, /at '\/certificates\/mode': value must be one of/);
    assert.equal(helm(['status', 'bad-values', '--namespace', 'e2e-install-bad']).status, 1, 'no release was made');
  });
});

describe('every install mode is accepted by the real API server (kubectl apply --dry-run=server)', () => {
  before(() => {
    const crds = addonCrds();
    installCrds(
      [crds.certManager, crds.serviceMonitor],
      ['certificates.cert-manager.io', 'issuers.cert-manager.io', 'clusterissuers.cert-manager.io', 'certificaterequests.cert-manager.io', 'servicemonitors.monitoring.coreos.com'],
    );
  });

  for (const certMode of CERT_MODES) {
    for (const policyMode of POLICY_MODES) {
      it(`${certMode} / ${policyMode}: every object is accepted, the pod passes the restricted Pod Security Standard`, async () => {
        const ns = nsOf(certMode, policyMode);
        // enforce: a Pod that breaks the "restricted" profile is refused; warn: a Deployment whose
        // template would is accepted with a warning, which kubectl prints.
        await ensureNamespace(ns, { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/warn': 'restricted' });
        const docs = render(ns, modeArgs(certMode, policyMode, ns), OPTIONALS);
        const r = kubectl(['apply', '--dry-run=server', '-f', '-'], { input: docs.map((d) => stringify(d)).join('---\n') });
        assert.equal(r.status, 0, show(r));
        const created = r.stdout.split('\n').filter((l) => l.endsWith(' created (server dry run)'));
        assert.equal(created.length, docs.length, `every object accepted as new:\n${show(r)}`);
        assert.doesNotMatch(r.stderr, /PodSecurity|Error/, show(r));

        // The pod the Deployment would make, created (dry run) under enforce=restricted.
        const template = deploymentOf(docs).spec.template;
        const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { ...template.metadata, name: `${FULLNAME}-check`, namespace: ns }, spec: template.spec };
        const p = kubectl(['create', '--dry-run=server', '-o', 'name', '-f', '-'], { input: stringify(pod) });
        assert.equal(p.status, 0, show(p));
        assert.equal(p.stdout.trim(), `pod/${FULLNAME}-check`);
        assert.equal(p.stderr, '', show(p));
      });
    }
  }

  it('a pod that breaks the restricted profile is refused there (the check above has teeth)', () => {
    const ns = nsOf('helm', 'enforce');
    const docs = render(ns, modeArgs('helm', 'enforce', ns), ['--set', 'securityContext.allowPrivilegeEscalation=true']);
    const template = deploymentOf(docs).spec.template;
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'bad-check', namespace: ns }, spec: template.spec };
    const p = kubectl(['create', '--dry-run=server', '-f', '-'], { input: stringify(pod) });
    assert.notEqual(p.status, 0, show(p));
    assert.match(p.stderr, /violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false/);
  });
});

describe('helm mode: helm install, helm upgrade keeps the CA, renewal keeps the CA, helm uninstall', () => {
  const ns = 'e2e-install-upgrade';
  const release = 'guard-up';
  const svc = 'guard-up-mtls-guard';
  const validating = 'e2e-upgrade.validate.mtls-guard.io';
  const mutating = 'e2e-upgrade.mutate.mtls-guard.io';
  const chartArgs = (): string[] => [release, e2eEnv().chart, '--namespace', ns, '--timeout', '60s'];
  let installed = false;

  interface State {
    caCrt: string;
    tlsCrt: string;
    tlsCaCrt: string;
    notAfter: string;
    validateBundle: string;
    mutateBundle: string;
    checksum: string;
    args: string[];
    failurePolicy: string;
  }

  async function state(): Promise<State> {
    const ca = await core().readNamespacedSecret({ name: `${svc}-ca`, namespace: ns });
    const tls = await core().readNamespacedSecret({ name: `${svc}-tls`, namespace: ns });
    const v = await admission().readValidatingWebhookConfiguration({ name: validating });
    const m = await admission().readMutatingWebhookConfiguration({ name: mutating });
    const d = await apps().readNamespacedDeployment({ name: svc, namespace: ns });
    return {
      caCrt: ca.data?.['tls.crt'] ?? '',
      tlsCrt: tls.data?.['tls.crt'] ?? '',
      tlsCaCrt: tls.data?.['ca.crt'] ?? '',
      notAfter: tls.metadata?.annotations?.['mtls-guard.io/not-after'] ?? '',
      validateBundle: v.webhooks?.[0]?.clientConfig.caBundle ?? '',
      mutateBundle: m.webhooks?.[0]?.clientConfig.caBundle ?? '',
      checksum: d.spec?.template.metadata?.annotations?.['checksum/policy'] ?? '',
      args: d.spec?.template.spec?.containers[0]?.args ?? [],
      failurePolicy: v.webhooks?.[0]?.failurePolicy ?? '',
    };
  }

  /** One CA everywhere, and a serving certificate it signed for the Service's names. */
  function assertConsistent(s: State): X509Certificate {
    assert.ok(s.caCrt, 'the CA Secret has tls.crt');
    assert.equal(s.tlsCaCrt, s.caCrt, 'the serving Secret carries the CA as ca.crt');
    assert.equal(s.validateBundle, s.caCrt, 'validating caBundle is the CA');
    assert.equal(s.mutateBundle, s.caCrt, 'mutating caBundle is the CA');
    const cert = assertServingCert(pem(s.tlsCrt), pem(s.caCrt), ns, svc);
    assert.equal(new Date(s.notAfter).toISOString().slice(0, 16), new Date(cert.validTo).toISOString().slice(0, 16), 'mtls-guard.io/not-after is the certificate\'s end');
    return cert;
  }

  function upgrade(...sets: string[]): string {
    const r = helm(['upgrade', ...chartArgs(), '--reuse-values', ...sets.flatMap((s) => ['--set', s])]);
    assert.equal(r.status, 0, show(r));
    return r.stdout;
  }

  after(() => {
    if (installed) helm(['uninstall', release, '--namespace', ns, '--timeout', '60s']);
  });

  it('helm install generates the CA and serving certificate and puts the CA into both caBundles; NOTES says how to check', async () => {
    await ensureNamespace(ns);
    const r = helm([
      'install', ...chartArgs(),
      '--set', `webhook.validatingConfigurationName=${validating}`,
      '--set', `webhook.mutatingConfigurationName=${mutating}`,
      // Matches no namespace: nothing can reach these pods here (no kubelet, no kube-proxy).
      '--set-string', 'webhook.matchNamespaceLabels.e2e-no-namespace-has-this=true',
    ]);
    assert.equal(r.status, 0, show(r));
    installed = true;
    assertConsistent(await state());
    assert.match(r.stdout, /Certificates \(helm mode\): the chart made a CA \(Secret guard-up-mtls-guard-ca\)/);
    // NOTES: the check command, the metrics, and how to audit first.
    assert.match(r.stdout, /kubectl apply --dry-run=server -n default -f -/);
    assert.match(r.stdout, /curl -s localhost:9090\/metrics/);
    assert.match(r.stdout, /--reuse-values --set policy\.mode=audit/);
    // The NOTES check, run as printed: the run's main release (enforce) denies it in `default`.
    const lines = r.stdout.split('\n');
    const i = lines.findIndex((l) => l.trimStart().startsWith(`echo '{"apiVersion":"security.istio.io/v1"`));
    assert.ok(i >= 0, r.stdout);
    const command = `${lines[i] ?? ''}\n${lines[i + 1] ?? ''}`;
    const env = e2eEnv();
    const check = spawnSync('bash', ['-c', command], { encoding: 'utf8', env: { ...process.env, PATH: `${env.bin}:${process.env['PATH'] ?? ''}`, KUBECONFIG: env.kubeconfig }, timeout: 60_000 });
    assert.notEqual(check.status, 0, `${command}\n${check.stdout}${check.stderr}`);
    assert.match(check.stderr, /admission webhook "validate\.mtls-guard\.io" denied the request: PeerAuthentication default\/mtls-guard-check violates 1 mTLS guardrail/);
  });

  it('helm upgrade keeps the CA, the serving certificate and both caBundles', async () => {
    const before = await state();
    upgrade('logLevel=debug');
    const after = await state();
    assert.ok(after.args.includes('--log-level=debug'), 'the upgrade was applied');
    assert.equal(after.caCrt, before.caCrt);
    assert.equal(after.validateBundle, before.validateBundle);
    assert.equal(after.mutateBundle, before.mutateBundle);
    assert.equal(after.tlsCrt, before.tlsCrt, 'the serving certificate is not due: kept as is');
    assert.equal(after.checksum, before.checksum, 'the policy did not change: no rollout');
    assertConsistent(after);
  });

  it('a helm upgrade within renewBeforeDays renews the serving certificate with the same CA', async () => {
    const before = await state();
    upgrade('certificates.helm.renewBeforeDays=3650');
    const after = await state();
    assert.notEqual(after.tlsCrt, before.tlsCrt, 'renewed');
    assert.equal(after.caCrt, before.caCrt, 'same CA');
    assert.equal(after.validateBundle, before.validateBundle, 'caBundle unchanged');
    assertConsistent(after);
  });

  it('a policy change (audit) rolls the pods (checksum) and turns failurePolicy to Ignore; the certificate stays', async () => {
    const before = await state();
    const out = upgrade('certificates.helm.renewBeforeDays=90', 'policy.mode=audit');
    const after = await state();
    assert.notEqual(after.checksum, before.checksum);
    assert.equal(after.failurePolicy, 'Ignore');
    assert.equal(after.tlsCrt, before.tlsCrt);
    assert.equal(after.caCrt, before.caCrt);
    assert.match(out, /--reuse-values --set policy\.mode=enforce/, 'NOTES in audit mode: how to switch to enforce');
  });

  it('helm uninstall removes both webhook configurations and the Secrets', async () => {
    const r = helm(['uninstall', release, '--namespace', ns, '--timeout', '60s']);
    assert.equal(r.status, 0, show(r));
    installed = false;
    const gone = async (read: () => Promise<unknown>): Promise<boolean> => {
      try {
        await read();
        return false;
      } catch (err) {
        return statusCode(err) === 404;
      }
    };
    assert.ok(await gone(() => admission().readValidatingWebhookConfiguration({ name: validating })));
    assert.ok(await gone(() => admission().readMutatingWebhookConfiguration({ name: mutating })));
    assert.ok(await gone(() => core().readNamespacedSecret({ name: `${svc}-ca`, namespace: ns })));
    assert.ok(await gone(() => core().readNamespacedSecret({ name: `${svc}-tls`, namespace: ns })));
  });
});
