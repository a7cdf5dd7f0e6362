/**
 * What browser flows add to the self-service flows (Kratos's semantics):
 *
 * - the anti-CSRF cookie (`csrf_token_<hex sha256 of the public base URL>`, HttpOnly, SameSite=Lax, a year),
 *   whose token is echoed in the flow's hidden `csrf_token` node and bound to the flow as a SHA-256 hash only;
 *   a submission must send the token (`csrf_token` field or `X-CSRF-Token` header) matching both the cookie
 *   and the flow, and fetching a browser flow needs the cookie — otherwise 403 `security_csrf_violation` with
 *   Kratos's `details.reject_reason`;
 * - `return_to` only to allowed URLs (400 `self_service_flow_return_to_forbidden` otherwise);
 * - the UI URLs HTML clients are redirected to, and where they go after signing in and out.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { FlowKind, StoredFlow } from "../model.js";
import { hashToken } from "../sessions.js";
import { cookieValue, KratosHttpError } from "../api/http-io.js";
import { CSRF_COOKIE_MAX_AGE_SECONDS, csrfCookieName, secureCookiesFor, serializeCookie } from "./cookies.js";

/** Where browsers are sent; every URL absolute. */
export interface BrowserUrlsOptions {
  /** The login UI; HTML clients land on `<loginUiUrl>?flow=<id>`. Default `<public base>/ui/login` (the built-in page). */
  readonly loginUiUrl?: string;
  /** The registration UI. Default `<public base>/ui/registration`. */
  readonly registrationUiUrl?: string;
  /** Where a browser goes after signing in when no `return_to` was given. Default `<public base>/ui/welcome`. */
  readonly defaultReturnUrl?: string;
  /** Where a browser goes after signing out when no `return_to` was given. Default `<public base>/ui/login`. */
  readonly logoutReturnUrl?: string;
  /**
   * URLs `return_to` may point at: same origin, and a path equal to or under the entry's path. The public base
   * URL is always allowed.
   */
  readonly allowedReturnUrls?: readonly string[];
}

/** Kratos's reasons for a CSRF rejection (`details.reject_reason`). */
export const CSRF_REJECT_REASONS = {
  noCookies: "The HTTP Cookie Header is empty or not set.",
  cookieMissing: "The HTTP Cookie Header was set but did not include the anti-CSRF cookie.",
  tokenNotSent:
    "The anti-CSRF cookie was found but the CSRF token was not included in the HTTP request body (csrf_token) nor in the HTTP Header (X-CSRF-Token).",
  tokenMismatch:
    "The HTTP Cookie Header was set and a CSRF token was sent but they do not match. We recommend deleting all cookies for this domain and retrying the flow.",
} as const;

/** The 403 `security_csrf_violation` answer. */
export function csrfViolation(rejectReason: string): KratosHttpError {
  return new KratosHttpError(
    403,
    "security_csrf_violation",
    "the request was rejected to protect you from Cross-Site-Request-Forgery",
    "Please retry the flow and optionally clear your cookies. The request was rejected to protect you from Cross-Site-Request-Forgery (CSRF) which could cause account takeover, leaking personal information, and other serious security issues.",
    {},
    { reject_reason: rejectReason },
  );
}

/** A fresh CSRF token: 32 random bytes, base64url (43 characters, cookie- and form-safe). */
function newCsrfToken(): string {
  return randomBytes(32).toString("base64url");
}

const CSRF_TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/** Constant-time equality of two hex SHA-256 digests. */
function sameHash(a: string, b: string): boolean {
  const left = Buffer.from(a, "utf8");
  const right = Buffer.from(b, "utf8");
  return left.length === right.length && timingSafeEqual(left, right);
}

/** An allowed return URL, parsed. */
interface AllowedUrl {
  readonly origin: string;
  readonly path: string;
}

function parseAllowed(raw: string): AllowedUrl {
  const url = new URL(raw);
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(`allowed return URL "${raw}" is not http(s)`);
  return { origin: url.origin, path: url.pathname };
}

/** Browser-flow policy: CSRF, cookies, return URLs, UI URLs. */
export class BrowserFlows {
  readonly csrfCookieName: string;
  /** Cookies carry `Secure` (the public base URL is https). */
  readonly secureCookies: boolean;
  readonly loginUiUrl: string;
  readonly registrationUiUrl: string;
  readonly defaultReturnUrl: string;
  readonly logoutReturnUrl: string;
  private readonly allowed: readonly AllowedUrl[];

  constructor(
    readonly publicBaseUrl: string,
    options: BrowserUrlsOptions = {},
  ) {
    this.csrfCookieName = csrfCookieName(publicBaseUrl);
    this.secureCookies = secureCookiesFor(publicBaseUrl);
    this.loginUiUrl = options.loginUiUrl ?? `${publicBaseUrl}/ui/login`;
    this.registrationUiUrl = options.registrationUiUrl ?? `${publicBaseUrl}/ui/registration`;
    this.defaultReturnUrl = options.defaultReturnUrl ?? `${publicBaseUrl}/ui/welcome`;
    this.logoutReturnUrl = options.logoutReturnUrl ?? `${publicBaseUrl}/ui/login`;
    this.allowed = [parseAllowed(publicBaseUrl), ...(options.allowedReturnUrls ?? []).map(parseAllowed)];
  }

  /** Origins a page's forms may post to and be redirected to (for the built-in pages' CSP `form-action`). */
  formOrigins(): string[] {
    const origins = new Set<string>(this.allowed.map((a) => a.origin));
    for (const url of [this.loginUiUrl, this.registrationUiUrl, this.defaultReturnUrl, this.logoutReturnUrl]) {
      try {
        origins.add(new URL(url).origin);
      } catch {
        // An unparsable URL cannot be redirected to either.
      }
    }
    return [...origins];
  }

  /** `<ui url>?flow=<id>` for a flow kind. */
  uiUrl(kind: FlowKind, flowId: string): string {
    const url = new URL(kind === "login" ? this.loginUiUrl : this.registrationUiUrl);
    url.searchParams.set("flow", flowId);
    return url.toString();
  }

  /** The absolute form of `raw` when it is an allowed return URL; undefined otherwise. Relative paths resolve against the public base URL. */
  allowedReturnUrl(raw: string): string | undefined {
    let url: URL;
    try {
      url = new URL(raw, `${this.publicBaseUrl}/`);
    } catch {
      return undefined;
    }
    if ((url.protocol !== "http:" && url.protocol !== "https:") || url.username !== "" || url.password !== "") return undefined;
    for (const entry of this.allowed) {
      if (url.origin !== entry.origin) continue;
      const prefix = entry.path.endsWith("/") ? entry.path : `${entry.path}/`;
      if (entry.path === "/" || url.pathname === entry.path || url.pathname.startsWith(prefix)) return url.toString();
    }
    return undefined;
  }

  /** A `return_to` query value: absent stays undefined; a URL that is not allowed is 400 `self_service_flow_return_to_forbidden`. */
  returnToOf(raw: string | null): string | undefined {
    if (raw === null || raw === "") return undefined;
    const allowed = this.allowedReturnUrl(raw);
    if (allowed === undefined) {
      throw new KratosHttpError(
        400,
        "self_service_flow_return_to_forbidden",
        "The return_to address is not allowed.",
        `Requested return_to URL "${raw}" is not allowed.`,
      );
    }
    return allowed;
  }

  /** The CSRF token in the request's cookie, when it has the shape of one this service issued. */
  private cookieToken(req: IncomingMessage): string | undefined {
    const value = cookieValue(req, this.csrfCookieName);
    return value !== undefined && CSRF_TOKEN_SHAPE.test(value) ? value : undefined;
  }

  /** The `Set-Cookie` value carrying a CSRF token. */
  csrfCookie(token: string): string {
    return serializeCookie(this.csrfCookieName, token, { maxAgeSeconds: CSRF_COOKIE_MAX_AGE_SECONDS, secure: this.secureCookies });
  }

  /**
   * The CSRF token for a new browser flow: the browser's current one (so flows open in several tabs all stay
   * valid), or a new one; with the cookie to (re)set.
   */
  csrfFor(req: IncomingMessage): { token: string; tokenHash: string; cookie: string } {
    const token = this.cookieToken(req) ?? newCsrfToken();
    return { token, tokenHash: hashToken(token), cookie: this.csrfCookie(token) };
  }

  /** A new CSRF token and its cookie (after signing in or out, so a token seen before is worthless). */
  regenerateCsrf(): { token: string; cookie: string } {
    const token = newCsrfToken();
    return { token, cookie: this.csrfCookie(token) };
  }

  /** Why a request has no usable CSRF cookie, or undefined with the token when it has one. */
  private cookieOrReason(req: IncomingMessage): { token: string } | { reason: string } {
    if ((req.headers.cookie ?? "").trim() === "") return { reason: CSRF_REJECT_REASONS.noCookies };
    const token = this.cookieToken(req);
    return token === undefined ? { reason: CSRF_REJECT_REASONS.cookieMissing } : { token };
  }

  /**
   * Fetching a browser flow needs the CSRF cookie bound to it (403 `security_csrf_violation` otherwise).
   * Returns the token, for the flow's hidden `csrf_token` node.
   */
  checkFlowCookie(req: IncomingMessage, flow: StoredFlow): string {
    const found = this.cookieOrReason(req);
    if ("reason" in found) throw csrfViolation(found.reason);
    if (flow.csrfTokenHash === undefined || !sameHash(hashToken(found.token), flow.csrfTokenHash)) {
      throw csrfViolation(CSRF_REJECT_REASONS.tokenMismatch);
    }
    return found.token;
  }

  /**
   * A browser-flow submission must carry the CSRF token (`csrf_token` field or `X-CSRF-Token` header) equal to
   * the cookie's and bound to the flow. Throws 403 `security_csrf_violation`; returns the token.
   */
  checkSubmission(req: IncomingMessage, flow: StoredFlow, body: Readonly<Record<string, unknown>>): string {
    const found = this.cookieOrReason(req);
    if ("reason" in found) throw csrfViolation(found.reason);
    const header = req.headers["x-csrf-token"];
    const field = body["csrf_token"];
    const sent = typeof field === "string" && field !== "" ? field : typeof header === "string" && header !== "" ? header : undefined;
    if (sent === undefined) throw csrfViolation(CSRF_REJECT_REASONS.tokenNotSent);
    const sentHash = hashToken(sent);
    // Both comparisons always run, so the time taken tells nothing about which one failed.
    const matchesCookie = sameHash(sentHash, hashToken(found.token));
    const matchesFlow = flow.csrfTokenHash !== undefined && sameHash(sentHash, flow.csrfTokenHash);
    if (!matchesCookie || !matchesFlow) throw csrfViolation(CSRF_REJECT_REASONS.tokenMismatch);
    return found.token;
  }
}

/**
 * An HTML form sends every field, so a trait left blank arrives as "" — for an optional trait that would store
 * an empty string, and for a required one report a length error instead of "missing". For form posts a blank
 * trait is taken as not given: empty strings (and objects left empty by that) are dropped from `traits`.
 */
export function withoutBlankFormTraits(body: Record<string, unknown>, req: IncomingMessage): Record<string, unknown> {
  const type = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
  const traits = body["traits"];
  if (type !== "application/x-www-form-urlencoded" || traits === null || typeof traits !== "object" || Array.isArray(traits)) return body;
  const prune = (value: Record<string, unknown>): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      if (v === "") continue;
      if (v !== null && typeof v === "object" && !Array.isArray(v)) {
        const inner = prune(v as Record<string, unknown>);
        if (Object.keys(inner).length > 0) out[key] = inner;
      } else out[key] = v;
    }
    return out;
  };
  return { ...body, traits: prune(traits as Record<string, unknown>) };
}
