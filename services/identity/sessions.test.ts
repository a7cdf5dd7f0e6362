/**
 * The whoami cache of `SessionService`: a cached answer costs the store nothing, every revoke path drops it,
 * it never outlives the session, a lookup racing a revocation does not fill it, and revocations from other
 * nodes (through a `SessionRevocationChannel`) drop it too.
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it, vi } from "vitest";
import type { IdentityWithCredentials, Session } from "./model.js";
import type { SessionRevocation, SessionRevocationChannel } from "./session-revocations.js";
import { hashToken, SessionService, type SessionServiceOptions } from "./sessions.js";
import type { IdentityStore } from "./store/identity-store.js";
import { createMemoryIdentityStore } from "./store/memory-identity-store.js";

function entry(id = randomUUID()): IdentityWithCredentials {
  const t = new Date();
  return {
    identity: {
      id,
      schemaId: "default",
      traits: { email: `${id}@example.org` },
      state: "active",
      stateChangedAt: undefined,
      metadataPublic: undefined,
      metadataAdmin: undefined,
      externalId: undefined,
      verifiableAddresses: [],
      recoveryAddresses: [],
      createdAt: t,
      updatedAt: t,
    },
    credentials: {},
  };
}

async function setUp(options: SessionServiceOptions = {}, store: IdentityStore = createMemoryIdentityStore()) {
  const sessions = new SessionService(store, 3_600_000, options);
  const owner = entry();
  await store.createIdentity(owner);
  const issue = async () => (await sessions.issue(owner.identity.id, "password", "aal1", undefined)).token;
  return { store, sessions, owner, issue };
}

/** Channels linking services in one process, as Redis pub/sub links nodes. */
function linkedChannels(count: number): SessionRevocationChannel[] {
  const listeners: Set<(r: SessionRevocation) => void>[] = Array.from({ length: count }, () => new Set());
  return listeners.map((own, i) => ({
    async publish(revocation) {
      listeners.forEach((set, j) => {
        if (j !== i) for (const l of set) l(revocation);
      });
    },
    subscribe(listener) {
      own.add(listener);
      return () => own.delete(listener);
    },
    async close() {},
  }));
}

describe("whoami cache", () => {
  it("answers a cached session without reading the store", async () => {
    const { store, sessions, issue } = await setUp({ cacheTtlMillis: 60_000 });
    const token = await issue();
    const bySession = vi.spyOn(store, "getSessionByTokenHash");
    const byIdentity = vi.spyOn(store, "getIdentity");
    const first = await sessions.authenticateToken(token);
    expect(first).toBeDefined();
    for (let i = 0; i < 5; i++) expect(await sessions.authenticateToken(token)).toBe(first);
    expect(bySession).toHaveBeenCalledTimes(1);
    expect(byIdentity).toHaveBeenCalledTimes(1);
    expect(sessions.cachedSessions).toBe(1);
  });

  it("reads the store every time with a TTL of 0, and caches no unknown token", async () => {
    const { store, sessions, issue } = await setUp({ cacheTtlMillis: 0 });
    const token = await issue();
    const spy = vi.spyOn(store, "getSessionByTokenHash");
    await sessions.authenticateToken(token);
    await sessions.authenticateToken(token);
    expect(spy).toHaveBeenCalledTimes(2);
    const cached = await setUp({ cacheTtlMillis: 60_000 });
    expect(await cached.sessions.authenticateToken("ory_st_unknown")).toBeUndefined();
    expect(cached.sessions.cachedSessions).toBe(0);
  });

  it("is bounded by entries", async () => {
    const { sessions, issue } = await setUp({ cacheTtlMillis: 60_000, cacheMaxEntries: 3 });
    for (let i = 0; i < 10; i++) await sessions.authenticateToken(await issue());
    expect(sessions.cachedSessions).toBe(3);
  });

  it("forgets a session on every revoke: by token, by session, by id; and on extend shows the new expiry", async () => {
    const { store, sessions, issue } = await setUp({ cacheTtlMillis: 60_000 });
    const [a, b, c, d] = [await issue(), await issue(), await issue(), await issue()];
    for (const t of [a, b, c, d]) expect(await sessions.authenticateToken(t)).toBeDefined();
    expect(await sessions.revokeToken(a)).toBe(true);
    expect(await sessions.authenticateToken(a)).toBeUndefined();
    const bSession = (await sessions.authenticateToken(b))!.session;
    expect(await sessions.revokeSession(bSession)).toBe(true);
    expect(await sessions.authenticateToken(b)).toBeUndefined();
    const cSession = (await sessions.authenticateToken(c))!.session;
    expect(await sessions.revokeSessionById(cSession.id)).toBe(true);
    expect(await sessions.authenticateToken(c)).toBeUndefined();
    // Extend: the cached expiry is dropped with the entry.
    const dSession = (await sessions.authenticateToken(d))!.session;
    await store.updateSession(dSession.id, { expiresAt: new Date(Date.now() + 60_000) });
    expect((await sessions.authenticateToken(d))!.session.expiresAt).toEqual(dSession.expiresAt);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await sessions.extend(dSession.id)).toBe(true);
    expect((await sessions.authenticateToken(d))!.session.expiresAt.getTime()).toBeGreaterThan(dSession.expiresAt.getTime());
  });

  it("forgets every session of an identity (deactivated, deleted, sessions removed)", async () => {
    const { store, sessions, owner, issue } = await setUp({ cacheTtlMillis: 60_000 });
    const tokens = [await issue(), await issue()];
    for (const t of tokens) expect(await sessions.authenticateToken(t)).toBeDefined();
    await store.updateIdentity({ ...owner, identity: { ...owner.identity, state: "inactive" } });
    // Still cached: the store changed behind the service's back.
    expect(await sessions.authenticateToken(tokens[0])).toBeDefined();
    await sessions.forgetIdentity(owner.identity.id);
    for (const t of tokens) expect(await sessions.authenticateToken(t)).toBeUndefined();
    expect(sessions.cachedSessions).toBe(0);
  });

  it("never answers a session past its expiry, however long the TTL", async () => {
    const { store, sessions, owner } = await setUp({ cacheTtlMillis: 60_000 });
    const token = `ory_st_${randomUUID().replace(/-/g, "")}`;
    const now = new Date();
    const session: Session = {
      id: randomUUID(),
      tokenHash: hashToken(token),
      identityId: owner.identity.id,
      active: true,
      expiresAt: new Date(now.getTime() + 150),
      authenticatedAt: now,
      issuedAt: now,
      aal: "aal1",
      methods: [{ method: "password", aal: "aal1", completedAt: now }],
      devices: [],
    };
    await store.createSession(session);
    expect(await sessions.authenticateToken(token)).toBeDefined();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await sessions.authenticateToken(token)).toBeUndefined();
  });

  it("does not cache a lookup that overlapped a revocation (it may have read the state before it)", async () => {
    const inner = createMemoryIdentityStore();
    let release: (() => void) | undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let hold = false;
    const store: IdentityStore = Object.create(inner, {
      getIdentity: {
        value: async (id: string) => {
          const found = await inner.getIdentity(id);
          if (hold) await gate;
          return found;
        },
      },
    }) as IdentityStore;
    const { sessions, issue } = await setUp({ cacheTtlMillis: 60_000 }, store);
    const token = await issue();
    hold = true;
    const racing = sessions.authenticateToken(token);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const session = (await inner.getSessionByTokenHash(hashToken(token)))!;
    await sessions.revokeSessionById(session.id);
    hold = false;
    release!();
    // The racing lookup read the session before it was revoked; it answers, but leaves nothing behind.
    expect(await racing).toBeDefined();
    expect(sessions.cachedSessions).toBe(0);
    expect(await sessions.authenticateToken(token)).toBeUndefined();
  });

  it("drops what other nodes revoke, and everything when told to (missed messages)", async () => {
    const store = createMemoryIdentityStore();
    const [toA, toB] = linkedChannels(2);
    const a = await setUp({ cacheTtlMillis: 60_000, revocations: toA! }, store);
    const b = new SessionService(store, 3_600_000, { cacheTtlMillis: 60_000, revocations: toB! });
    const [t1, t2] = [await a.issue(), await a.issue()];
    expect(await b.authenticateToken(t1)).toBeDefined();
    expect(await b.authenticateToken(t2)).toBeDefined();
    const s1 = (await a.sessions.authenticateToken(t1))!.session;
    await a.sessions.revokeSessionById(s1.id);
    expect(await b.authenticateToken(t1)).toBeUndefined();
    expect(await b.authenticateToken(t2)).toBeDefined();
    await store.deleteSessionsOfIdentity(a.owner.identity.id);
    await a.sessions.forgetIdentity(a.owner.identity.id);
    expect(await b.authenticateToken(t2)).toBeUndefined();

    // "all" (a resubscribed node) clears the cache; a closed service no longer listens.
    const t3 = await a.issue();
    expect(await b.authenticateToken(t3)).toBeDefined();
    expect(b.cachedSessions).toBe(1);
    const listeners: ((r: SessionRevocation) => void)[] = [];
    const c = new SessionService(store, 3_600_000, {
      cacheTtlMillis: 60_000,
      revocations: { publish: async () => {}, subscribe: (l) => (listeners.push(l), () => void listeners.splice(listeners.indexOf(l), 1)), close: async () => {} },
    });
    expect(await c.authenticateToken(t3)).toBeDefined();
    expect(c.cachedSessions).toBe(1);
    for (const l of listeners) l("all");
    expect(c.cachedSessions).toBe(0);
    c.close();
    expect(listeners).toHaveLength(0);
    b.close();
  });
});
