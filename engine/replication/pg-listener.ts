/**
 * Follows the store's head through PostgreSQL `LISTEN`: every write notifies its revision on commit (see
 * `SqlStoreOptions.notifyChannel`). One dedicated connection per node, reconnected with backoff after the
 * server restarts; while it is down the node falls back to polling, and after it reconnects the node catches
 * up once (notifications sent meanwhile were lost).
 */
import pg from "pg";
import type { ChangeSource, ChangeSourceEvents } from "./change-source.js";

/** Options of `createPgListener`. */
export interface PgListenerOptions {
  readonly connectionString: string;
  /** The channel writes notify (`CHANGELOG_CHANNEL`). */
  readonly channel: string;
  /** First reconnect delay; doubles up to `maxBackoffMillis`. Default 250. */
  readonly minBackoffMillis?: number;
  /** Default 5,000. */
  readonly maxBackoffMillis?: number;
}

/** Creates the listener; it connects on `start`. */
export function createPgListener(options: PgListenerOptions, events: ChangeSourceEvents): ChangeSource {
  if (!/^[a-z_][a-z0-9_]*$/.test(options.channel)) throw new Error(`channel must be a lower-case SQL identifier, got "${options.channel}"`);
  const minBackoff = options.minBackoffMillis ?? 250;
  const maxBackoff = options.maxBackoffMillis ?? 5_000;
  let client: pg.Client | undefined;
  let healthy = false;
  let closed = false;
  let backoff = minBackoff;
  let retry: NodeJS.Timeout | undefined;

  function setHealthy(value: boolean, reason?: string): void {
    if (healthy === value) return;
    healthy = value;
    events.onStateChange(value, reason);
  }

  function scheduleReconnect(reason: string): void {
    setHealthy(false, reason);
    if (closed || retry !== undefined) return;
    retry = setTimeout(() => {
      retry = undefined;
      void connect();
    }, backoff);
    backoff = Math.min(maxBackoff, backoff * 2);
  }

  async function connect(): Promise<void> {
    if (closed) return;
    const c = new pg.Client({ connectionString: options.connectionString, connectionTimeoutMillis: 5_000, keepAlive: true });
    client = c;
    let failed = false;
    const fail = (why: string): void => {
      if (failed) return;
      failed = true;
      c.removeAllListeners("notification");
      c.end().catch(() => {});
      if (client === c) client = undefined;
      scheduleReconnect(why);
    };
    // A dropped connection emits "error" and/or "end"; either means: listen again on a new one.
    c.on("error", (err: Error) => fail(err.message));
    c.on("end", () => fail("the connection ended"));
    c.on("notification", (message) => {
      const revision = Number(message.payload);
      if (Number.isSafeInteger(revision) && revision > 0) events.onRevision(revision);
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${options.channel}`);
    } catch (err) {
      fail(err instanceof Error ? err.message : String(err));
      return;
    }
    if (closed) {
      await c.end().catch(() => {});
      return;
    }
    backoff = minBackoff;
    setHealthy(true);
  }

  return {
    name: "postgres",
    get healthy() {
      return healthy;
    },
    start() {
      void connect();
    },
    async close() {
      closed = true;
      clearTimeout(retry);
      const c = client;
      client = undefined;
      if (c !== undefined) {
        c.removeAllListeners();
        c.on("error", () => {});
        await c.end().catch(() => {});
      }
    },
  };
}
