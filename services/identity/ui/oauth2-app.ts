/**
 * The built-in login, consent and logout app of the OAuth2 service (the default `urls.login`, `urls.consent`
 * and `urls.logout`), served on the identity public plane over the identity session:
 *
 * - `GET /ui/oauth2/login?login_challenge=`: a browser with an identity session is signed in to the OAuth2
 *   request at once (subject = identity id, acr = the session's AAL, amr = its methods); without one — or when
 *   the request asks for a fresh login (`prompt=login`, an exceeded `max_age`) — it goes through the built-in
 *   sign-in page `/ui/login` (`refresh=true` for a fresh login) and comes back here;
 * - `GET /ui/oauth2/consent?consent_challenge=`: the client and the scopes it asks for, each a checkbox, and
 *   "Remember this decision"; `POST /ui/oauth2/consent` grants the checked scopes or denies;
 * - `GET /ui/oauth2/logout?logout_challenge=`: "Sign out of <client>?"; `POST /ui/oauth2/logout` signs out of
 *   the OAuth2 session and the identity session, or keeps both. Without an identity session the logout is
 *   accepted at once (there is nothing of the user's to protect).
 *
 * The forms carry a CSRF token that needs no server-side state: base64url(HMAC-SHA256(key = the SHA-256 of
 * the session token, "<purpose>\0<challenge>")). It is the same on every node, and cannot be made without the
 * session cookie.
 *
 * Chrome applies a page's CSP `form-action` to every redirect that follows a form post. The consent and logout
 * pages therefore allow the OAuth2 issuer's origin (and the client's redirect URI's); the built-in sign-in
 * page does not know them, so the way back from it (marked `after_login=1`) ends in a short page that moves on
 * with a `Refresh` header instead of a redirect that would continue the post's chain.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { readBody } from "../../../gateways/keto/rest-io.js";
import { OAuth2HttpError } from "../../oauth2/api/http-io.js";
import type { ConsentRequest, LogoutRequest } from "../../oauth2/flows/login-consent.js";
import { KratosHttpError, MAX_BODY_BYTES } from "../api/http-io.js";
import { csrfViolation, type BrowserFlows } from "../flows/browser.js";
import type { AuthenticationMethod, CredentialType, IdentityWithCredentials, Session } from "../model.js";
import type { OAuth2BridgeRef, OAuth2LoginBridge } from "../oauth2-bridge.js";
import { clearedSessionCookie, type SessionService } from "../sessions.js";
import { escapeHtml, renderPage, sendErrorPage, sendHtml } from "./html.js";
import { redirect } from "./pages.js";

/** What the app works with. */
export interface OAuth2AppOptions {
  /** The OAuth2 service's login/consent/logout requests; unset = no OAuth2 service here (the routes answer 404). */
  readonly bridge: OAuth2BridgeRef;
  readonly sessions: SessionService;
  readonly browser: BrowserFlows;
  /** Milliseconds since the epoch (tests). */
  readonly now?: () => number;
}

type AppRoute = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>;

/** Marks the way back from the sign-in page (see the module comment). */
const AFTER_LOGIN_PARAM = "after_login";

/**
 * A login at most this old counts as fresh for `prompt=login` and `max_age` (it is what the user just did on
 * the sign-in page this app sent them to; clock differences between nodes are allowed for).
 */
export const FRESH_LOGIN_MILLIS = 60_000;

/** What a form token protects. */
export type FormPurpose = "consent" | "logout";

/** The CSRF token of a consent or logout form: base64url(HMAC-SHA256(SHA-256 of the session token, "<purpose>\0<challenge>")). */
export function formToken(sessionTokenHash: string, purpose: FormPurpose, challenge: string): string {
  return createHmac("sha256", Buffer.from(sessionTokenHash, "hex")).update(`${purpose}\0${challenge}`, "utf8").digest("base64url");
}

/** True when `sent` is the form token for this session, purpose and challenge (compared in constant time). */
export function verifyFormToken(sessionTokenHash: string, purpose: FormPurpose, challenge: string, sent: string | null | undefined): boolean {
  if (typeof sent !== "string" || sent === "") return false;
  const expected = Buffer.from(formToken(sessionTokenHash, purpose, challenge), "utf8");
  const given = Buffer.from(sent, "utf8");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * True when the OAuth2 request wants a fresher login than the session's: `prompt=login`, or a `max_age` the
 * session is older than. A login within the last `FRESH_LOGIN_MILLIS` always satisfies it (else the user
 * would be sent to sign in again and again).
 */
export function needsFreshLogin(requestUrl: string, authenticatedAt: Date, now: number): boolean {
  const age = now - authenticatedAt.getTime();
  if (age <= FRESH_LOGIN_MILLIS) return false;
  let params: URLSearchParams;
  try {
    params = new URL(requestUrl).searchParams;
  } catch {
    return false;
  }
  if ((params.get("prompt") ?? "").split(" ").includes("login")) return true;
  const maxAge = params.get("max_age");
  if (maxAge === null || !/^\d+$/.test(maxAge)) return false;
  return age > Number(maxAge) * 1000;
}

/** RFC 8176 names of the session's authentication methods (in order, once each). */
export function amrOf(methods: readonly AuthenticationMethod[]): string[] {
  const names: Partial<Record<CredentialType, string>> = { password: "pwd", totp: "otp", code: "otp", webauthn: "hwk", passkey: "hwk" };
  return [...new Set(methods.map((m) => names[m.method] ?? m.method))];
}

/** What users are told each well-known scope is for. */
const SCOPE_DESCRIPTIONS: Record<string, string> = {
  openid: "Sign you in with your account",
  email: "Your email address",
  profile: "Your profile (name and similar details)",
  phone: "Your phone number",
  address: "Your postal address",
  offline_access: "Stay connected while you are away",
  offline: "Stay connected while you are away",
};

/** `openid` is what the sign-in is: it is always granted when asked for. */
const ALWAYS_GRANTED = "openid";

function httpUrl(value: unknown): URL | undefined {
  if (typeof value !== "string" || value === "") return undefined;
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:" ? url : undefined;
  } catch {
    return undefined;
  }
}

/** A client's name to show (its name, else its id). */
function clientName(client: Record<string, unknown> | undefined): string {
  const name = client?.["client_name"];
  if (typeof name === "string" && name.trim() !== "") return name;
  const id = client?.["client_id"];
  return typeof id === "string" && id !== "" ? id : "the application";
}

/** The address to show a signed-in identity by: an email trait, else its first verifiable address, else its id. */
function identityLabel(entry: IdentityWithCredentials): string {
  const email = entry.identity.traits["email"];
  if (typeof email === "string" && email !== "") return email;
  return entry.identity.verifiableAddresses[0]?.value ?? entry.identity.id;
}

function hidden(name: string, value: string): string {
  return `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`;
}

/** An OAuth2 error as one of this service's (its status, code and description). */
function asKratosError(err: OAuth2HttpError): KratosHttpError {
  return new KratosHttpError(err.status, err.error, err.description);
}

/** The app's routes, as `[method, path pattern, handler]`. */
export function oauth2AppRoutes(options: OAuth2AppOptions): [string, RegExp, AppRoute][] {
  const { sessions, browser } = options;
  const now = options.now ?? Date.now;
  const base = browser.publicBaseUrl;
  const baseOrigins = browser.formOrigins();

  const bridge = (): OAuth2LoginBridge => {
    const current = options.bridge.current;
    if (current === undefined) throw new KratosHttpError(404, undefined, "Unable to locate the resource", "The OAuth2 service does not run here.");
    return current;
  };

  const requiredParam = (value: string | null, name: string): string => {
    if (value === null || value === "") {
      throw new KratosHttpError(400, undefined, "The request was malformed or contained invalid parameters", `The ${name} parameter is required.`);
    }
    return value;
  };

  /** These pages change state when opened: a HEAD (link checkers, prefetchers) must not. */
  const refuseHead = (req: IncomingMessage): void => {
    if (req.method === "HEAD") throw new KratosHttpError(405, undefined, "This page is opened with GET.");
  };

  /** The built-in sign-in page, coming back to `returnTo` (a URL on this service, so always allowed). */
  const signInUrl = (returnTo: string, refresh: boolean): string => {
    const url = new URL(`${base}/ui/login`);
    if (refresh) url.searchParams.set("refresh", "true");
    url.searchParams.set("return_to", returnTo);
    return url.toString();
  };

  const pageUrl = (page: "login" | "consent" | "logout", params: Record<string, string>): string => {
    const url = new URL(`${base}/ui/oauth2/${page}`);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    return url.toString();
  };

  /** Where an OAuth2 request's answer goes: its `redirect_uri`, else (the parameter is optional) the client's. */
  const redirectTargets = (requestUrl: string, client: Record<string, unknown> | undefined): unknown[] => {
    const redirectUri = httpUrl(requestUrl)?.searchParams.get("redirect_uri");
    if (redirectUri !== undefined && redirectUri !== null) return [redirectUri];
    return Array.isArray(client?.["redirect_uris"]) ? (client["redirect_uris"] as unknown[]) : [];
  };

  /** Origins a form's post may be redirected to: this service's, the issuer's and the client's redirect URI's. */
  const formOriginsFor = (requestUrl: string, client: Record<string, unknown> | undefined): string[] => {
    const origins = new Set(baseOrigins);
    const request = httpUrl(requestUrl);
    if (request !== undefined) origins.add(request.origin);
    for (const target of redirectTargets(requestUrl, client)) {
      const url = httpUrl(target);
      if (url !== undefined) origins.add(url.origin);
    }
    return [...origins];
  };

  /** False when the client's redirect URI is not http(s) (an app's custom scheme, which `form-action` cannot allow). */
  const redirectableAfterPost = (request: ConsentRequest): boolean =>
    redirectTargets(request.request_url, request.client).every((target) => httpUrl(target) !== undefined);

  /** A page that moves on to `location` by itself (a `Refresh` header: not a redirect, so a form post's chain ends here). */
  const continuePage = (res: ServerResponse, location: string, formOrigins: readonly string[]): void => {
    const body = `<p>Taking you back to the application…</p>\n<p class="switch"><a href="${escapeHtml(location)}">Continue</a></p>`;
    sendHtml(res, 200, renderPage("Continue", body), formOrigins, { refresh: `0;url=${location}` });
  };

  /**
   * Runs a route; the OAuth2 service's errors become pages with their status, and a challenge that was
   * already handled (410) sends the browser on to where its handling went, as Hydra's login apps do.
   */
  const guarded =
    (route: AppRoute): AppRoute =>
    async (req, res, url) => {
      try {
        await route(req, res, url);
      } catch (err) {
        if (!(err instanceof OAuth2HttpError)) throw err;
        const redirectTo = httpUrl(err.extra["redirect_to"]);
        if (err.status !== 410 || redirectTo === undefined) sendErrorPage(res, asKratosError(err), `${base}/ui/welcome`, baseOrigins);
        else if (url.searchParams.get(AFTER_LOGIN_PARAM) === "1") continuePage(res, redirectTo.toString(), baseOrigins);
        else redirect(res, redirectTo.toString());
      }
    };

  /** Reads a form post (`grant_scope` may repeat, so the fields are kept as a list). */
  const readForm = async (req: IncomingMessage): Promise<URLSearchParams> => {
    const type = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
    if (type !== "application/x-www-form-urlencoded") {
      throw new KratosHttpError(415, undefined, "The request was malformed or contained invalid parameters", "Send the form as application/x-www-form-urlencoded.");
    }
    return new URLSearchParams((await readBody(req, MAX_BODY_BYTES)).toString("utf8"));
  };

  const actionOf = (form: URLSearchParams): "accept" | "reject" => {
    const action = form.get("action");
    if (action === "accept" || action === "reject") return action;
    throw new KratosHttpError(400, undefined, "The request was malformed or contained invalid parameters", 'action must be "accept" or "reject".');
  };

  const formCsrfViolation = (): KratosHttpError =>
    csrfViolation("The form's CSRF token is missing or was not issued for this session and request. Open the page again and retry.");

  // ---- login ----

  const login: AppRoute = async (req, res, url) => {
    refuseHead(req);
    const app = bridge();
    const challenge = requiredParam(url.searchParams.get("login_challenge"), "login_challenge");
    const request = await app.getLoginRequest(challenge);
    const back = pageUrl("login", { login_challenge: challenge, [AFTER_LOGIN_PARAM]: "1" });
    const current = await sessions.authenticate(req);
    if (current === undefined) {
      redirect(res, signInUrl(back, false));
      return;
    }
    const { session } = current;
    if (needsFreshLogin(request.request_url, session.authenticatedAt, now())) {
      redirect(res, signInUrl(back, true));
      return;
    }
    const { redirect_to } = await app.acceptLogin(challenge, {
      subject: current.entry.identity.id,
      remember: true,
      remember_for: 0,
      acr: session.aal,
      amr: amrOf(session.methods),
      identity_provider_session_id: session.id,
    });
    if (url.searchParams.get(AFTER_LOGIN_PARAM) === "1") continuePage(res, redirect_to, baseOrigins);
    else redirect(res, redirect_to);
  };

  // ---- consent ----

  /** The page for a consent request of another identity than the one signed in. */
  const otherIdentityPage = (res: ServerResponse, signedInAs: IdentityWithCredentials, returnTo: string): void => {
    const body = [
      `<p class="error">This request is for another account than the one you are signed in with (<strong>${escapeHtml(identityLabel(signedInAs))}</strong>).</p>`,
      `<p class="switch"><a href="${escapeHtml(signInUrl(returnTo, true))}">Sign in with the other account</a></p>`,
    ].join("\n");
    sendHtml(res, 403, renderPage("Wrong account", body), baseOrigins);
  };

  const consentPage = (res: ServerResponse, request: ConsentRequest, challenge: string, session: Session, entry: IdentityWithCredentials): void => {
    const client = request.client;
    const name = clientName(client);
    const clientUri = httpUrl(client["client_uri"]);
    const links = [
      clientUri === undefined ? "" : `<a href="${escapeHtml(clientUri.toString())}">${escapeHtml(clientUri.toString())}</a>`,
      ...(
        [
          ["policy_uri", "Privacy policy"],
          ["tos_uri", "Terms of service"],
        ] as const
      ).map(([field, label]) => {
        const link = httpUrl(client[field]);
        return link === undefined ? "" : `<a href="${escapeHtml(link.toString())}">${label}</a>`;
      }),
    ].filter((l) => l !== "");
    const scopes = request.requested_scope.map((scope, i) => {
      const description = SCOPE_DESCRIPTIONS[scope];
      const text = `<code>${escapeHtml(scope)}</code>${description === undefined ? "" : ` — ${escapeHtml(description)}`}`;
      // A disabled box is not sent: `openid` travels in a hidden field.
      return scope === ALWAYS_GRANTED
        ? `${hidden("grant_scope", scope)}<label><input type="checkbox" checked disabled> ${text}</label>`
        : `<label for="scope-${i}"><input type="checkbox" id="scope-${i}" name="grant_scope" value="${escapeHtml(scope)}" checked> ${text}</label>`;
    });
    const audience = request.requested_access_token_audience;
    const body = [
      `<p><strong data-testid="client-name">${escapeHtml(name)}</strong> asks to use your account <strong>${escapeHtml(identityLabel(entry))}</strong>.</p>`,
      links.length === 0 ? "" : `<p class="muted">${links.join(" · ")}</p>`,
      `<form method="POST" action="${escapeHtml(`${base}/ui/oauth2/consent`)}">`,
      hidden("consent_challenge", challenge),
      hidden("csrf_token", formToken(session.tokenHash, "consent", challenge)),
      scopes.length === 0 ? `<p class="muted">It asks for no particular permissions.</p>` : `<p>It asks to:</p>\n${scopes.join("\n")}`,
      audience.length === 0 ? "" : `<p class="muted">For use with: ${audience.map((a) => `<code>${escapeHtml(a)}</code>`).join(", ")}</p>`,
      `<label for="remember"><input type="checkbox" id="remember" name="remember" value="true" checked> Remember this decision</label>`,
      `<button type="submit" name="action" value="accept">Allow</button>`,
      `<button type="submit" name="action" value="reject">Deny</button>`,
      `</form>`,
    ].join("\n");
    sendHtml(res, 200, renderPage(`Allow ${name}?`, body), formOriginsFor(request.request_url, client));
  };

  const consent: AppRoute = async (req, res, url) => {
    const app = bridge();
    const challenge = requiredParam(url.searchParams.get("consent_challenge"), "consent_challenge");
    const request = await app.getConsentRequest(challenge);
    const current = await sessions.authenticate(req);
    const here = pageUrl("consent", { consent_challenge: challenge });
    if (current === undefined) {
      redirect(res, signInUrl(here, false));
      return;
    }
    if (current.entry.identity.id !== request.subject) {
      otherIdentityPage(res, current.entry, here);
      return;
    }
    consentPage(res, request, challenge, current.session, current.entry);
  };

  const submitConsent: AppRoute = async (req, res) => {
    const app = bridge();
    const form = await readForm(req);
    const challenge = requiredParam(form.get("consent_challenge"), "consent_challenge");
    const current = await sessions.authenticate(req);
    // Checked before the OAuth2 service is asked anything.
    if (current === undefined || !verifyFormToken(current.session.tokenHash, "consent", challenge, form.get("csrf_token"))) throw formCsrfViolation();
    const action = actionOf(form);
    const request = await app.getConsentRequest(challenge);
    if (current.entry.identity.id !== request.subject) {
      throw new KratosHttpError(403, undefined, "The requested action was forbidden", "This consent request is for another account than the one signed in.");
    }
    const formOrigins = formOriginsFor(request.request_url, request.client);
    const go = ({ redirect_to }: { redirect_to: string }): void => {
      if (redirectableAfterPost(request)) redirect(res, redirect_to);
      else continuePage(res, redirect_to, formOrigins);
    };
    if (action === "reject") {
      go(await app.rejectConsent(challenge, { error: "access_denied", error_description: "The user denied the request." }));
      return;
    }
    const checked = new Set(form.getAll("grant_scope"));
    const grantScope = [...new Set(request.requested_scope)].filter((s) => s === ALWAYS_GRANTED || checked.has(s));
    go(
      await app.acceptConsent(challenge, {
        grant_scope: grantScope,
        grant_access_token_audience: request.requested_access_token_audience,
        remember: form.getAll("remember").includes("true"),
        remember_for: 0,
        session: { id_token: {} },
      }),
    );
  };

  // ---- logout ----

  const logoutPage = (res: ServerResponse, request: LogoutRequest, challenge: string, session: Session): void => {
    const name = request.client === undefined ? undefined : clientName(request.client);
    const body = [
      `<p>This signs you out of ${name === undefined ? "the application" : `<strong>${escapeHtml(name)}</strong>`} and of your account in this browser.</p>`,
      `<form method="POST" action="${escapeHtml(`${base}/ui/oauth2/logout`)}">`,
      hidden("logout_challenge", challenge),
      hidden("csrf_token", formToken(session.tokenHash, "logout", challenge)),
      `<button type="submit" name="action" value="accept">Yes, sign out</button>`,
      `<button type="submit" name="action" value="reject">No, stay signed in</button>`,
      `</form>`,
    ].join("\n");
    sendHtml(res, 200, renderPage(name === undefined ? "Sign out?" : `Sign out of ${name}?`, body), formOriginsFor(request.request_url, undefined));
  };

  const logout: AppRoute = async (req, res, url) => {
    refuseHead(req);
    const app = bridge();
    const challenge = requiredParam(url.searchParams.get("logout_challenge"), "logout_challenge");
    const request = await app.getLogoutRequest(challenge);
    const current = await sessions.authenticate(req);
    if (current === undefined) {
      redirect(res, (await app.acceptLogout(challenge)).redirect_to);
      return;
    }
    logoutPage(res, request, challenge, current.session);
  };

  const submitLogout: AppRoute = async (req, res) => {
    const app = bridge();
    const form = await readForm(req);
    const challenge = requiredParam(form.get("logout_challenge"), "logout_challenge");
    const current = await sessions.authenticate(req);
    // Without an identity session there is nothing to protect (the page itself accepts at once then).
    if (current !== undefined && !verifyFormToken(current.session.tokenHash, "logout", challenge, form.get("csrf_token"))) throw formCsrfViolation();
    const action = actionOf(form);
    const request = await app.getLogoutRequest(challenge);
    if (action === "reject") {
      await app.rejectLogout(challenge);
      const clientUri = httpUrl(request.client?.["client_uri"]);
      const back = clientUri === undefined ? `${base}/ui/welcome` : clientUri.toString();
      const body = `<p class="success">You are still signed in.</p>\n<p class="switch"><a href="${escapeHtml(back)}">Continue</a></p>`;
      sendHtml(res, 200, renderPage("You are still signed in", body), baseOrigins);
      return;
    }
    const { redirect_to } = await app.acceptLogout(challenge);
    if (current === undefined) {
      redirect(res, redirect_to);
      return;
    }
    // As browser logout does: the session ends (caches and other nodes are told), its cookie goes, and a new CSRF token.
    await sessions.revokeSession(current.session);
    redirect(res, redirect_to, [clearedSessionCookie(browser.secureCookies), browser.regenerateCsrf().cookie]);
  };

  return [
    ["GET", /^\/ui\/oauth2\/login$/, guarded(login)],
    ["GET", /^\/ui\/oauth2\/consent$/, guarded(consent)],
    ["POST", /^\/ui\/oauth2\/consent$/, guarded(submitConsent)],
    ["GET", /^\/ui\/oauth2\/logout$/, guarded(logout)],
    ["POST", /^\/ui\/oauth2\/logout$/, guarded(submitLogout)],
  ];
}
