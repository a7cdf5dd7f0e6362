/**
 * Tells the other nodes of a cluster that sessions were revoked or changed, so they drop them from their
 * whoami caches at once instead of when the cache entry expires.
 *
 * Over Redis pub/sub: a node publishes `{"node":…,"session":id}` or `{"node":…,"identity":id}` on one channel
 * (e.g. `gatehouse:identity:session-revoked`) after the change is committed, and every node subscribes on a
 * connection of its own. Pub/sub delivers at most once: a message sent while a node's subscriber is
 * disconnected is lost, so a node that (re)subscribes clears its whole cache (`"all"`). Every failure only
 * degrades to the cache's TTL, which bounds how long a revoked session can still be answered from a cache.
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { describeRedis, ensureConnected, openIdentityRedis } from "./redis-client.js";

/** What to drop: one session, every session of an identity, or everything (after missed messages). */
export type SessionRevocation = { readonly sessionId: string } | { readonly identityId: string } | "all";

/** A channel carrying revocations between nodes. */
export interface SessionRevocationChannel {
  /** Tells the other nodes (not this one); resolves once sent or failed (failures are reported, not thrown). */
  publish(revocation: Exclude<SessionRevocation, "all">): Promise<void>;
  /** Calls `listener` for every revocation from another node; returns the unsubscribe function. */
  subscribe(listener: (revocation: SessionRevocation) => void): () => void;
  /** Closes the connections the channel opened. */
  close(): Promise<void>;
}

/** Options of `createRedisSessionRevocations`. */
export interface RedisSessionRevocationsOptions {
  /** A `redis://` URL (the subscriber always gets a connection of its own). */
  readonly url: string;
  /** A client to publish on (left open on close); absent = one of the channel's own. */
  readonly publisher?: Redis;
  /** The pub/sub channel, e.g. `gatehouse:identity:session-revoked`. */
  readonly channel: string;
  /** Called on each failure (publish, subscribe), e.g. to log. */
  readonly onError?: (error: Error) => void;
}

interface Message {
  readonly node: string;
  readonly session?: string;
  readonly identity?: string;
}

/** Revocations over Redis pub/sub. */
export function createRedisSessionRevocations(options: RedisSessionRevocationsOptions): SessionRevocationChannel {
  const node = randomUUID();
  const onError = options.onError ?? (() => {});
  const ownPublisher = options.publisher === undefined;
  const publisher = options.publisher ?? openIdentityRedis(options.url, { commandTimeoutMillis: 1_000 });
  const listeners = new Set<(revocation: SessionRevocation) => void>();
  let closed = false;

  const deliver = (revocation: SessionRevocation): void => {
    for (const listener of listeners) listener(revocation);
  };

  // The subscriber connects now and keeps reconnecting (ioredis subscribes again after each reconnect).
  const subscriber = new Redis(options.url, {
    connectTimeout: 2_000,
    maxRetriesPerRequest: null,
    retryStrategy: (attempt) => Math.min(5_000, 200 * attempt),
  });
  let lastError: string | undefined;
  subscriber.on("error", (err: Error) => {
    // Reported once per distinct failure, not once per reconnection attempt.
    if (err.message === lastError) return;
    lastError = err.message;
    onError(new Error(`session revocations: Redis at ${describeRedis(subscriber)}: ${err.message}`));
  });
  let subscribedBefore = false;
  subscriber.on("ready", () => {
    lastError = undefined;
    // Revocations published while this node was not subscribed are lost: forget everything cached.
    if (subscribedBefore) deliver("all");
    subscribedBefore = true;
  });
  subscriber.on("message", (channel: string, text: string) => {
    if (channel !== options.channel) return;
    let message: Message;
    try {
      message = JSON.parse(text) as Message;
    } catch {
      return;
    }
    if (typeof message !== "object" || message === null || message.node === node) return;
    if (typeof message.session === "string") deliver({ sessionId: message.session });
    else if (typeof message.identity === "string") deliver({ identityId: message.identity });
  });
  subscriber.subscribe(options.channel).catch((err: unknown) => {
    if (!closed) onError(new Error(`session revocations: cannot subscribe to ${options.channel}: ${err instanceof Error ? err.message : String(err)}`));
  });

  return {
    async publish(revocation) {
      if (closed) return;
      const message: Message =
        "sessionId" in revocation ? { node, session: revocation.sessionId } : { node, identity: revocation.identityId };
      try {
        await ensureConnected(publisher);
        await publisher.publish(options.channel, JSON.stringify(message));
      } catch (err) {
        onError(new Error(`session revocations: cannot publish on Redis at ${describeRedis(publisher)}: ${err instanceof Error ? err.message : String(err)}`));
      }
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      if (closed) return;
      closed = true;
      listeners.clear();
      subscriber.disconnect();
      if (ownPublisher) publisher.disconnect();
    },
  };
}
