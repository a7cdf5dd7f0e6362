/**
 * Sessions: issuing (an `ory_st_` token, only its SHA-256 stored), finding the caller's session from a
 * request (`X-Session-Token`, `Authorization: Bearer`, or the `ory_kratos_session` cookie, which holds the
 * same token), revoking, and the session cookie browsers get.
 *
 * The whoami cache: `authenticateToken` keeps what it found (session and identity, by token hash) for a short
 * TTL (5 s by default; never past the session's expiry), so a busy client's whoami calls cost the store one
 * read per TTL. Whatever revokes or changes a session or identity calls `forgetSession` / `forgetIdentity`
 * after the store change: the entries go at once on this node, and, with a `SessionRevocationChannel`, on the
 * others when the message arrives. A lookup that overlapped such a change does not fill the cache (it may
 * have read the state before the change). When the channel fails, other nodes may answer a revoked session
 * from their cache until its TTL runs out, never longer.
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { LRUCache } from "lru-cache";
import type { Aal, CredentialType, IdentityWithCredentials, Session } from "./model.js";
import type { IdentityStore } from "./store/identity-store.js";
import { cookieValue } from "./api/http-io.js";
import { serializeCookie } from "./flows/cookies.js";
import type { SessionRevocation, SessionRevocationChannel } from "./session-revocations.js";

/** Kratos's session cookie name. */
export const SESSION_COOKIE = "ory_kratos_session";

/**
 * The `Set-Cookie` value carrying a session token to a browser: HttpOnly, SameSite=Lax, Path=/, Secure on
 * https, and kept until the session expires (Kratos's persistent cookie).
 */
export function sessionCookie(token: string, expiresAt: Date, secure: boolean): string {
  return serializeCookie(SESSION_COOKIE, token, { maxAgeSeconds: (expiresAt.getTime() - Date.now()) / 1000, secure });
}

/** The `Set-Cookie` value that removes the session cookie. */
export function clearedSessionCookie(secure: boolean): string {
  return serializeCookie(SESSION_COOKIE, "", { maxAgeSeconds: 0, secure });
}

const ALPHANUMERIC = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** `prefix` + 32 random alphanumerics (Kratos's token format), without modulo bias. */
export function randomToken(prefix: string, length = 32): string {
  let out = prefix;
  while (out.length < prefix.length + length) {
    for (const byte of randomBytes(48)) {
      // 248 = 62 * 4: bytes at or above it would favour the first characters.
      if (byte < 248 && out.length < prefix.length + length) out += ALPHANUMERIC[byte % 62];
    }
  }
  return out;
}

/** Hex SHA-256 of a token: what is stored and looked up, so a database leak leaks no usable token. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** The caller's session and identity. */
export interface Authenticated {
  readonly session: Session;
  readonly entry: IdentityWithCredentials;
  /** The presented token (to tell the current session apart when listing). */
  readonly tokenHash: string;
}

/** Default TTL of a whoami cache entry. */
export const DEFAULT_SESSION_CACHE_TTL_MILLIS = 5_000;
/** Default bound on whoami cache entries. */
export const DEFAULT_SESSION_CACHE_MAX_ENTRIES = 10_000;

/** Options of `SessionService`. */
export interface SessionServiceOptions {
  /** How long a whoami answer is reused; 0 disables the cache. Default 5,000 ms. */
  readonly cacheTtlMillis?: number;
  /** Most cached sessions (least recently used go first). Default 10,000. */
  readonly cacheMaxEntries?: number;
  /** Carries revocations to and from the other nodes. */
  readonly revocations?: SessionRevocationChannel;
}

/** Issues, finds and revokes sessions. */
export class SessionService {
  readonly #cache: LRUCache<string, Authenticated> | undefined;
  readonly #revocations: SessionRevocationChannel | undefined;
  readonly #unsubscribe: () => void;
  /** Bumped by every eviction: a lookup that saw it change does not fill the cache. */
  #generation = 0;

  constructor(
    private readonly store: IdentityStore,
    private readonly lifespanMillis: number,
    options: SessionServiceOptions = {},
  ) {
    const ttl = options.cacheTtlMillis ?? DEFAULT_SESSION_CACHE_TTL_MILLIS;
    if (!Number.isSafeInteger(ttl) || ttl < 0) throw new RangeError(`cacheTtlMillis must be an integer >= 0, got ${ttl}`);
    const max = options.cacheMaxEntries ?? DEFAULT_SESSION_CACHE_MAX_ENTRIES;
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError(`cacheMaxEntries must be an integer >= 1, got ${max}`);
    this.#cache = ttl === 0 ? undefined : new LRUCache<string, Authenticated>({ max, ttl });
    this.#revocations = options.revocations;
    this.#unsubscribe = this.#revocations?.subscribe((revocation) => this.#evict(revocation)) ?? (() => {});
  }

  /** Stops listening to other nodes' revocations (the channel itself is its owner's to close). */
  close(): void {
    this.#unsubscribe();
    this.#cache?.clear();
  }

  /** Entries cached now (stale ones included until they are purged). */
  get cachedSessions(): number {
    return this.#cache?.size ?? 0;
  }

  /**
   * Drops a session from the whoami caches, here and (with a revocation channel) on the other nodes. Call it
   * after every store change to a session (revoked, extended, deleted).
   */
  async forgetSession(sessionId: string): Promise<void> {
    this.#evict({ sessionId });
    await this.#revocations?.publish({ sessionId });
  }

  /** Drops every session of an identity from the caches (identity changed, deactivated or deleted; sessions revoked in bulk). */
  async forgetIdentity(identityId: string): Promise<void> {
    this.#evict({ identityId });
    await this.#revocations?.publish({ identityId });
  }

  #evict(revocation: SessionRevocation): void {
    this.#generation++;
    const cache = this.#cache;
    if (cache === undefined) return;
    if (revocation === "all") {
      cache.clear();
      return;
    }
    const matches =
      "sessionId" in revocation
        ? (a: Authenticated) => a.session.id === revocation.sessionId
        : (a: Authenticated) => a.session.identityId === revocation.identityId;
    const keys: string[] = [];
    for (const [key, value] of cache.entries()) if (matches(value)) keys.push(key);
    for (const key of keys) cache.delete(key);
  }

  /** A new session for an identity that just proved `method`. */
  async issue(identityId: string, method: CredentialType, aal: Aal, req: IncomingMessage | undefined): Promise<{ session: Session; token: string }> {
    const token = randomToken("ory_st_");
    const now = new Date();
    const session: Session = {
      id: randomUUID(),
      tokenHash: hashToken(token),
      identityId,
      active: true,
      expiresAt: new Date(now.getTime() + this.lifespanMillis),
      authenticatedAt: now,
      issuedAt: now,
      aal,
      methods: [{ method, aal, completedAt: now }],
      devices:
        req === undefined
          ? []
          : [{ id: randomUUID(), ipAddress: req.socket.remoteAddress, userAgent: req.headers["user-agent"], location: undefined }],
    };
    await this.store.createSession(session);
    return { session, token };
  }

  /** The token a request presents: header first, then the bearer, then the cookie. */
  static tokenOf(req: IncomingMessage): string | undefined {
    const header = req.headers["x-session-token"];
    if (typeof header === "string" && header !== "") return header;
    const auth = req.headers.authorization;
    if (auth !== undefined) {
      const match = /^Bearer\s+(.+)$/i.exec(auth);
      if (match?.[1] !== undefined) return match[1].trim();
    }
    return cookieValue(req, SESSION_COOKIE);
  }

  /** The active session behind a token, with its identity; undefined when none is valid. */
  async authenticateToken(token: string | undefined): Promise<Authenticated | undefined> {
    if (token === undefined || token === "") return undefined;
    const tokenHash = hashToken(token);
    const cache = this.#cache;
    const cached = cache?.get(tokenHash);
    if (cached !== undefined) {
      if (cached.session.expiresAt.getTime() > Date.now()) return cached;
      cache?.delete(tokenHash);
    }
    const generation = this.#generation;
    const session = await this.store.getSessionByTokenHash(tokenHash);
    if (session === undefined || !session.active || session.expiresAt.getTime() <= Date.now()) return undefined;
    const entry = await this.store.getIdentity(session.identityId);
    if (entry === undefined || entry.identity.state !== "active") return undefined;
    const found: Authenticated = { session, entry, tokenHash };
    if (cache !== undefined && generation === this.#generation) {
      // Never past the session's expiry.
      const left = session.expiresAt.getTime() - Date.now();
      if (left > 0) cache.set(tokenHash, found, { ttl: Math.min(cache.ttl, left) });
    }
    return found;
  }

  /** The caller's session, from whatever the request presents. */
  authenticate(req: IncomingMessage): Promise<Authenticated | undefined> {
    return this.authenticateToken(SessionService.tokenOf(req));
  }

  /** Disables the session behind a token; false when there was none active. */
  async revokeToken(token: string): Promise<boolean> {
    const session = await this.store.getSessionByTokenHash(hashToken(token));
    if (session === undefined || !session.active) return false;
    return this.revokeSession(session);
  }

  /** Disables a session; false when it was not active. */
  async revokeSession(session: Session): Promise<boolean> {
    if (!session.active) return false;
    return this.revokeSessionById(session.id);
  }

  /** Disables a session by id; false when there is no such session. */
  async revokeSessionById(id: string): Promise<boolean> {
    const updated = await this.store.updateSession(id, { active: false });
    await this.forgetSession(id);
    return updated;
  }

  /** True when the request presents its session through the cookie (not a header): only then is the cookie refreshed. */
  static usesCookie(req: IncomingMessage): boolean {
    const header = req.headers["x-session-token"];
    if (typeof header === "string" && header !== "") return false;
    if (req.headers.authorization !== undefined && /^Bearer\s+\S/i.test(req.headers.authorization)) return false;
    return cookieValue(req, SESSION_COOKIE) !== undefined;
  }

  /** Extends a session to now + lifespan (Kratos's admin extend). */
  async extend(id: string): Promise<boolean> {
    const updated = await this.store.updateSession(id, { expiresAt: new Date(Date.now() + this.lifespanMillis) });
    await this.forgetSession(id);
    return updated;
  }
}
