// The policy for offline commands: the --config file, or the defaults the server would use.
import { readFile } from 'node:fs/promises';
import { defaultPolicy, type Mode, type Policy } from '../engine/index.js';
import { parsePolicyFile, type PolicyResult } from '../policy/load.js';
import { errorMessage } from '../util/errors.js';

/** The --config file read and validated (a blank one refused, as the server refuses it), or without one the defaults. */
export async function readCheckPolicy(path: string | undefined): Promise<PolicyResult> {
  if (path === undefined) return { ok: true, policy: defaultPolicy() };
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    const why = code === 'ENOENT' ? 'file not found' : errorMessage(err);
    return { ok: false, errors: [`${path}: cannot read policy: ${why}`] };
  }
  return parsePolicyFile(text, path);
}

/** `--mode`: one mode for every object, so per-namespace overrides no longer apply. */
export function withForcedMode(policy: Policy, mode: Mode | undefined): Policy {
  return mode === undefined ? policy : { ...policy, mode, namespaces: [] };
}
