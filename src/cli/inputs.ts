// `-f` arguments → manifest texts: files, folders (recursive, sorted so output is stable across
// machines) and `-` for stdin. Problems are returned as messages naming the path, never thrown.
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join } from 'node:path';

export const STDIN = '-';
/** How stdin is named in messages and `source`. */
export const STDIN_NAME = '<stdin>';
const MANIFEST_EXTENSIONS = ['.yaml', '.yml', '.json'];

export interface InputText {
  /** The path as the user wrote it (joined with folder entries), or <stdin>. */
  name: string;
  text: string;
}

export interface ReadInputs {
  inputs: InputText[];
  errors: string[];
}

function reason(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'ENOENT') return 'path not found';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'is a folder';
  return err instanceof Error ? err.message : String(err);
}

function isManifestFile(name: string): boolean {
  const lower = name.toLowerCase();
  return MANIFEST_EXTENSIONS.some((ext) => lower.endsWith(ext));
}

/**
 * Manifest files under a folder, depth first in name order; hidden entries (.git, .github) are
 * skipped. Returns false when the folder was already walked (a symlink loop, or given twice).
 */
async function walk(dir: string, seen: Set<string>, out: string[], errors: string[]): Promise<boolean> {
  let real: string;
  let names: string[];
  try {
    real = await realpath(dir);
    if (seen.has(real)) return false;
    seen.add(real);
    names = (await readdir(dir)).sort();
  } catch (err) {
    errors.push(`${dir}: cannot read folder: ${reason(err)}`);
    return true;
  }
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const path = join(dir, name);
    const info = await statOrReport(path, errors);
    if (!info) continue;
    if (info.isDirectory()) await walk(path, seen, out, errors);
    else if (info.isFile() && isManifestFile(name)) out.push(path);
  }
  return true;
}

/** stat, or an error line naming the path (missing file, no permission) and undefined. */
async function statOrReport(path: string, errors: string[]): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch (err) {
    errors.push(`${path}: ${reason(err)}`);
    return undefined;
  }
}

async function readText(name: string, errors: string[]): Promise<InputText | undefined> {
  try {
    return { name, text: await readFile(name, 'utf8') };
  } catch (err) {
    errors.push(`${name}: cannot read: ${reason(err)}`);
    return undefined;
  }
}

/** Reads every `-f` argument in order. `readStdin` is called at most once. */
export async function readInputs(paths: readonly string[], readStdin: () => Promise<string>): Promise<ReadInputs> {
  const inputs: InputText[] = [];
  const errors: string[] = [];
  const seen = new Set<string>();
  let stdinUsed = false;
  for (const path of paths) {
    if (path === STDIN) {
      if (stdinUsed) {
        errors.push(`-f -: stdin can be read only once`);
        continue;
      }
      stdinUsed = true;
      try {
        inputs.push({ name: STDIN_NAME, text: await readStdin() });
      } catch (err) {
        errors.push(`${STDIN_NAME}: cannot read: ${reason(err)}`);
      }
      continue;
    }
    const info = await statOrReport(path, errors);
    if (!info) continue;
    if (!info.isDirectory()) {
      const input = await readText(path, errors);
      if (input) inputs.push(input);
      continue;
    }
    const files: string[] = [];
    const before = errors.length;
    const walked = await walk(path, seen, files, errors);
    if (walked && files.length === 0 && errors.length === before) {
      // Most likely a wrong path in a pipeline: passing it would vouch for nothing.
      errors.push(`${path}: folder holds no ${MANIFEST_EXTENSIONS.join(', ')} files`);
    }
    for (const file of files) {
      const input = await readText(file, errors);
      if (input) inputs.push(input);
    }
  }
  return { inputs, errors };
}

/** All of stdin as UTF-8. */
export async function readAllStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}
