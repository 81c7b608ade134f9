// Node suite, scenario 5: pod security. The chart's pods are admitted in a namespace that
// enforces the `restricted` Pod Security Standard, and on the node they run as the image's
// numeric non-root user with a read-only root file system, no capabilities, no privilege
// escalation and the runtime's seccomp filter, and write nothing outside /tmp.
// The process facts come from the kernel (/proc/<pid> of the container's process on this host,
// found through containerd), not from the pod spec; the "writes nothing" check reads the
// container's overlayfs upper dir (every file the container wrote to its root file system).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { peerAuthentication, yamlDocs } from '../e2e/lib/manifests.js';
import { installRelease, kubectl, nodeEnv, podReady, releasePods, runNodeTool, show, uninstallRelease, type Pod, type Run } from './lib.js';

const RELEASE = 'n05';
const NS = 'mtls-guard-n05';
const APPS = 'n05-apps';
const RESTRICTED = {
  'pod-security.kubernetes.io/enforce': 'restricted',
  'pod-security.kubernetes.io/enforce-version': 'latest',
  'pod-security.kubernetes.io/warn': 'restricted',
  'pod-security.kubernetes.io/audit': 'restricted',
};

/** The host pid of the pod's (single) container, from containerd's task list. */
function containerPid(pod: Pod): number {
  const id = pod.status.containerStatuses?.[0]?.containerID?.replace(/^containerd:\/\//, '');
  assert.ok(id, `${pod.metadata.name} has no container id`);
  const env = nodeEnv();
  const r = runNodeTool('ctr', ['--address', env.containerdSock, '-n', 'k8s.io', 'tasks', 'ls']);
  assert.equal(r.status, 0, show(r));
  const line = r.stdout.split('\n').find((l) => l.startsWith(`${id} `));
  assert.ok(line, `no running task ${id}:\n${r.stdout}`);
  return Number(line.trim().split(/\s+/)[1]);
}

/** `Name:\tvalue` lines of /proc/<pid>/status. */
function procStatus(pid: number): Record<string, string> {
  return Object.fromEntries(
    readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .filter((l) => l.includes(':'))
      .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]),
  );
}

interface Mount {
  mountPoint: string;
  options: string[];
  fsType: string;
  superOptions: string[];
}

/** The container's mounts as its own mount namespace sees them (/proc/<pid>/mountinfo). */
function mounts(pid: number): Mount[] {
  return readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const [left = '', right = ''] = l.split(' - ');
      const f = left.split(' ');
      const r = right.split(' ');
      return { mountPoint: f[4] ?? '', options: (f[5] ?? '').split(','), fsType: r[0] ?? '', superOptions: (r[2] ?? '').split(',') };
    });
}

/** Every path under `dir`, relative to it (directories too). */
function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, e.name);
    out.push(relative(dir, full));
    if (e.isDirectory()) out.push(...walk(full).map((p) => join(e.name, p)));
  }
  return out;
}

function exec(pod: Pod, script: string): Run {
  return kubectl(['-n', NS, 'exec', pod.metadata.name, '--', 'node', '-e', script]);
}

describe('node: the chart under the restricted Pod Security Standard', () => {
  let pods: Pod[] = [];
  let install: Run;

  before(() => {
    install = installRelease({ release: RELEASE, namespace: NS, namespaceLabels: RESTRICTED });
    pods = releasePods(RELEASE, NS);
    const r = kubectl(['create', 'namespace', APPS]);
    assert.equal(r.status, 0, show(r));
  });
  after(async () => {
    await uninstallRelease(RELEASE, NS);
    kubectl(['delete', 'namespace', APPS, '--ignore-not-found', '--wait=false']);
  });

  it('admits the chart\'s pods in a namespace enforcing restricted, without a PodSecurity warning', () => {
    assert.equal(pods.length, 2);
    for (const pod of pods) assert.ok(podReady(pod), `${pod.metadata.name} not Ready`);
    assert.doesNotMatch(install.stdout + install.stderr, /PodSecurity/, show(install));
  });

  it('the namespace really enforces: a root pod is refused there', () => {
    const r = kubectl(['-n', NS, 'run', 'rooty', `--image=${nodeEnv().image}`, '--restart=Never', '--dry-run=server']);
    assert.equal(r.status, 1, show(r));
    assert.match(r.stderr, /violates PodSecurity "restricted:latest"/, show(r));
  });

  it('runs as the numeric non-root uid 65532 with no capabilities, no privilege escalation and seccomp on (the kernel\'s view)', () => {
    for (const pod of pods) {
      const pid = containerPid(pod);
      const s = procStatus(pid);
      const what = `${pod.metadata.name} (pid ${pid}: ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')})`;
      assert.equal(s['Uid'], '65532\t65532\t65532\t65532', what);
      // The group is 0, not the image's 65532: the kubelet passes the image's uid to containerd as
      // runAsUser without a group, so the group comes from /etc/passwd in the image (no entry: 0).
      // That is what OpenShift does too; the files are root-owned and not group-writable.
      assert.equal(s['CapEff'], '0000000000000000');
      assert.equal(s['CapPrm'], '0000000000000000');
      assert.equal(s['NoNewPrivs'], '1');
      assert.equal(s['Seccomp'], '2', 'RuntimeDefault: a seccomp filter');
    }
  });

  it('mounts the root file system read-only; /tmp is the only writable place', () => {
    for (const pod of pods) {
      const root = mounts(containerPid(pod)).find((m) => m.mountPoint === '/');
      assert.ok(root);
      assert.equal(root.fsType, 'overlay');
      assert.ok(root.options.includes('ro'), `root mounted ${root.options.join(',')}`);
    }
    const pod = pods[0];
    assert.ok(pod);
    const denied = exec(pod, "try { require('fs').writeFileSync('/app/probe', 'x'); console.log('written') } catch (e) { console.log(e.code) }");
    assert.equal(denied.status, 0, show(denied));
    assert.equal(denied.stdout.trim(), 'EROFS');
    const tmp = exec(pod, "require('fs').writeFileSync('/tmp/probe', 'x'); console.log(require('fs').readFileSync('/tmp/probe', 'utf8'))");
    assert.equal(tmp.status, 0, show(tmp));
    assert.equal(tmp.stdout.trim(), 'x');
  });

  it('writes nothing outside /tmp: after serving, the overlay upper dir holds only the runtime\'s mount points', () => {
    // Some work first: denials and mutations through the API server, so the server has read its
    // certificate and policy, judged, logged and counted.
    const denied = kubectl(['apply', '--dry-run=server', '-f', '-'], { input: yamlDocs(peerAuthentication(APPS, 'mtls-disable', { mtls: { mode: 'DISABLE' } })) });
    assert.equal(denied.status, 1, show(denied));
    assert.match(denied.stderr, /denied the request/);
    const created = kubectl(['-n', APPS, 'create', 'deployment', 'web', '--image=registry.example/web:1', '--dry-run=server', '-o', 'name']);
    assert.equal(created.status, 0, show(created));

    for (const pod of pods) {
      const all = mounts(containerPid(pod));
      const root = all.find((m) => m.mountPoint === '/');
      const upper = root?.superOptions.find((o) => o.startsWith('upperdir='))?.slice('upperdir='.length);
      assert.ok(upper, `no upperdir in ${JSON.stringify(root)}`);
      // Mount points (and the directories leading to them) are made by the runtime before the
      // server starts; anything else would be a write by the container.
      const allowed = new Set<string>();
      for (const m of all) {
        const parts = m.mountPoint.split('/').filter(Boolean);
        for (let i = 1; i <= parts.length; i++) allowed.add(parts.slice(0, i).join('/'));
      }
      const written = walk(upper).filter((p) => !allowed.has(p));
      assert.deepEqual(written, [], `${pod.metadata.name} wrote outside its mounts: ${written.join(', ')} (upper dir ${upper})`);
    }
  });
});
