// Moved to src/reports/policy-report-yaml.ts; re-exported here for the tests that import it from
// its old place.
export * from '../reports/policy-report-yaml.js';
