/**
 * Browser logout, Kratos's way: `GET /self-service/logout/browser` (with the session cookie) hands out a
 * logout token (`ory_lo_` + 32 alphanumerics) bound to that session and the URL to open with it;
 * `GET /self-service/logout?token=` revokes the session when the token belongs to the session the request
 * presents. Tokens are kept in the flows table as `logout` entries whose id is the token's SHA-256, so the
 * token itself is never stored; an entry lives as long as its session.
 */
import type { IncomingMessage } from "node:http";
import type { Session, StoredFlow } from "../model.js";
import { hashToken, randomToken, type SessionService } from "../sessions.js";
import type { IdentityStore } from "../store/identity-store.js";
import { KratosHttpError } from "../api/http-io.js";
import type { BrowserFlows } from "./browser.js";

/** What a `logout` entry remembers. */
interface LogoutState {
  readonly sessionId: string;
}

/** Kratos's `logoutFlow`. */
export interface LogoutUrlJson {
  readonly logout_url: string;
  readonly logout_token: string;
}

const NO_SESSION = new KratosHttpError(401, "session_inactive", "The request could not be authorized", "No valid session credentials found in the request.");

/** Issues and redeems logout tokens. */
export class LogoutFlows {
  constructor(
    private readonly store: IdentityStore,
    private readonly sessions: SessionService,
    private readonly browser: BrowserFlows,
  ) {}

  /** A logout token for `session`, and the URL that signs the browser out with it (`return_to` already checked). */
  async create(session: Session, returnTo: string | undefined, requestUrl: string): Promise<LogoutUrlJson> {
    const token = randomToken("ory_lo_");
    const entry: StoredFlow = {
      id: hashToken(token),
      kind: "logout",
      type: "browser",
      issuedAt: new Date(),
      expiresAt: session.expiresAt,
      requestUrl,
      returnTo,
      csrfTokenHash: undefined,
      state: { sessionId: session.id } satisfies LogoutState,
    };
    await this.store.saveFlow(entry);
    const url = new URL(`${this.browser.publicBaseUrl}/self-service/logout`);
    url.searchParams.set("token", token);
    if (returnTo !== undefined) url.searchParams.set("return_to", returnTo);
    return { logout_url: url.toString(), logout_token: token };
  }

  /**
   * Signs out: the request must present a session (401 otherwise) and a logout token issued for that very
   * session (403 otherwise; nothing is revoked). Returns where to send the browser.
   */
  async complete(req: IncomingMessage, token: string | null, returnToParam: string | null): Promise<{ location: string }> {
    if (token === null || token === "") {
      throw new KratosHttpError(400, undefined, "The request was malformed or contained invalid parameters", "Please include a token in the URL query.");
    }
    const returnTo = this.browser.returnToOf(returnToParam);
    const current = await this.sessions.authenticate(req);
    if (current === undefined) throw NO_SESSION;
    const entry = await this.store.getFlow(hashToken(token));
    const state = entry?.state as Partial<LogoutState> | undefined;
    if (entry === undefined || entry.kind !== "logout" || entry.expiresAt.getTime() <= Date.now() || state?.sessionId !== current.session.id) {
      throw new KratosHttpError(
        403,
        undefined,
        "The requested action was forbidden",
        "Unable to log out because the logout token in the URL query does not match the session cookie.",
      );
    }
    await this.sessions.revokeSession(current.session);
    await this.store.saveFlow({ ...entry, expiresAt: new Date(0) });
    return { location: returnTo ?? entry.returnTo ?? this.browser.logoutReturnUrl };
  }
}
