// The one wording for an exception that escaped a handler: a bug in mtls-guard, said so to the
// caller and logged at error level, never a bare 500. Shared by the admission listener and
// express's error handler.
import type { Logger } from 'pino';
import { errorMessage } from '../util/errors.js';

/**
 * Logs an exception that escaped a request handler (error level, with the method and path) and
 * returns the JSON body of the 500 that tells the caller it is a bug in mtls-guard.
 */
export function reportInternalError(err: unknown, method: string, path: string, logger: Logger): { error: string } {
  logger.error({ err, method, path }, 'unexpected error while handling a request (a bug in mtls-guard)');
  return {
    error: `internal error in mtls-guard while handling ${method} ${path}: ${errorMessage(err)}. This is a bug in mtls-guard, not in your request; the request was not judged. Please report it.`,
  };
}
