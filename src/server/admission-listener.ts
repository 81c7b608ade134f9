// POST /validate and POST /mutate on plain node:http, in front of express. They are the hot path
// of every API-server write, and in the profile express's router and JSON body parser cost more
// than the engine (BENCHMARKS.md); the answers and error wording are those of the express routes
// they replaced. Every other route (health, readiness, 404, 405) stays in express.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { decodeReview, encodeReview } from '../admission/review.js';
import type { AdmissionHandler, Webhook } from './handler.js';
import { reportInternalError } from './internal-error.js';
import { sendJson } from './send-json.js';
import { errorMessage } from '../util/errors.js';

export interface AdmissionListenerOptions {
  handler: AdmissionHandler;
  logger: Logger;
  limit: number;
  /** True once shutting down: answers then carry `Connection: close`. */
  isDraining: () => boolean;
}

/** Handles the request and returns true, or returns false to let the next listener have it. */
export type AdmissionListener = (req: IncomingMessage, res: ServerResponse) => boolean;

const WEBHOOK_PATHS = new Map<string, Webhook>([
  ['/validate', 'validate'],
  ['/validate/', 'validate'],
  ['/mutate', 'mutate'],
  ['/mutate/', 'mutate'],
]);

function pathOf(url: string | undefined): string {
  const raw = url ?? '/';
  const q = raw.indexOf('?');
  return q < 0 ? raw : raw.slice(0, q);
}

/** The media type check of `req.is('application/json')`, plus the charset body-parser accepted. */
function contentTypeProblem(header: string | undefined): string | undefined {
  // What the API server sends, answered without splitting or building the refusal text.
  if (header === 'application/json') return undefined;
  const unsupported = (): string => `content type ${header ? JSON.stringify(header) : '(none)'} is not supported: send the AdmissionReview as application/json`;
  if (!header) return unsupported();
  const [type = '', ...params] = header.split(';');
  if (type.trim().toLowerCase() !== 'application/json') return unsupported();
  for (const param of params) {
    const [key = '', value = ''] = param.split('=');
    const charset = value.trim().replace(/^"|"$/g, '').toLowerCase();
    if (key.trim().toLowerCase() === 'charset' && charset !== 'utf-8' && charset !== 'utf8') {
      return `unsupported charset "${charset.toUpperCase()}": send the AdmissionReview as UTF-8 JSON`;
    }
  }
  return undefined;
}

export function createAdmissionListener(options: AdmissionListenerOptions): AdmissionListener {
  const { handler, logger, limit, isDraining } = options;

  const refuse = (res: ServerResponse, path: string, status: number, error: string): void => {
    logger.warn({ status, path, error }, status === 400 ? 'rejected a request that is not a valid AdmissionReview' : 'rejected a request body');
    sendJson(res, status, { error }, { close: isDraining() });
  };

  const answer = (res: ServerResponse, path: string, webhook: Webhook, text: string, startedAt: bigint): void => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      refuse(res, path, 400, `body is not valid JSON: ${errorMessage(err)}`);
      return;
    }
    const decoded = decodeReview(parsed);
    if (!decoded.ok) {
      refuse(res, path, 400, decoded.error);
      return;
    }
    const { review } = decoded;
    try {
      sendJson(res, 200, encodeReview(review.apiVersion, review.uid, handler({ webhook, review, startedAt })), { close: isDraining() });
    } catch (err) {
      sendJson(res, 500, reportInternalError(err, 'POST', path, logger), { close: isDraining() });
    }
  };

  return (req, res) => {
    if (req.method !== 'POST') return false;
    const path = pathOf(req.url);
    const webhook = WEBHOOK_PATHS.get(path);
    if (!webhook) return false;
    const startedAt = process.hrtime.bigint();

    const typeProblem = contentTypeProblem(req.headers['content-type']);
    if (typeProblem) {
      refuse(res, path, 415, typeProblem);
      return true;
    }
    const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (encoding !== 'identity') {
      refuse(res, path, 415, `content encoding "${encoding}" is not supported: send the AdmissionReview uncompressed`);
      return true;
    }
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      // Node discards the unread rest of the body once the response is sent.
      refuse(res, path, 413, `request body of ${declared} bytes is over the limit of ${limit} bytes`);
      return true;
    }

    const chunks: Buffer[] = [];
    let received = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      received += chunk.length;
      if (received > limit) {
        done = true;
        chunks.length = 0;
        refuse(res, path, 413, `request body is over the limit of ${limit} bytes`);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      // Only the text outlives this line: the body's bytes are no longer reachable while
      // JSON.parse builds the object (up to 8 MiB less live memory per review being parsed).
      const text = (chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, received)).toString('utf8');
      chunks.length = 0;
      answer(res, path, webhook, text, startedAt);
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (done) return;
      done = true;
      chunks.length = 0;
      if (err.code === 'ECONNRESET' || req.socket.destroyed) {
        // The client went away, or the drain cut the connection at the end of the grace period
        // (already logged at warn): nobody is left to answer, and the request was not a bad one.
        const detail = { path, receivedBytes: received, declaredBytes: Number.isFinite(declared) ? declared : null, err: err.message };
        logger[isDraining() ? 'info' : 'warn'](detail, 'request aborted before its body was complete: no answer sent');
        return;
      }
      logger.warn({ path, err: err.message }, 'request body could not be read');
      if (!res.headersSent) refuse(res, path, 400, `request body could not be read: ${err.message}`);
    });
    return true;
  };
}
