/**
 * A TCP listener that tells HTTP/2 cleartext (h2c with prior knowledge, what gRPC clients speak on a plain
 * port) from HTTP/1.1 by the first bytes of each connection, and hands the socket over with those bytes
 * put back, so one port serves both. Node's HTTP servers can't do this themselves: `http` only speaks
 * HTTP/1.x, and `http2` only offers HTTP/1.1 fallback on TLS (ALPN).
 */
import { createServer, type Server, type Socket } from "node:net";

/** Every HTTP/2 connection starts with this (RFC 9113 §3.4); no HTTP/1.x request can. */
const h2Preface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** Options for `createProtocolSniffer`. */
export interface ProtocolSnifferOptions {
  /** Receives each connection whose first bytes are not the HTTP/2 preface, with nothing consumed. */
  onHttp1: (socket: Socket) => void;
  /** Receives each connection that starts with the HTTP/2 preface, with nothing consumed. */
  onH2c: (socket: Socket) => void;
  /**
   * How long a connection may stay silent before its first bytes; then it is closed, so idle or stalled
   * connections can't pile up before either server's own timeouts apply. Default 10 000.
   */
  firstBytesTimeoutMillis?: number;
}

/** The listener plus control over the connections it is still sniffing. */
export interface ProtocolSniffer {
  /** The TCP server to `listen` on; it counts every accepted socket, including handed-over ones. */
  readonly server: Server;
  /** Closes the connections that have not sent enough bytes to be handed over yet. */
  destroyPending(): void;
}

/** Creates a sniffing listener (not yet listening). */
export function createProtocolSniffer(options: ProtocolSnifferOptions): ProtocolSniffer {
  const timeout = options.firstBytesTimeoutMillis ?? 10_000;
  const pending = new Set<Socket>();
  // noDelay: the target servers set it on sockets they accept themselves, but not on handed-over ones, and
  // small gRPC frames would otherwise wait on Nagle's algorithm.
  const server = createServer({ noDelay: true }, (socket) => {
    pending.add(socket);
    let buffered: Buffer = Buffer.alloc(0);

    const cleanUp = (): void => {
      pending.delete(socket);
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("error", onError);
      socket.off("timeout", onTimeout);
      socket.off("close", cleanUp);
      socket.setTimeout(0);
    };
    const onData = (chunk: Buffer): void => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      const compared = Math.min(buffered.length, h2Preface.length);
      const matchesSoFar = buffered.subarray(0, compared).equals(h2Preface.subarray(0, compared));
      // A slow client may send the preface in pieces: wait while what arrived is still a prefix of it.
      if (matchesSoFar && buffered.length < h2Preface.length) return;
      cleanUp();
      socket.pause();
      socket.unshift(buffered);
      if (matchesSoFar) {
        // node:http2 reads what is already buffered on the socket when a session starts.
        options.onH2c(socket);
      } else {
        options.onHttp1(socket);
        // node:http consumes the socket's handle directly, bypassing the stream buffer the bytes went back
        // into; resuming makes the stream flow them into the parser before anything read later.
        socket.resume();
      }
    };
    const onEnd = (): void => {
      // Closed before saying anything useful: there is no one to answer.
      cleanUp();
      socket.destroy();
    };
    const onError = (): void => {
      // A reset or similar before the hand-over; nothing to report to anyone, just let go of the socket.
      cleanUp();
      socket.destroy();
    };
    const onTimeout = (): void => {
      cleanUp();
      socket.destroy();
    };

    socket.on("data", onData);
    socket.on("end", onEnd);
    socket.on("error", onError);
    socket.on("timeout", onTimeout);
    socket.on("close", cleanUp);
    socket.setTimeout(timeout);
  });

  return {
    server,
    destroyPending() {
      for (const socket of pending) socket.destroy();
      pending.clear();
    },
  };
}
