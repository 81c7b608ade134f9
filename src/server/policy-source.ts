// Keeps the policy in force current with the file on disk (a ConfigMap mount in a cluster).
// A new policy that does not validate is refused and the old one stays in force: a typo in a
// ConfigMap must not switch the guardrails off, nor take the webhook down.
import type { Logger } from 'pino';
import { defaultPolicy, type Policy } from '../engine/index.js';
import { readSnapshot, watchFiles, type FileSnapshot, type FileWatchOptions } from './file-watch.js';
import { parsePolicyFile, type PolicyResult } from '../policy/load.js';

export type ReloadResult = 'success' | 'error';

export interface PolicyWatchOptions extends FileWatchOptions {
  logger: Logger;
  /** Told about every reload attempt (the server counts them in a metric). */
  onReload?: (result: ReloadResult) => void;
}

export interface PolicySource {
  /** The policy in force now; read it per request so a reload applies to the next one. */
  current(): Policy;
  /** Re-reads the file now, even when unchanged (SIGHUP); resolves once it is applied or refused. */
  reload(): Promise<void>;
  close(): void;
}

export type PolicySourceResult = { ok: true; source: PolicySource } | { ok: false; errors: string[] };

function policyFromSnapshot(file: string, snapshot: FileSnapshot): PolicyResult {
  const content = snapshot.files[0];
  if (content === undefined) return { ok: false, errors: [`${file}: not read`] };
  if (Buffer.isBuffer(content)) return parsePolicyFile(content.toString('utf8'), file);
  return { ok: false, errors: [`${file}: cannot read the policy file: ${content.code ?? content.message}`] };
}

/** Reads and validates the policy file once, as the watch reads it. */
export async function readPolicyOnce(file: string): Promise<PolicyResult> {
  return policyFromSnapshot(file, await readSnapshot([file]));
}

/**
 * Loads the policy from `file` and keeps it current; without a file, the embedded defaults.
 * Fails (errors naming the file and key paths) only when the first load is invalid or empty.
 */
export async function watchPolicy(file: string | undefined, options: PolicyWatchOptions): Promise<PolicySourceResult> {
  const { logger, onReload } = options;
  if (file === undefined) {
    const policy = defaultPolicy();
    logger.info({ mode: policy.mode }, 'no policy file given: using the embedded default policy');
    return { ok: true, source: { current: () => policy, reload: () => Promise.resolve(), close: () => undefined } };
  }
  const initial = await readSnapshot([file]);
  const first = policyFromSnapshot(file, initial);
  if (!first.ok) return first;
  let policy = first.policy;
  logger.info({ file, mode: policy.mode }, 'policy loaded');

  const watch = watchFiles(
    [file],
    initial,
    (snapshot) => {
      const next = policyFromSnapshot(file, snapshot);
      if (next.ok) {
        policy = next.policy;
        logger.info({ file, mode: policy.mode }, 'policy reloaded');
        onReload?.('success');
      } else {
        logger.error({ file, errors: next.errors }, 'new policy refused: it is invalid, the previous policy stays in force');
        onReload?.('error');
      }
    },
    { ...options, onSettling: () => logger.debug({ file }, 'policy file changed: waiting for it to settle before reloading') },
  );
  return { ok: true, source: { current: () => policy, reload: () => watch.reload(), close: () => watch.close() } };
}
