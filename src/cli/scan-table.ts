// `scan -o table`: the mesh for a person at a terminal or reading a CI log. One row per workload
// port (what it accepts, who decided, who sends plaintext, who fails), then the problems with the
// object and field to change, then one summary line. Colour only through the palette.
import type { AuthorizationConflict, Flow, ServerMode } from '../mesh/index.js';
import type { Palette } from './colour.js';
import { clientsText, destinationText, OUTCOMES, refText, serverText, setByText, settingText, type Accepts, type MeshScan, type ScanRow, type ScanSummary } from '../reports/scan-report.js';

const HEADER = ['NAMESPACE', 'WORKLOAD', 'PORT', 'PROXY', 'MODE', 'ACCEPTS', 'SET-BY', 'PLAINTEXT-FROM', 'FAILING-FROM'] as const;
const ACCEPTS_TEXT: Record<Accepts, string> = { mtls: 'mTLS', 'mtls+plaintext': 'mTLS+plaintext', plaintext: 'plaintext' };
const NONE = '-';

/** SET-BY without the kind when it is the PeerAuthentication it nearly always is. */
function setByCell(row: ScanRow): string {
  const setBy = row.server.setBy;
  if (!setBy) return 'mesh default';
  const ref = setBy.ref;
  const name = `${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`;
  return ref.kind === 'PeerAuthentication' ? `${name} ${setBy.path}` : `${ref.kind} ${name} ${setBy.path}`;
}

/** The client groups of several flows in one cell: groups without a workloadSelector merged. */
function clientsCell(flows: readonly Flow[]): string {
  if (flows.length === 0) return NONE;
  const plain = new Set(flows.filter((f) => !f.clients.workloadSelector || Object.keys(f.clients.workloadSelector).length === 0));
  const parts: string[] = [];
  if (plain.size) {
    const namespaces = [...new Set([...plain].flatMap((f) => f.clients.namespaces))].sort();
    parts.push(clientsText({ namespaces, otherNamespaces: [...plain].some((f) => f.clients.otherNamespaces) }));
  }
  for (const f of flows) if (!plain.has(f)) parts.push(clientsText(f.clients));
  return [...new Set(parts)].join('; ');
}

function cells(row: ScanRow): string[] {
  const s = row.server;
  return [s.workload.namespace, `${s.workload.kind}/${s.workload.name}`, String(s.port), row.proxy, s.mode, ACCEPTS_TEXT[row.accepts], setByCell(row), clientsCell(row.plaintextFrom), clientsCell(row.failingFrom)];
}

function modeColour(mode: ServerMode, p: Palette): (text: string) => string {
  if (mode === 'STRICT') return p.green;
  return mode === 'PERMISSIVE' ? p.yellow : p.red;
}

/** Colours one padded cell by column; padding is computed on the plain text so columns line up. */
function colourCell(column: number, text: string, row: ScanRow, p: Palette): string {
  const isNone = text.trim() === NONE;
  switch (HEADER[column]) {
    case 'MODE':
      return modeColour(row.server.mode, p)(text);
    case 'ACCEPTS':
      return row.accepts === 'mtls' ? p.green(text) : p.yellow(text);
    case 'PROXY':
      return row.proxy === 'none' ? p.yellow(text) : text;
    case 'PLAINTEXT-FROM':
      return isNone ? p.dim(text) : p.yellow(text);
    case 'FAILING-FROM':
      return isNone ? p.dim(text) : p.bold(p.red(text));
    default:
      return text;
  }
}

/** The table lines (header first); empty when the snapshot has no workload port. */
export function tableLines(scan: MeshScan, p: Palette): string[] {
  if (scan.rows.length === 0) return [];
  const body = scan.rows.map(cells);
  const widths = HEADER.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] as string).length)));
  const last = HEADER.length - 1;
  const pad = (text: string, i: number): string => (i === last ? text : text.padEnd(widths[i] as number));
  const lines = [p.bold(HEADER.map(pad).join('  ').trimEnd())];
  scan.rows.forEach((row, r) => {
    const line = (body[r] as string[]).map((text, i) => colourCell(i, pad(text, i), row, p)).join('  ');
    lines.push(line);
  });
  return lines;
}

function brokenLines(flow: Flow, p: Palette): string[] {
  const to = flow.server ? ` → ${serverText(flow.server)} (${flow.server.mode})` : '';
  const lines = [`  ${p.bold(p.red('BROKEN'))}    ${clientsText(flow.clients)} → ${destinationText(flow)}${to}`];
  const client = flow.clientTlsFrom ? `${settingText(flow.clientTlsFrom)}: ${flow.clientTls}` : `no DestinationRule tls: ${flow.clientTls}`;
  lines.push(`            client TLS: ${client}`);
  if (flow.server) lines.push(`            server mode: ${setByText(flow.server)}`);
  lines.push(`            why: ${flow.reason}`);
  return lines;
}

function conflictLines(c: AuthorizationConflict, p: Palette): string[] {
  return [
    `  ${p.bold(p.red('AUTHZ'))}     ${serverText(c.server)} accepts plaintext (${c.server.mode}) but ${refText(c.authorizationPolicy)} (${c.action}) matches peer identity`,
    `            server mode: ${setByText(c.server)}`,
    `            identity fields: ${c.paths.join(', ')}`,
    `            why: plaintext carries no peer identity, so ${c.action === 'ALLOW' ? 'this ALLOW policy refuses plaintext callers' : 'this DENY policy stops matching plaintext callers'}`,
  ];
}

/** The problems section: broken flows, then authorization conflicts; empty when there are none. */
export function problemLines(scan: MeshScan, p: Palette): string[] {
  if (scan.summary.findings === 0) return [];
  return ['Problems:', ...scan.broken.flatMap((f) => brokenLines(f, p)), ...scan.conflicts.flatMap((c) => conflictLines(c, p))];
}

function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

/**
 * `5 workload ports in 1 namespace: 3 mTLS only, 2 accept plaintext; 6 flows: 4 mtls, 1 plaintext,
 * 1 broken; 0 authorization conflicts`. Outcomes with no flow are left out.
 */
export function scanSummaryLine(s: ScanSummary, p: Palette): string {
  const ports = `${plural(s.serverPorts, 'workload port')} in ${plural(s.namespaces, 'namespace')}: ${s.serverPorts - s.plaintextPorts} mTLS only, ${
    s.plaintextPorts ? p.yellow(`${s.plaintextPorts} accept${s.plaintextPorts === 1 ? 's' : ''} plaintext`) : '0 accept plaintext'
  }`;
  const outcomes = OUTCOMES.filter((o) => s.outcomes[o] > 0).map((o) => {
    const text = `${s.outcomes[o]} ${o}`;
    return o === 'broken' ? p.bold(p.red(text)) : o === 'plaintext' ? p.yellow(text) : text;
  });
  const flows = `${plural(s.flows, 'flow')}${outcomes.length ? `: ${outcomes.join(', ')}` : ''}`;
  const conflictText = plural(s.conflicts, 'authorization conflict');
  return `${ports}; ${flows}; ${s.conflicts ? p.bold(p.red(conflictText)) : conflictText}`;
}

/** The whole `-o table` output, newline-terminated. */
export function formatScanTable(scan: MeshScan, p: Palette): string {
  const lines = tableLines(scan, p);
  if (lines.length === 0) lines.push('no workload ports found (no pod template with container ports in the input)');
  const problems = problemLines(scan, p);
  if (problems.length) lines.push('', ...problems);
  lines.push('', scanSummaryLine(scan.summary, p));
  return `${lines.join('\n')}\n`;
}
