// The policy file watch: ConfigMap-style symlink swaps and plain rewrites are applied, an
// invalid new policy is refused with the old one kept, and no file means the defaults.
import assert from 'node:assert/strict';
import { appendFile, mkdir, open, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { defaultPolicy } from '../../src/engine/index.js';
import { readPolicyOnce, watchPolicy, type ReloadResult } from '../../src/server/policy-source.js';
import { LEVEL, memoryLogger, tempDir, waitFor } from '../server/helpers.js';

/** Kubelet's ConfigMap update: a new timestamped dir, then one rename of the `..data` link. */
async function configMapUpdate(dir: string, generation: string, text: string): Promise<void> {
  await mkdir(join(dir, `..${generation}`));
  await writeFile(join(dir, `..${generation}`, 'policy.yaml'), text);
  await symlink(`..${generation}`, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
}

describe('watchPolicy', () => {
  test('no file: the embedded defaults', async () => {
    const { logger } = memoryLogger();
    const result = await watchPolicy(undefined, { logger });
    assert.ok(result.ok);
    assert.deepEqual(result.source.current(), defaultPolicy());
    result.source.close();
  });

  test('an invalid first policy fails with the file and key path named', async () => {
    const { dir, remove } = await tempDir();
    try {
      const file = join(dir, 'policy.yaml');
      await writeFile(file, 'mode: enforce\nrules:\n  peerauthentication-disable:\n    action: maybe\n');
      const result = await watchPolicy(file, { logger: memoryLogger().logger });
      assert.equal(result.ok, false);
      assert.match((result.ok ? [] : result.errors).join('\n'), new RegExp(`${file}: rules\\.peerauthentication-disable\\.action`));
      const missing = await readPolicyOnce(join(dir, 'absent.yaml'));
      assert.match((missing.ok ? [] : missing.errors).join('\n'), /absent\.yaml: cannot read the policy file: ENOENT/);
    } finally {
      await remove();
    }
  });

  test('ConfigMap swaps: a valid policy is applied, an invalid one refused with the old one kept', async () => {
    const { dir, remove } = await tempDir();
    await configMapUpdate(dir, '2025_01', 'mode: enforce\n');
    await symlink('..data/policy.yaml', join(dir, 'policy.yaml'));
    const { logger, lines } = memoryLogger();
    const results: ReloadResult[] = [];
    const watched = await watchPolicy(join(dir, 'policy.yaml'), { logger, onReload: (r) => results.push(r), pollMs: 5000, debounceMs: 20 });
    assert.ok(watched.ok);
    const { source } = watched;
    try {
      assert.equal(source.current().mode, 'enforce');

      // The poll period is long: this change has to be seen through the directory watch.
      await configMapUpdate(dir, '2025_02', 'mode: audit\nexempt:\n  users: ["ci-bot"]\n');
      await waitFor('the valid policy to be applied', () => results.length === 1, 3000);
      assert.deepEqual(results, ['success']);
      assert.equal(source.current().mode, 'audit');
      assert.deepEqual(source.current().exempt.users, ['ci-bot']);
      assert.ok(lines.some((l) => l.level === LEVEL.info && l.msg === 'policy reloaded'));

      await configMapUpdate(dir, '2025_03', 'mode: audit\nbogus: true\n');
      await waitFor('the invalid policy to be refused', () => results.length === 2, 3000);
      assert.deepEqual(results, ['success', 'error']);
      assert.equal(source.current().mode, 'audit', 'the previous policy stays in force');
      assert.deepEqual(source.current().exempt.users, ['ci-bot']);
      const refusal = lines.find((l) => l.level === LEVEL.error);
      assert.match(String(refusal?.msg), /new policy refused/);
      assert.deepEqual(refusal?.['errors'], [`${join(dir, 'policy.yaml')}: bogus: unknown key`]);
    } finally {
      source.close();
      await remove();
    }
  });

  test('with the directory watch off, the poll alone picks up a plain rewrite', async () => {
    const { dir, remove } = await tempDir();
    const file = join(dir, 'policy.yaml');
    await writeFile(file, 'mode: enforce\n');
    const results: ReloadResult[] = [];
    const watched = await watchPolicy(file, { logger: memoryLogger().logger, onReload: (r) => results.push(r), pollMs: 50, useFsWatch: false });
    assert.ok(watched.ok);
    try {
      await writeFile(file, 'mode: audit\n');
      await waitFor('the poll to apply the policy', () => watched.source.current().mode === 'audit', 3000);
      assert.deepEqual(results, ['success']);
      // Same content again: no reload is reported. Shown without a sleep: a real change written
      // after it is reloaded, and the same-content write in between added nothing.
      await writeFile(file, 'mode: audit\n');
      await writeFile(file, 'mode: enforce\n');
      await waitFor('the poll to apply the next change', () => watched.source.current().mode === 'enforce', 3000);
      assert.deepEqual(results, ['success', 'success']);
    } finally {
      watched.source.close();
      await remove();
    }
  });

  test('a deleted policy file is refused like an invalid one', async () => {
    const { dir, remove } = await tempDir();
    const file = join(dir, 'policy.yaml');
    await writeFile(file, 'mode: audit\n');
    const results: ReloadResult[] = [];
    const watched = await watchPolicy(file, { logger: memoryLogger().logger, onReload: (r) => results.push(r), pollMs: 50 });
    assert.ok(watched.ok);
    try {
      await rename(file, join(dir, 'moved.yaml'));
      await waitFor('the missing file to be refused', () => results.length === 1, 3000);
      assert.deepEqual(results, ['error']);
      assert.equal(watched.source.current().mode, 'audit');
    } finally {
      watched.source.close();
      await remove();
    }
  });

  test('an empty or comment-only first policy refuses to start, naming the file', async () => {
    const { dir, remove } = await tempDir();
    try {
      for (const text of ['', '  \n\n', '# policy goes here\n', '---\n# nothing yet\n']) {
        const file = join(dir, 'policy.yaml');
        await writeFile(file, text);
        const result = await watchPolicy(file, { logger: memoryLogger().logger });
        assert.equal(result.ok, false, `${JSON.stringify(text)} is refused`);
        assert.match((result.ok ? [] : result.errors).join('\n'), new RegExp(`^${file}: the policy file is empty`));
      }
      // `{}` is how to ask for every default on purpose.
      await writeFile(join(dir, 'defaults.yaml'), '{}\n');
      const defaults = await watchPolicy(join(dir, 'defaults.yaml'), { logger: memoryLogger().logger });
      assert.ok(defaults.ok);
      assert.deepEqual(defaults.source.current(), defaultPolicy());
      defaults.source.close();
    } finally {
      await remove();
    }
  });

  test('a truncated policy file (`: > policy.yaml`) is refused on reload, the old policy kept', async () => {
    const { dir, remove } = await tempDir();
    const file = join(dir, 'policy.yaml');
    await writeFile(file, 'mode: audit\n');
    const { logger, lines } = memoryLogger();
    const results: ReloadResult[] = [];
    const watched = await watchPolicy(file, { logger, onReload: (r) => results.push(r), pollMs: 50, debounceMs: 10, settleMs: 50 });
    assert.ok(watched.ok);
    try {
      await writeFile(file, '');
      await waitFor('the empty file to be judged', () => results.length === 1, 5000);
      assert.deepEqual(results, ['error']);
      assert.equal(watched.source.current().mode, 'audit', 'audit mode stays: the defaults (enforce) are not loaded');
      assert.ok(!lines.some((l) => l.msg === 'policy reloaded'), 'not logged as a reload');
      const refusal = lines.find((l) => l.level === LEVEL.error);
      assert.match(String(refusal?.msg), /new policy refused/);
      assert.match(String((refusal?.['errors'] as string[] | undefined)?.[0]), /the policy file is empty/);

      await writeFile(file, '# just a comment\n\n');
      await waitFor('the comment-only file to be judged', () => results.length === 2, 5000);
      assert.deepEqual(results, ['error', 'error']);
      assert.equal(watched.source.current().mode, 'audit');
    } finally {
      watched.source.close();
      await remove();
    }
  });

  test('a file written in place with a pause is read only once whole', async () => {
    const { dir, remove } = await tempDir();
    const file = join(dir, 'policy.yaml');
    await writeFile(file, 'mode: audit\n');
    const { logger, lines } = memoryLogger();
    const results: ReloadResult[] = [];
    // A long settle interval, so the rest of the file surely lands within it.
    const watched = await watchPolicy(file, { logger, onReload: (r) => results.push(r), pollMs: 20, debounceMs: 5, settleMs: 1500 });
    assert.ok(watched.ok);
    try {
      // Not atomic: truncate, write the first half (on its own a valid policy in enforce mode)...
      const handle = await open(file, 'w');
      await handle.write('exempt:\n  users: ["ci-bot"]\n');
      await handle.close();
      // ...wait until the watcher has seen the half-written file...
      await waitFor('the watcher to see the change', () => results.length > 0 || lines.some((l) => /waiting for it to settle/.test(l.msg)), 5000);
      assert.deepEqual(results, [], 'nothing was loaded from the half-written file');
      // ...then the rest.
      await appendFile(file, 'mode: audit\n');
      await waitFor('the whole file to be loaded', () => results.length > 0, 10_000);
      assert.deepEqual(results, ['success']);
      assert.equal(watched.source.current().mode, 'audit', 'never enforce: the half was not applied');
      assert.deepEqual(watched.source.current().exempt.users, ['ci-bot']);
      assert.deepEqual(
        lines.filter((l) => l.msg === 'policy reloaded').map((l) => l['mode']),
        ['audit'],
      );
    } finally {
      watched.source.close();
      await remove();
    }
  });

  test('a busy directory (a log file written beside the policy) does not starve the watch', async () => {
    const { dir, remove } = await tempDir();
    const file = join(dir, 'policy.yaml');
    await writeFile(file, 'mode: enforce\n');
    const results: ReloadResult[] = [];
    // The poll is an hour away: only the directory watch can see the change.
    const watched = await watchPolicy(file, { logger: memoryLogger().logger, onReload: (r) => results.push(r), pollMs: 3_600_000, debounceMs: 200, settleMs: 20 });
    assert.ok(watched.ok);
    let writing = true;
    const noise = (async () => {
      for (let i = 0; writing; i++) await appendFile(join(dir, 'server.log'), `line ${i}\n`);
    })();
    try {
      await writeFile(`${file}.tmp`, 'mode: audit\n');
      await rename(`${file}.tmp`, file);
      await waitFor('the policy to be reloaded', () => results.length === 1, 5000);
      assert.equal(watched.source.current().mode, 'audit');
    } finally {
      writing = false;
      await noise;
      watched.source.close();
      await remove();
    }
  });
});
