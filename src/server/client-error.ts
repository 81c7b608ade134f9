// Requests Node's HTTP parser cannot read (a malformed request line or header, headers over the
// limit, bytes after an HTTP/1.0 body sent without Content-Length, a request that timed out) are
// answered here instead of by Node's default, which writes a bare status line with no body. The
// client gets the same JSON error shape as every other refusal, and the log says why.
import type { Socket } from 'node:net';
import type { Logger } from 'pino';

/** The status Node itself would send for a parser error (node:_http_server), with our reason. */
function classify(code: string | undefined): { status: number; reason: string; error: string } {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, reason: 'Request Header Fields Too Large', error: 'request headers too large' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, reason: 'Request Timeout', error: 'request not received in time' };
    default:
      return {
        status: 400,
        reason: 'Bad Request',
        error: `malformed HTTP request${code ? ` (${code})` : ''}: send one AdmissionReview per POST, with a Content-Length or a chunked body`,
      };
  }
}

/**
 * The server's `clientError` listener: answers a request the HTTP parser refused with a JSON
 * `{"error": ...}` body and closes the connection (the parser cannot resynchronise).
 * Shapes: Node's `(err: Error & {code?: string}, socket)` listener signature. Never throws.
 */
export function answerClientError(logger: Logger): (err: Error & { code?: string }, socket: Socket) => void {
  return (err, socket) => {
    // Nothing can be written to a connection the client already reset or that is half-closed.
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const { status, reason, error } = classify(err.code);
    logger.warn({ status, code: err.code, remote: socket.remoteAddress }, 'refused a request the HTTP parser could not read');
    const body = JSON.stringify({ error });
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  };
}
