// Moved to src/reports/policy-report.ts (pure, shared by `scan -o policyreport` and the server's
// PolicyReports); re-exported here for the cli modules and tests that import it from its old place.
export * from '../reports/policy-report.js';
