/**
 * Changelog fan-out through a Redis stream (`<prefix>changelog`): the node that commits a write appends its
 * revision, every node blocks on `XREAD` for new entries. It spares PostgreSQL one listening connection per
 * node and works where LISTEN does not (CockroachDB, PgBouncer in transaction mode). When Redis is down the
 * node says so once, counts it, and relies on PostgreSQL notifications and polling until Redis is back.
 */
import { Redis } from "ioredis";
import type { Revision } from "../store/tuple-store.js";
import type { ChangeSource, ChangeSourceEvents } from "./change-source.js";

/** Options of `createRedisStream`. */
export interface RedisStreamOptions {
  readonly url: string;
  /** Prefix of the stream key, e.g. `gatehouse:` gives `gatehouse:changelog`. */
  readonly keyPrefix: string;
  /** Entries kept in the stream (approximately); readers only need the newest. Default 10,000. */
  readonly maxLength?: number;
  /** How long one `XREAD` blocks before it is re-issued. Default 5,000 ms. */
  readonly blockMillis?: number;
  /** Delay before re-reading after an error. Default 500 ms. */
  readonly retryMillis?: number;
}

/** Counters for metrics. */
export interface RedisStreamStats {
  readonly published: number;
  readonly publishFailures: number;
}

/** The stream's key for a prefix. */
export function changelogStreamKey(keyPrefix: string): string {
  return `${keyPrefix}changelog`;
}

function connection(url: string): Redis {
  return new Redis(url, {
    lazyConnect: true,
    // Fail commands at once while disconnected instead of queueing them: a queued XADD is useless later,
    // and a reader must notice the outage to fall back.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(2_000, 100 * attempt),
  });
}

/** Creates the source; it connects on `start`. */
export function createRedisStream(options: RedisStreamOptions, events: ChangeSourceEvents): ChangeSource & { stats(): RedisStreamStats } {
  const key = changelogStreamKey(options.keyPrefix);
  const maxLength = options.maxLength ?? 10_000;
  const blockMillis = options.blockMillis ?? 5_000;
  const retryMillis = options.retryMillis ?? 500;
  const reader = connection(options.url);
  const writer = connection(options.url);
  let healthy = false;
  let closed = false;
  let published = 0;
  let publishFailures = 0;
  let lastId = "$";

  function setHealthy(value: boolean, reason?: string): void {
    if (healthy === value) return;
    healthy = value;
    events.onStateChange(value, reason);
  }

  // ioredis reports connection problems as "error" events; without listeners Node would throw them.
  reader.on("error", (err: Error) => setHealthy(false, err.message));
  writer.on("error", () => {});
  reader.on("close", () => setHealthy(false, "the connection closed"));

  async function readLoop(): Promise<void> {
    while (!closed) {
      try {
        if (reader.status !== "ready") {
          if (reader.status === "wait" || reader.status === "end") await reader.connect();
          else {
            await sleep(retryMillis);
            continue;
          }
        }
        setHealthy(true);
        const reply = (await reader.xread("BLOCK", blockMillis, "STREAMS", key, lastId)) as
          | [string, [string, string[]][]][]
          | null;
        let newest = 0;
        for (const [, entries] of reply ?? []) {
          for (const [id, fields] of entries) {
            lastId = id;
            const at = fields.indexOf("rev");
            const revision = at >= 0 ? Number(fields[at + 1]) : NaN;
            if (Number.isSafeInteger(revision) && revision > newest) newest = revision;
          }
        }
        if (newest > 0) events.onRevision(newest);
      } catch (err) {
        if (closed) return;
        setHealthy(false, err instanceof Error ? err.message : String(err));
        await sleep(retryMillis);
      }
    }
  }

  return {
    name: "redis",
    get healthy() {
      return healthy;
    },
    start() {
      void readLoop();
      writer.connect().catch(() => {});
    },
    publish(revision: Revision) {
      if (writer.status !== "ready") {
        publishFailures++;
        if (writer.status === "wait" || writer.status === "end") writer.connect().catch(() => {});
        return;
      }
      writer.xadd(key, "MAXLEN", "~", maxLength, "*", "rev", String(revision)).then(
        () => {
          published++;
        },
        () => {
          publishFailures++;
        },
      );
    },
    stats: () => ({ published, publishFailures }),
    async close() {
      closed = true;
      reader.disconnect();
      writer.disconnect();
    },
  };
}

function sleep(millis: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, millis));
}
