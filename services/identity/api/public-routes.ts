/**
 * The identity service's public plane (Kratos's 4433): self-service flows for native apps (`/api`) and
 * browsers (`/browser`: CSRF cookie, redirects for HTML clients, JSON for SPAs), whoami, the caller's sessions,
 * native and browser logout, the identity schemas, and the built-in sign-in pages (`/ui/*`).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TraitSchemas } from "../deps.js";
import type { FlowKind, StoredFlow } from "../model.js";
import { withoutBlankFormTraits, type BrowserFlows } from "../flows/browser.js";
import type { LogoutFlows } from "../flows/logout.js";
import { SelfService, type SubmitResult } from "../flows/self-service.js";
import { clearedSessionCookie, SESSION_COOKIE, SessionService, sessionCookie } from "../sessions.js";
import type { IdentityStore } from "../store/identity-store.js";
import type { OAuth2BridgeRef } from "../oauth2-bridge.js";
import { prefersHtml, sendErrorPage } from "../ui/html.js";
import { oauth2AppRoutes } from "../ui/oauth2-app.js";
import { redirect, uiRoutes } from "../ui/pages.js";
import { cookieValue, errorResponse, KratosHttpError, linkHeader, readFormOrJson, sendError, sendJson, sendNoContent, wantsJson } from "./http-io.js";
import { identityJson, sessionJson } from "./kratos-json.js";

/**
 * Called once for every submission, native or browser (after the CSRF check), just before it is processed:
 * the place to throttle (throw a `KratosHttpError(429, …)` to refuse it).
 */
export type SubmissionHook = (kind: FlowKind, flow: StoredFlow, body: Readonly<Record<string, unknown>>, req: IncomingMessage) => Promise<void>;

/** What the public routes work with. */
export interface PublicRoutesOptions {
  readonly store: IdentityStore;
  readonly schemas: TraitSchemas;
  readonly flows: SelfService;
  readonly sessions: SessionService;
  /** Base URL of the public plane, for `schema_url`. */
  readonly publicBaseUrl: string;
  /** CSRF, cookies and redirect targets of browser flows. */
  readonly browser: BrowserFlows;
  readonly logout: LogoutFlows;
  readonly beforeSubmit?: SubmissionHook;
  /** The OAuth2 service, for the built-in login, consent and logout app (`/ui/oauth2/*`; 404 without it). */
  readonly oauth2?: OAuth2BridgeRef;
}

type Route = (req: IncomingMessage, res: ServerResponse, url: URL, match: RegExpExecArray) => Promise<void>;

const NO_SESSION = new KratosHttpError(401, "session_inactive", "The request could not be authorized", "No valid session credentials found in the request.");

/**
 * Native (API) flows must not be driven from a browser: a request carrying an `Origin` header or cookies is
 * refused, so a page cannot use an API flow to sidestep CSRF protection (Kratos's rule).
 */
function assertNativeRequest(req: IncomingMessage): void {
  if (req.headers.origin !== undefined) {
    throw new KratosHttpError(
      400,
      undefined,
      "The request was rejected to protect you from Cross-Site-Request-Forgery (CSRF) which could cause account takeover, leaking personal information, and other serious security issues.",
      'The HTTP Request Header included the "Origin" key, indicating that this request was made as part of an AJAX request in a Browser. The flow however was initiated as an API request. To prevent potential misuse and mitigate several attack vectors including CSRF, the request has been blocked.',
    );
  }
  const cookies = (req.headers.cookie ?? "")
    .split(";")
    .map((c) => c.split("=")[0]?.trim() ?? "")
    .filter((name) => name !== "" && !name.startsWith("__cf") && name !== "cf_clearance");
  if (cookies.length > 0) {
    throw new KratosHttpError(
      400,
      undefined,
      "The request was rejected to protect you from Cross-Site-Request-Forgery (CSRF) which could cause account takeover, leaking personal information, and other serious security issues.",
      "The HTTP Request Header included cookies, indicating that this request was made as part of a Browser request. The flow however was initiated as an API request. Use a browser flow instead.",
    );
  }
}

/** The public plane's REST handler (returns false for paths it does not serve). */
export function createPublicRoutes(options: PublicRoutesOptions): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const { store, schemas, flows, sessions, browser, logout } = options;
  const schemaUrl = (id: string): string => `${options.publicBaseUrl}/schemas/${encodeURIComponent(id)}`;
  const publicIdentity = (entry: Parameters<typeof identityJson>[0]) =>
    identityJson(entry, { schemaUrl: schemaUrl(entry.identity.schemaId), admin: false });
  const requestUrlOf = (url: URL): string => `${options.publicBaseUrl}${url.pathname}${url.search}`;
  const alreadySignedIn = (): KratosHttpError =>
    new KratosHttpError(400, "session_already_available", "A valid session was detected and thus login is not possible. Did you forget to set `?refresh=true`?");

  /**
   * The one place a submission of either kind, native or browser, is accepted and processed (after the flow
   * was found and, for browsers, the CSRF token checked).
   */
  const accept = async (kind: FlowKind, flow: StoredFlow, body: Readonly<Record<string, unknown>>, req: IncomingMessage): Promise<SubmitResult> => {
    await options.beforeSubmit?.(kind, flow, body, req);
    return kind === "login" ? flows.login(flow, body, req) : flows.register(flow, body, req);
  };

  const createApiFlow =
    (kind: FlowKind): Route =>
    async (req, res, url) => {
      assertNativeRequest(req);
      if (kind === "login" && url.searchParams.get("refresh") !== "true") {
        const current = await sessions.authenticate(req);
        if (current !== undefined) throw alreadySignedIn();
      }
      const returnTo = url.searchParams.get("return_to") ?? undefined;
      const schemaId = url.searchParams.get("identity_schema") ?? undefined;
      const flow = await flows.create(kind, "api", requestUrlOf(url), {
        ...(returnTo === undefined ? {} : { returnTo }),
        ...(schemaId === undefined ? {} : { schemaId }),
      });
      sendJson(res, 200, flows.render(flow));
    };

  /**
   * `GET /self-service/{kind}/browser`: a browser flow bound to the CSRF cookie; 303 to the UI for HTML clients,
   * 200 with the flow for JSON ones. A browser already signed in is sent on (HTML) or refused (JSON, 400
   * `session_already_available`), unless a login asks for `refresh=true`.
   */
  const createBrowserFlow =
    (kind: FlowKind): Route =>
    async (req, res, url) => {
      const returnTo = browser.returnToOf(url.searchParams.get("return_to"));
      const refresh = kind === "login" && url.searchParams.get("refresh") === "true";
      if (!refresh && (await sessions.authenticate(req)) !== undefined) {
        if (wantsJson(req)) throw alreadySignedIn();
        redirect(res, returnTo ?? browser.defaultReturnUrl);
        return;
      }
      const schemaId = url.searchParams.get("identity_schema") ?? undefined;
      const csrf = browser.csrfFor(req);
      const flow = await flows.create(kind, "browser", requestUrlOf(url), {
        csrfTokenHash: csrf.tokenHash,
        ...(returnTo === undefined ? {} : { returnTo }),
        ...(schemaId === undefined ? {} : { schemaId }),
        ...(refresh ? { refresh: true } : {}),
      });
      if (wantsJson(req)) sendJson(res, 200, flows.render(flow, csrf.token), { "set-cookie": [csrf.cookie] });
      else redirect(res, browser.uiUrl(kind, flow.id), [csrf.cookie]);
    };

  /** `GET /self-service/{kind}/flows?id=`: a browser flow only with its CSRF cookie; 410 with `use_flow_id` once expired. */
  const getFlow =
    (kind: FlowKind): Route =>
    async (req, res, url) => {
      const flow = await flows.get(kind, url.searchParams.get("id"));
      const token = flow.type === "browser" ? browser.checkFlowCookie(req, flow) : undefined;
      if (SelfService.isExpired(flow)) await flows.assertFresh(flow);
      sendJson(res, 200, flows.render(flow, token));
    };

  const submit =
    (kind: FlowKind): Route =>
    async (req, res, url) => {
      const flow = await flows.get(kind, url.searchParams.get("flow"));
      if (flow.type === "api") {
        assertNativeRequest(req);
        answerNative(res, await accept(kind, flow, await readFormOrJson(req), req));
        return;
      }
      const body = withoutBlankFormTraits(await readFormOrJson(req), req);
      const csrfToken = browser.checkSubmission(req, flow, body);
      if (SelfService.isExpired(flow)) {
        // JSON: 410 with use_flow_id; a browser page: straight to the new flow's UI.
        if (wantsJson(req)) await flows.assertFresh(flow);
        redirect(res, browser.uiUrl(kind, (await flows.replacementFor(flow)).id));
        return;
      }
      await answerBrowser(req, res, kind, flow, await accept(kind, flow, body, req), csrfToken);
    };

  /** Native answers: the session token in the body (`continue_with: set_ory_session_token`). */
  const answerNative = (res: ServerResponse, result: SubmitResult): void => {
    switch (result.kind) {
      case "invalid":
        sendJson(res, 400, flows.render(result.flow));
        return;
      case "logged_in":
        sendJson(res, 200, {
          session: sessionJson(result.session.session, publicIdentity(result.entry)),
          session_token: result.session.token,
          continue_with: [{ action: "set_ory_session_token", ory_session_token: result.session.token }],
        });
        return;
      case "registered": {
        const identity = publicIdentity(result.entry);
        sendJson(res, 200, {
          identity,
          ...(result.session === undefined
            ? { continue_with: [] }
            : {
                session: sessionJson(result.session.session, identity),
                session_token: result.session.token,
                continue_with: [{ action: "set_ory_session_token", ory_session_token: result.session.token }],
              }),
        });
        return;
      }
    }
  };

  /**
   * Browser answers: the session travels in the `ory_kratos_session` cookie only (never in the body). Validation
   * failures go back to the UI (HTML: 303) or come as 400 with the flow (JSON); success goes to `return_to` or
   * the default return URL (HTML) or answers 200 (JSON).
   */
  const answerBrowser = async (req: IncomingMessage, res: ServerResponse, kind: FlowKind, flow: StoredFlow, result: SubmitResult, csrfToken: string): Promise<void> => {
    if (result.kind === "invalid") {
      if (wantsJson(req)) sendJson(res, 400, flows.render(result.flow, csrfToken));
      else redirect(res, browser.uiUrl(kind, flow.id));
      return;
    }
    const issued = result.session;
    const cookies: string[] = [];
    if (issued !== undefined) {
      // A browser holds one session cookie: the session it replaces is of no further use, so it ends.
      const previous = await sessions.authenticateToken(cookieValue(req, SESSION_COOKIE));
      if (previous !== undefined && previous.session.id !== issued.session.id) await sessions.revokeSession(previous.session);
      cookies.push(sessionCookie(issued.token, issued.session.expiresAt, browser.secureCookies));
      // A new CSRF token with the new session: a token seen before signing in is worthless after.
      cookies.push(browser.regenerateCsrf().cookie);
    }
    if (!wantsJson(req)) {
      redirect(res, flow.returnTo ?? browser.defaultReturnUrl, cookies);
      return;
    }
    const identity = publicIdentity(result.entry);
    const session = issued === undefined ? {} : { session: sessionJson(issued.session, identity) };
    sendJson(res, 200, result.kind === "logged_in" ? { ...session, continue_with: [] } : { identity, ...session, continue_with: [] }, cookies.length === 0 ? {} : { "set-cookie": cookies });
  };

  const requireSession = async (req: IncomingMessage) => {
    const current = await sessions.authenticate(req);
    if (current === undefined) throw NO_SESSION;
    return current;
  };

  const routes: [string, RegExp, Route][] = [
    ["GET", /^\/self-service\/login\/api$/, createApiFlow("login")],
    ["GET", /^\/self-service\/registration\/api$/, createApiFlow("registration")],
    ["GET", /^\/self-service\/login\/browser$/, createBrowserFlow("login")],
    ["GET", /^\/self-service\/registration\/browser$/, createBrowserFlow("registration")],
    ["GET", /^\/self-service\/login\/flows$/, getFlow("login")],
    ["GET", /^\/self-service\/registration\/flows$/, getFlow("registration")],
    ["POST", /^\/self-service\/login$/, submit("login")],
    ["POST", /^\/self-service\/registration$/, submit("registration")],
    [
      "GET",
      /^\/sessions\/whoami$/,
      async (req, res) => {
        const { session, entry } = await requireSession(req);
        // A cookie is re-issued with the session's current expiry (it may have been extended since it was set).
        const token = SessionService.usesCookie(req) ? cookieValue(req, SESSION_COOKIE) : undefined;
        sendJson(res, 200, sessionJson(session, publicIdentity(entry)), {
          "x-kratos-authenticated-identity-id": entry.identity.id,
          ...(token === undefined ? {} : { "set-cookie": [sessionCookie(token, session.expiresAt, browser.secureCookies)] }),
        });
      },
    ],
    [
      "GET",
      /^\/sessions$/,
      async (req, res, url) => {
        const current = await requireSession(req);
        const pageSize = pageSizeOf(url);
        const page = await store.listSessions({
          identityId: current.entry.identity.id,
          active: true,
          pageSize,
          ...(url.searchParams.get("page_token") ? { pageToken: url.searchParams.get("page_token") as string } : {}),
        });
        // Kratos lists the caller's *other* sessions.
        const others = page.items.filter((s) => s.id !== current.session.id);
        sendJson(res, 200, others.map((s) => sessionJson(s, undefined)), linkHeader(url, pageSize, page.nextPageToken));
      },
    ],
    [
      "DELETE",
      /^\/sessions$/,
      async (req, res) => {
        const current = await requireSession(req);
        let count = 0;
        for (let token: string | undefined; ; ) {
          const page = await store.listSessions({ identityId: current.entry.identity.id, active: true, pageSize: 1000, ...(token ? { pageToken: token } : {}) });
          for (const s of page.items) if (s.id !== current.session.id && (await store.updateSession(s.id, { active: false }))) count++;
          token = page.nextPageToken;
          if (token === undefined) break;
        }
        // One message for all of them (the caller's own entry goes too; it is simply read again).
        if (count > 0) await sessions.forgetIdentity(current.entry.identity.id);
        sendJson(res, 200, { count });
      },
    ],
    [
      "DELETE",
      /^\/sessions\/([^/]+)$/,
      async (req, res, _url, match) => {
        const current = await requireSession(req);
        const id = decodeURIComponent(match[1] ?? "");
        if (id === current.session.id) {
          throw new KratosHttpError(400, undefined, "The request was malformed or contained invalid parameters", "You can not revoke the session you are using; use the logout flow instead.");
        }
        const target = await store.getSession(id);
        // Another identity's session is reported as missing, not as forbidden: its existence is not the caller's business.
        if (target === undefined || target.identityId !== current.entry.identity.id) {
          throw new KratosHttpError(404, undefined, "Unable to locate the resource");
        }
        await sessions.revokeSessionById(id);
        sendNoContent(res);
      },
    ],
    [
      "DELETE",
      /^\/self-service\/logout\/api$/,
      async (req, res) => {
        const body = await readFormOrJson(req);
        const token = body["session_token"];
        if (typeof token !== "string" || token === "") {
          throw new KratosHttpError(400, undefined, "The request was malformed or contained invalid parameters", "session_token: the session token to revoke is required");
        }
        if (!(await sessions.revokeToken(token))) throw NO_SESSION;
        sendNoContent(res);
      },
    ],
    [
      "GET",
      /^\/self-service\/logout\/browser$/,
      async (req, res, url) => {
        const current = await requireSession(req);
        const returnTo = browser.returnToOf(url.searchParams.get("return_to"));
        sendJson(res, 200, await logout.create(current.session, returnTo, requestUrlOf(url)));
      },
    ],
    [
      "GET",
      /^\/self-service\/logout$/,
      async (req, res, url) => {
        // Signing out changes state: a HEAD (link checkers, prefetchers) must not do it.
        if (req.method !== "GET") throw new KratosHttpError(405, undefined, "The logout URL is opened with GET.");
        const { location } = await logout.complete(req, url.searchParams.get("token"), url.searchParams.get("return_to"));
        const cookies = [clearedSessionCookie(browser.secureCookies), browser.regenerateCsrf().cookie];
        if (wantsJson(req)) sendNoContent(res, { "set-cookie": cookies, "cache-control": "private, no-cache, no-store, must-revalidate" });
        else redirect(res, location, cookies);
      },
    ],
    ...schemaRoutes(schemas),
    ...uiRoutes({ flows, sessions, browser, logout }),
    ...oauth2AppRoutes({ bridge: options.oauth2 ?? { current: undefined }, sessions, browser }),
  ];
  const formOrigins = browser.formOrigins();
  return dispatch(routes, (req, res, err, url) => {
    // Browsers navigating get a page (the built-in pages always do); API and SPA clients get Kratos's JSON.
    if (!url.pathname.startsWith("/ui/") && !prefersHtml(req)) {
      sendError(res, err);
      return;
    }
    if (errorResponse(err).status >= 500 && !(err instanceof KratosHttpError)) {
      process.stderr.write(`gatehouse identity: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    }
    const kind = /^\/(?:self-service|ui)\/(registration)\b/.test(url.pathname) ? "registration" : "login";
    sendErrorPage(res, err, `${options.publicBaseUrl}/ui/${kind}`, formOrigins);
  });
}

/** `page_size` of a listing: 1..1000, default 250 (Kratos's). */
export function pageSizeOf(url: URL): number {
  const raw = url.searchParams.get("page_size") ?? url.searchParams.get("per_page");
  if (raw === null || raw === "") return 250;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 1000) {
    throw new KratosHttpError(400, undefined, "The request was malformed or contained invalid parameters", `page_size must be a whole number from 1 to 1000, got "${raw}"`);
  }
  return n;
}

/** `GET /schemas` and `GET /schemas/{id}` (served on both planes, as Kratos does). */
export function schemaRoutes(schemas: TraitSchemas): [string, RegExp, Route][] {
  return [
    ["GET", /^\/schemas$/, async (_req, res) => sendJson(res, 200, schemas.ids().map((id) => ({ id, schema: schemas.document(id) })))],
    [
      "GET",
      /^\/schemas\/([^/]+)$/,
      async (_req, res, _url, match) => {
        const id = decodeURIComponent(match[1] ?? "");
        if (!schemas.has(id)) throw new KratosHttpError(404, undefined, "Unable to locate the resource", `no identity schema "${id}"`);
        sendJson(res, 200, schemas.document(id));
      },
    ],
  ];
}

/** How a route's error is answered. */
export type ErrorAnswer = (req: IncomingMessage, res: ServerResponse, error: unknown, url: URL) => void;

/** Dispatches to the first route whose method and path match; errors become Kratos's envelope (or what `onError` makes of them). */
export function dispatch(
  routes: readonly [string, RegExp, Route][],
  onError: ErrorAnswer = (_req, res, err) => sendError(res, err),
): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  return async (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    for (const [method, pattern, route] of routes) {
      const match = pattern.exec(url.pathname);
      if (match === null || (req.method !== method && !(method === "GET" && req.method === "HEAD"))) continue;
      try {
        await route(req, res, url, match);
      } catch (err) {
        if (res.headersSent) res.destroy();
        else onError(req, res, err, url);
      }
      return true;
    }
    return false;
  };
}

export type { Route };
