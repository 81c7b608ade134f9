// Moved to src/reports/scan-report.ts (pure, shared by `scan` and the server's PolicyReports);
// re-exported here for the cli modules and tests that import it from its old place.
export * from '../reports/scan-report.js';
