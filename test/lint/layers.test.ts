// The layer rules of eslint.layers.js, each shown catching a wrong import (and letting the right
// one through), so a change to the config that silently stops enforcing them fails here.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ESLint } from 'eslint';

const ROOT = join(import.meta.dirname, '..', '..');
const eslint = new ESLint({ cwd: ROOT });

async function layerErrors(file: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(source, { filePath: join(ROOT, file) });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

const cases: [file: string, source: string, allowed: boolean][] = [
  ['src/engine/example.ts', "import { createLogger } from '../server/logger.js';\nexport const x = createLogger;\n", false],
  ['src/engine/rules/example.ts', "import { startServer } from '../../server/start.js';\nexport const x = startServer;\n", false],
  ['src/engine/example.ts', "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n", false],
  ['src/engine/example.ts', "import { parsePolicy } from '../policy/load.js';\nexport const x = parsePolicy;\n", false],
  ['src/engine/example.ts', "import { isIP } from 'node:net';\nexport const x = isIP;\n", true],
  ['src/cli/example.ts', "import { evaluate } from '../engine/evaluate.js';\nexport const x = evaluate;\n", false],
  ['src/cli/example.ts', "import { evaluate } from '../engine/index.js';\nexport const x = evaluate;\n", true],
  ['src/cli/example.ts', "import { startServer } from '../server/start.js';\nexport const x = startServer;\n", true],
  ['src/policy/example.ts', "import { watchFiles } from '../server/file-watch.js';\nexport const x = watchFiles;\n", false],
  ['src/server/example.ts', "import { registerCheck } from '../cli/check.js';\nexport const x = registerCheck;\n", false],
  ['src/server/example.ts', "import { dig } from '../engine/read.js';\nexport const x = dig;\n", false],
  ['src/admission/example.ts', "import { createLogger } from '../server/logger.js';\nexport const x = createLogger;\n", false],
  ['src/util/example.ts', "import { evaluate } from '../engine/index.js';\nexport const x = evaluate;\n", false],
  ['src/engine/example.ts', "import { errorMessage } from '../util/errors.js';\nexport const x = errorMessage;\n", true],
  ['src/certs/example.ts', "import { evaluate } from '../engine/index.js';\nexport const x = evaluate;\n", false],
  // The mesh model: pure like the engine, reached through its surface; the engine never imports it.
  ['src/engine/example.ts', "import { MeshModel } from '../mesh/index.js';\nexport const x = MeshModel;\n", false],
  ['src/mesh/example.ts', "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n", false],
  ['src/mesh/example.ts', "import { dig } from '../engine/read.js';\nexport const x = dig;\n", false],
  ['src/mesh/example.ts', "import { dig } from '../engine/index.js';\nexport const x = dig;\n", true],
  ['src/mesh/example.ts', "import { createLogger } from '../server/logger.js';\nexport const x = createLogger;\n", false],
  ['src/cli/example.ts', "import { consolidate } from '../mesh/client-side.js';\nexport const x = consolidate;\n", false],
  ['src/cli/example.ts', "import { MeshModel } from '../mesh/index.js';\nexport const x = MeshModel;\n", true],
  ['src/server/example.ts', "import { MeshModel } from '../mesh/index.js';\nexport const x = MeshModel;\n", true],
  // The reports: pure like the mesh model, shared by cli (scan) and server (PolicyReports in the cluster).
  ['src/reports/example.ts', "import { MeshModel } from '../mesh/index.js';\nexport const x = MeshModel;\n", true],
  ['src/reports/example.ts', "import { splitApiVersion } from '../engine/index.js';\nexport const x = splitApiVersion;\n", true],
  ['src/reports/example.ts', "import { consolidate } from '../mesh/client-side.js';\nexport const x = consolidate;\n", false],
  ['src/reports/example.ts', "import { writeFileSync } from 'node:fs';\nexport const x = writeFileSync;\n", false],
  ['src/reports/example.ts', "import { createLogger } from '../server/logger.js';\nexport const x = createLogger;\n", false],
  ['src/reports/example.ts', "import { runScan } from '../cli/scan-run.js';\nexport const x = runScan;\n", false],
  ['src/mesh/example.ts', "import { scanOf } from '../reports/scan-report.js';\nexport const x = scanOf;\n", false],
  ['src/engine/example.ts', "import { scanOf } from '../reports/scan-report.js';\nexport const x = scanOf;\n", false],
  ['src/server/example.ts', "import { policyReports } from '../reports/policy-report.js';\nexport const x = policyReports;\n", true],
  ['src/cli/example.ts', "import { policyReports } from '../reports/policy-report.js';\nexport const x = policyReports;\n", true],
];

describe('layer rules (eslint.layers.js)', () => {
  for (const [file, source, allowed] of cases) {
    const what = source.split('\n')[0];
    test(`${file}: ${what} is ${allowed ? 'allowed' : 'refused'}`, async () => {
      const errors = await layerErrors(file, source);
      if (allowed) assert.deepEqual(errors, []);
      else assert.equal(errors.length, 1, `expected one layer error, got ${JSON.stringify(errors)}`);
    });
  }
});
