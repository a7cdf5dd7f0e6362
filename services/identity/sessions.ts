/**
 * Sessions: issuing (an `ory_st_` token, only its SHA-256 stored), finding the caller's session from a
 * request (`X-Session-Token`, `Authorization: Bearer`, or the `ory_kratos_session` cookie, which holds the
 * same token), revoking, and the session cookie browsers get.
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Aal, CredentialType, IdentityWithCredentials, Session } from "./model.js";
import type { IdentityStore } from "./store/identity-store.js";
import { cookieValue } from "./api/http-io.js";
import { serializeCookie } from "./flows/cookies.js";

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

/** Issues, finds and revokes sessions. */
export class SessionService {
  constructor(
    private readonly store: IdentityStore,
    private readonly lifespanMillis: number,
  ) {}

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
    const session = await this.store.getSessionByTokenHash(tokenHash);
    if (session === undefined || !session.active || session.expiresAt.getTime() <= Date.now()) return undefined;
    const entry = await this.store.getIdentity(session.identityId);
    if (entry === undefined || entry.identity.state !== "active") return undefined;
    return { session, entry, tokenHash };
  }

  /** The caller's session, from whatever the request presents. */
  authenticate(req: IncomingMessage): Promise<Authenticated | undefined> {
    return this.authenticateToken(SessionService.tokenOf(req));
  }

  /** Disables the session behind a token; false when there was none active. */
  async revokeToken(token: string): Promise<boolean> {
    const session = await this.store.getSessionByTokenHash(hashToken(token));
    if (session === undefined || !session.active) return false;
    return this.store.updateSession(session.id, { active: false });
  }

  /** Disables a session by id; false when it was not active. */
  async revokeSession(session: Session): Promise<boolean> {
    if (!session.active) return false;
    return this.store.updateSession(session.id, { active: false });
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
    return this.store.updateSession(id, { expiresAt: new Date(Date.now() + this.lifespanMillis) });
  }
}
