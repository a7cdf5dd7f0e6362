/**
 * Self-service flows (and logout entries) in Redis instead of the SQL or memory store: every node of a
 * cluster finds a flow another node created, and flows cost the database nothing. Identities and sessions
 * stay in the wrapped store.
 *
 * One key per flow, `<keyPrefix>flow:<id>`, holding the flow in the stores' storage form (`codec.ts`, as
 * JSON), so it round-trips exactly as it does in the other stores. The key expires an hour (`graceMillis`)
 * after the flow does: an expired flow must still be found, to answer 410 with a fresh flow id. A flow saved
 * already expired (a used flow is expired on purpose) is kept for the grace from now. Redis removes expired
 * keys itself, so `deleteExpiredFlows` has nothing to do.
 *
 * Redis down: `saveFlow` and `getFlow` fail with `UnavailableError` naming Redis. There is no fallback to the
 * wrapped store: flows silently split across two stores would be found on one request and not the next.
 */
import type { Redis } from "ioredis";
import { UnavailableError } from "../../../common/errors.js";
import type { StoredFlow } from "../model.js";
import { callRedis, openIdentityRedis } from "../redis-client.js";
import { decodeFlow, encodeFlow, type FlowRecord } from "./codec.js";
import type { IdentityStore } from "./identity-store.js";

/** Options of `withRedisFlows`. */
export interface RedisFlowsOptions {
  /** A client (left open on close) or a `redis://` URL to open one (closed with the store). */
  readonly redis: Redis | string;
  /** Prefix of every key, e.g. `gatehouse:identity:`. */
  readonly keyPrefix: string;
  /** How long a key outlives its flow's expiry. Default one hour. */
  readonly graceMillis?: number;
}

/** Default `graceMillis`: an expired flow is still answered with 410 (and a fresh flow) for an hour. */
export const FLOW_GRACE_MILLIS = 3_600_000;

/** `store` with its flows kept in Redis; everything else is delegated to `store`. Closing closes both. */
export function withRedisFlows(store: IdentityStore, options: RedisFlowsOptions): IdentityStore {
  const owned = typeof options.redis === "string";
  const redis = typeof options.redis === "string" ? openIdentityRedis(options.redis) : options.redis;
  const graceMillis = options.graceMillis ?? FLOW_GRACE_MILLIS;
  const key = (id: string): string => `${options.keyPrefix}flow:${id}`;
  let closed = false;

  function checkOpen(): void {
    if (closed) throw new UnavailableError("the identity store is closed");
  }

  /** Redis calls, any failure reported as unavailable (`callRedis`). */
  const call = <T>(what: string, run: () => Promise<T>): Promise<T> => callRedis(redis, what, run);

  return {
    createIdentity: (entry) => store.createIdentity(entry),
    updateIdentity: (entry) => store.updateIdentity(entry),
    deleteCredential: (identityId, type) => store.deleteCredential(identityId, type),
    getIdentity: (id) => store.getIdentity(id),
    getIdentityByExternalId: (externalId) => store.getIdentityByExternalId(externalId),
    findByCredentialIdentifier: (type, identifier) => store.findByCredentialIdentifier(type, identifier),
    listIdentities: (listOptions) => store.listIdentities(listOptions),
    deleteIdentity: (id) => store.deleteIdentity(id),
    createSession: (session) => store.createSession(session),
    getSession: (id) => store.getSession(id),
    getSessionByTokenHash: (tokenHash) => store.getSessionByTokenHash(tokenHash),
    listSessions: (listOptions) => store.listSessions(listOptions),
    updateSession: (id, change) => store.updateSession(id, change),
    deleteSessionsOfIdentity: (identityId) => store.deleteSessionsOfIdentity(identityId),

    async saveFlow(flow: StoredFlow): Promise<void> {
      checkOpen();
      // Validation errors (invalid_argument) come before Redis is asked anything.
      const record = encodeFlow(flow);
      const ttlMillis = Math.max(0, flow.expiresAt.getTime() - Date.now()) + graceMillis;
      await call("save the flow", () => redis.set(key(record.id), JSON.stringify(record), "PX", ttlMillis));
    },

    async getFlow(id: string): Promise<StoredFlow | undefined> {
      checkOpen();
      const text = await call("read the flow", () => redis.get(key(id)));
      if (text === null) return undefined;
      return decodeFlow(JSON.parse(text) as FlowRecord);
    },

    async deleteExpiredFlows(): Promise<number> {
      checkOpen();
      // Redis expires the keys.
      return 0;
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      if (owned) redis.disconnect();
      await store.close();
    },
  };
}
