#!/usr/bin/env bash
# The full reliability run (npm run soak): 100,000 fuzz inputs, slow clients, rotation /
# reload / SIGTERM under load, and the 10-minute soak. About 15 minutes on 2 cores.
# The short form (npm run test:reliability) runs in CI.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
npm run build
export RELIABILITY_FULL=1
exec node --import tsx --test --test-reporter=spec --test-concurrency=1 test/reliability/*.test.ts
