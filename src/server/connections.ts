// The admission listener's connections, for a drain that resets no keep-alive client.
//
// The API server reuses webhook connections and never retries a POST that failed on a reused
// connection, so the drain must not close a connection the client may be writing to. HTTP/1.1
// has one clean way to end a keep-alive connection: answer with `Connection: close` (every
// answer written while draining does, admission-listener.ts and app.ts), and the client then
// opens a new one, which lands on another replica. Node's server.close() instead destroys every
// connection "idle" at that instant, and under load that is all of them: a request already in
// the socket's buffer but not yet parsed counts as idle (measured: 50 of 50 back-to-back clients
// reset, BENCHMARKS.md "Reliability"). So the drain stops accepting without that, and closes a
// connection only once it has had no request for `idleCloseMs`: a client posting back to back
// gets its `Connection: close` answer first, and one that went quiet is ended with a TLS
// close_notify, as an idle keep-alive timeout would.
import { Server as NetServer, type Socket } from 'node:net';
import type { Server } from 'node:https';

export interface ConnectionTracker {
  /** Open TCP connections, handshakes included. */
  count(): number;
  /**
   * Stops accepting, lets every request in progress finish, ends connections once they have
   * been idle for `idleCloseMs`, and resolves when none is left. Answers must carry
   * `Connection: close` from now on (the caller's readiness flag does that).
   */
  drain(idleCloseMs: number): Promise<void>;
  /** Cuts every connection now (grace period over, or start-up failed); resolves once every
   * request on them has seen its abort, so that is logged before the server says it stopped. */
  destroyAll(): Promise<void>;
}

const DRAIN_CHECK_MS = 25;

export function trackConnections(server: Server): ConnectionTracker {
  const raw = new Set<Socket>();
  // TLS sockets (what requests arrive on) → requests whose response has not closed yet.
  const busy = new Map<Socket, number>();
  // TLS socket → when it last finished a response, or was established.
  const idleSince = new Map<Socket, number>();

  server.on('connection', (socket: Socket) => {
    raw.add(socket);
    socket.once('close', () => raw.delete(socket));
  });
  server.on('secureConnection', (socket: Socket) => {
    idleSince.set(socket, performance.now());
    socket.once('close', () => {
      idleSince.delete(socket);
      busy.delete(socket);
    });
  });
  server.on('request', (req: { socket: Socket }, res: { once(event: 'close', fn: () => void): unknown }) => {
    const socket = req.socket;
    busy.set(socket, (busy.get(socket) ?? 0) + 1);
    res.once('close', () => {
      const left = (busy.get(socket) ?? 1) - 1;
      if (left > 0) busy.set(socket, left);
      else busy.delete(socket);
      if (!socket.destroyed) idleSince.set(socket, performance.now());
    });
  });

  const endIdle = (idleCloseMs: number): void => {
    const now = performance.now();
    for (const [socket, since] of idleSince) {
      if (busy.has(socket) || now - since < idleCloseMs || socket.writableEnded) continue;
      socket.end();
    }
  };

  return {
    count: () => raw.size,
    drain(idleCloseMs) {
      const closed = new Promise<void>((resolve) => {
        // net.Server's close, not http's: http's also destroys every connection idle right now.
        if (server.listening) NetServer.prototype.close.call(server, () => resolve());
        else resolve();
      });
      endIdle(idleCloseMs);
      const sweep = setInterval(() => endIdle(idleCloseMs), DRAIN_CHECK_MS);
      return closed.finally(() => clearInterval(sweep));
    },
    async destroyAll() {
      const open = [...raw, ...idleSince.keys()].filter((s) => !s.closed);
      const closed = open.map((s) => new Promise<void>((resolve) => s.once('close', () => resolve())));
      for (const socket of raw) socket.destroy();
      for (const socket of idleSince.keys()) socket.destroy();
      await Promise.all(closed);
      // The requests' abort events follow their socket's close within the same turn.
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}
