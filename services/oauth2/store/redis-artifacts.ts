/**
 * The short-lived oidc-provider artifacts (codes, interactions, sessions, replay-detection entries...) in
 * Redis instead of the SQL or memory store: every node of a cluster finds what another node wrote, they cost
 * the database nothing, and Redis expires them itself. Tokens, grants, clients, consents and keys stay in the
 * wrapped store.
 *
 * Layout under `keyPrefix`:
 * - `artifact:<model>:<id>`: a hash with the payload's JSON text (`p`, exactly as given), its expiry in epoch
 *   milliseconds (`e`, "" = never), when it was consumed (`c`, epoch seconds), its id (`i`) and the names of
 *   its index keys (`u`, `d`, `g`, `a`). The key expires `graceMillis` after the artifact does; reads treat it
 *   as absent from its expiry on.
 * - `uid:<model>:<uid>` and `usercode:<model>:<userCode>`: the id of the record holding that value (checked
 *   against the record on read, so a stale entry finds nothing).
 * - `grant:<grantId>`: the set of artifact keys of a grant, for `revokeByGrantId`, and
 *   `account:<model>:<accountId>`, those of a model and subject, for `destroyByAccountId`; a set lives as long
 *   as its longest-lived member.
 *
 * Writes, `consume`, `destroy` and revocation are Lua scripts, so each is atomic: of concurrent consumers
 * exactly one sets `c`. The scripts touch the index keys they read from the records, so all keys under one
 * prefix must live on one Redis node: with Redis Cluster, put a hash tag in the prefix (`gatehouse:{oauth2}:`).
 *
 * Redis down: every call that needs it fails with `UnavailableError` naming Redis. There is no fallback to
 * the wrapped store: artifacts silently split across two stores would be found on one request and not the
 * next (and a consumed code could be redeemed twice).
 */
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import { UnavailableError } from "../../../common/errors.js";
import { callRedis, openIdentityRedis } from "../../identity/redis-client.js";
import { checkExpiresIn, decodeArtifact, encodeArtifact, epochSeconds, storable } from "./codec.js";
import type { ArtifactPayload, OAuth2Store } from "./oauth2-store.js";

/** The oidc-provider models kept in Redis unless `models` says otherwise. */
export const DEFAULT_REDIS_MODELS: readonly string[] = [
  "AuthorizationCode",
  "DeviceCode",
  "Interaction",
  "Session",
  "ReplayDetection",
  "PushedAuthorizationRequest",
  "BackchannelAuthenticationRequest",
];

/** Default `graceMillis`: how long a key outlives its artifact (covers clock skew between nodes). */
export const ARTIFACT_GRACE_MILLIS = 10_000;

/** Options of `withRedisArtifacts`. */
export interface RedisArtifactsOptions {
  /** A client (left open on close) or a `redis://` URL to open one (closed with the store). */
  readonly redis: Redis | string;
  /** Prefix of every key, e.g. `gatehouse:oauth2:`. */
  readonly keyPrefix: string;
  /** The models kept in Redis; default `DEFAULT_REDIS_MODELS`. */
  readonly models?: readonly string[];
  /** How long a key outlives its artifact's expiry; default `ARTIFACT_GRACE_MILLIS`. */
  readonly graceMillis?: number;
}

interface LuaScript {
  readonly source: string;
  readonly sha: string;
}

function lua(source: string): LuaScript {
  return { source, sha: createHash("sha1").update(source).digest("hex") };
}

/** Removes a record's index entries (those still pointing at it); shared by the scripts below. */
const UNINDEX = `
local function unindex(rec)
  local f = redis.call('HMGET', rec, 'i', 'u', 'd', 'g', 'a')
  if f[1] then
    for j = 2, 3 do
      if f[j] and redis.call('GET', f[j]) == f[1] then redis.call('DEL', f[j]) end
    end
  end
  for j = 4, 5 do
    if f[j] then redis.call('SREM', f[j], rec) end
  end
end
`;

/**
 * KEYS[1] the record. ARGV: id, payload, expiry (ms, "" = never), consumed ("" = not), key TTL (ms, 0 = none),
 * uid index key, user-code index key, grant set key, account set key ("" = none).
 */
const UPSERT = lua(`${UNINDEX}
local rec = KEYS[1]
local ttl = tonumber(ARGV[5])
unindex(rec)
redis.call('DEL', rec)
redis.call('HSET', rec, 'i', ARGV[1], 'p', ARGV[2], 'e', ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', rec, 'c', ARGV[4]) end
if ttl > 0 then redis.call('PEXPIRE', rec, ttl) end
local fields = { 'u', 'd' }
for j = 1, 2 do
  local key = ARGV[5 + j]
  if key ~= '' then
    redis.call('HSET', rec, fields[j], key)
    if ttl > 0 then redis.call('SET', key, ARGV[1], 'PX', ttl) else redis.call('SET', key, ARGV[1]) end
  end
end
local sets = { 'g', 'a' }
for j = 1, 2 do
  local set = ARGV[7 + j]
  if set ~= '' then
    redis.call('HSET', rec, sets[j], set)
    local existed = redis.call('EXISTS', set) == 1
    redis.call('SADD', set, rec)
    if ttl == 0 then
      redis.call('PERSIST', set)
    else
      local current = redis.call('PTTL', set)
      if not existed or (current >= 0 and current < ttl) then redis.call('PEXPIRE', set, ttl) end
    end
  end
end
return 1
`);

/** KEYS[1] the record. ARGV: now (ms), now (epoch seconds). 1 when this call consumed it. */
const CONSUME = lua(`
local e = redis.call('HGET', KEYS[1], 'e')
if not e then return 0 end
if e ~= '' and tonumber(e) <= tonumber(ARGV[1]) then return 0 end
return redis.call('HSETNX', KEYS[1], 'c', ARGV[2])
`);

/** KEYS[1] the record. */
const DESTROY = lua(`${UNINDEX}
unindex(KEYS[1])
return redis.call('DEL', KEYS[1])
`);

/** KEYS[1] the grant set. Deletes its records and itself; returns how many records it listed. */
const REVOKE = lua(`${UNINDEX}
local members = redis.call('SMEMBERS', KEYS[1])
for _, rec in ipairs(members) do
  unindex(rec)
  redis.call('DEL', rec)
end
redis.call('DEL', KEYS[1])
return #members
`);

/** KEYS[1] an account set. ARGV: now (ms). Deletes its records and itself; returns how many were unexpired. */
const DESTROY_BY_ACCOUNT = lua(`${UNINDEX}
local members = redis.call('SMEMBERS', KEYS[1])
local live = 0
for _, rec in ipairs(members) do
  local e = redis.call('HGET', rec, 'e')
  if e and (e == '' or tonumber(e) > tonumber(ARGV[1])) then live = live + 1 end
  unindex(rec)
  redis.call('DEL', rec)
end
redis.call('DEL', KEYS[1])
return live
`);

/** `store` with the short-lived models kept in Redis; everything else is delegated to `store`. Closing closes both. */
export function withRedisArtifacts(store: OAuth2Store, options: RedisArtifactsOptions): OAuth2Store {
  const owned = typeof options.redis === "string";
  const redis = typeof options.redis === "string" ? openIdentityRedis(options.redis) : options.redis;
  const models = new Set(options.models ?? DEFAULT_REDIS_MODELS);
  const graceMillis = options.graceMillis ?? ARTIFACT_GRACE_MILLIS;
  const prefix = options.keyPrefix;
  const recordKey = (model: string, id: string): string => `${prefix}artifact:${model}:${id}`;
  const uidKey = (model: string, uid: string): string => `${prefix}uid:${model}:${uid}`;
  const userCodeKey = (model: string, userCode: string): string => `${prefix}usercode:${model}:${userCode}`;
  const grantKey = (grantId: string): string => `${prefix}grant:${grantId}`;
  const accountKey = (model: string, accountId: string): string => `${prefix}account:${model}:${accountId}`;
  let closed = false;

  function checkOpen(): void {
    if (closed) throw new UnavailableError("the OAuth2 store is closed");
  }

  /** Redis calls, any failure reported as unavailable (`callRedis`). */
  const call = <T>(what: string, run: () => Promise<T>): Promise<T> => callRedis(redis, what, run);

  /** Runs a script by its hash, sending the source once when Redis does not know it yet. */
  async function runScript(script: LuaScript, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await redis.evalsha(script.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith("NOSCRIPT")) throw err;
      return redis.eval(script.source, keys.length, ...keys, ...args);
    }
  }

  /** The live payload under a record key, or undefined. */
  async function read(key: string): Promise<ArtifactPayload | undefined> {
    const [payload, expiresAt, consumed] = await redis.hmget(key, "p", "e", "c");
    if (payload === null || payload === undefined) return undefined;
    if (expiresAt !== null && expiresAt !== undefined && expiresAt !== "" && Number(expiresAt) <= Date.now()) return undefined;
    return decodeArtifact(payload, consumed === null || consumed === undefined ? null : Number(consumed));
  }

  /** The record an index key points to, if it still holds `value` in `field`. */
  async function findIndexed(
    model: string,
    indexKey: string,
    field: "uid" | "userCode",
    value: string,
  ): Promise<ArtifactPayload | undefined> {
    return call(`read the ${model}`, async () => {
      const id = await redis.get(indexKey);
      if (id === null) return undefined;
      const payload = await read(recordKey(model, id));
      return payload !== undefined && payload[field] === value ? payload : undefined;
    });
  }

  return {
    async upsert(model, id, payload, expiresInSeconds) {
      checkOpen();
      if (!models.has(model)) return store.upsert(model, id, payload, expiresInSeconds);
      // Validation errors (invalid_argument) come before Redis is asked anything.
      const r = encodeArtifact(model, id, payload);
      const expiresIn = checkExpiresIn(expiresInSeconds);
      const now = Date.now();
      const expiresAt = expiresIn === undefined ? "" : String(Math.round(now + expiresIn * 1000));
      const ttl = expiresIn === undefined ? 0 : Math.max(0, Math.round(expiresIn * 1000)) + graceMillis;
      await call(`save the ${model}`, () =>
        runScript(
          UPSERT,
          [recordKey(r.model, r.id)],
          [
            r.id,
            r.payload,
            expiresAt,
            r.consumed === null ? "" : String(r.consumed),
            ttl,
            r.uid === null ? "" : uidKey(r.model, r.uid),
            r.userCode === null ? "" : userCodeKey(r.model, r.userCode),
            r.grantId === null ? "" : grantKey(r.grantId),
            r.accountId === null ? "" : accountKey(r.model, r.accountId),
          ],
        ),
      );
    },

    async find(model, id) {
      checkOpen();
      if (!models.has(model)) return store.find(model, id);
      if (!storable(model, id)) return undefined;
      return call(`read the ${model}`, () => read(recordKey(model, id)));
    },

    async findByUid(model, uid) {
      checkOpen();
      if (!models.has(model)) return store.findByUid(model, uid);
      if (!storable(model, uid)) return undefined;
      return findIndexed(model, uidKey(model, uid), "uid", uid);
    },

    async findByUserCode(model, userCode) {
      checkOpen();
      if (!models.has(model)) return store.findByUserCode(model, userCode);
      if (!storable(model, userCode)) return undefined;
      return findIndexed(model, userCodeKey(model, userCode), "userCode", userCode);
    },

    async consume(model, id) {
      checkOpen();
      if (!models.has(model)) return store.consume(model, id);
      if (!storable(model, id)) return false;
      const now = Date.now();
      const result = await call(`consume the ${model}`, () => runScript(CONSUME, [recordKey(model, id)], [now, epochSeconds(now)]));
      return result === 1;
    },

    async destroy(model, id) {
      checkOpen();
      if (!models.has(model)) return store.destroy(model, id);
      if (!storable(model, id)) return;
      await call(`delete the ${model}`, () => runScript(DESTROY, [recordKey(model, id)], []));
    },

    async revokeByGrantId(grantId) {
      checkOpen();
      if (storable(grantId)) await call("revoke the grant's artifacts", () => runScript(REVOKE, [grantKey(grantId)], []));
      await store.revokeByGrantId(grantId);
    },

    async destroyByAccountId(model, accountId) {
      checkOpen();
      if (!models.has(model)) return store.destroyByAccountId(model, accountId);
      if (!storable(model, accountId)) return 0;
      const result = await call(`delete the ${model} records of the account`, () =>
        runScript(DESTROY_BY_ACCOUNT, [accountKey(model, accountId)], [Date.now()]),
      );
      return Number(result);
    },

    // Redis expires its keys itself.
    deleteExpired: (before) => store.deleteExpired(before),

    createClient: (client) => store.createClient(client),
    updateClient: (client) => store.updateClient(client),
    getClient: (clientId) => store.getClient(clientId),
    listClients: (listOptions) => store.listClients(listOptions),
    deleteClient: (clientId) => store.deleteClient(clientId),
    putConsent: (record) => store.putConsent(record),
    findRememberedConsent: (subject, clientId) => store.findRememberedConsent(subject, clientId),
    listConsents: (subject, listOptions) => store.listConsents(subject, listOptions),
    deleteConsents: (subject, clientId) => store.deleteConsents(subject, clientId),
    addKey: (key) => store.addKey(key),
    listKeys: (set) => store.listKeys(set),
    deleteKeys: (set, kid) => store.deleteKeys(set, kid),
    keysVersion: () => store.keysVersion(),

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      if (owned) redis.disconnect();
      await store.close();
    },
  };
}
