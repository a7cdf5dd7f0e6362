/**
 * Hydra's admin routes for login, consent and logout requests, consent and login sessions, and token
 * introspection (RFC 7662, unauthenticated apart from the admin API keys, as on Hydra's admin port).
 */
import type { IncomingMessage } from "node:http";
import type { ApiKeyVerifier } from "../../../gateways/auth/api-keys.js";
import { bearerToken } from "../../../gateways/auth/api-keys.js";
import type { LoginConsentService } from "../flows/login-consent.js";
import type { TokenIntrospector } from "../flows/introspection.js";
import { invalidRequest, readForm, readJsonObject, sendJson, sendNoContent, type Route } from "./http-io.js";

/** What the routes work with. */
export interface FlowRoutesOptions {
  readonly flows: LoginConsentService;
  readonly introspector: TokenIntrospector;
  readonly keys: ApiKeyVerifier;
}

function requiredQuery(url: URL, name: string): string {
  const value = url.searchParams.get(name);
  if (value === null || value === "") throw invalidRequest(`The ${name} query parameter is required.`);
  return value;
}

function pageSizeOf(url: URL): number | undefined {
  const raw = url.searchParams.get("page_size");
  if (raw === null) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 500) throw invalidRequest("page_size must be an integer from 1 to 500.");
  return n;
}

/** The routes (the caller also accepts them without the `/admin` prefix, as Hydra's admin port does). */
export function flowRoutes(options: FlowRoutesOptions): Route[] {
  const { flows, introspector } = options;
  const guard = (req: IncomingMessage): void => options.keys.verify(bearerToken(req.headers.authorization));
  const put = (path: string, run: (url: URL, body: Record<string, unknown>) => Promise<unknown>): Route => ({
    method: "PUT",
    path,
    async handle(req, res, _params, url) {
      guard(req);
      const body = await readJsonObject(req);
      sendJson(res, 200, await run(url, body));
    },
  });
  const get = (path: string, run: (url: URL) => Promise<unknown>): Route => ({
    method: "GET",
    path,
    async handle(req, res, _params, url) {
      guard(req);
      sendJson(res, 200, await run(url));
    },
  });
  const base = "/admin/oauth2/auth/requests";
  return [
    get(`${base}/login`, (url) => flows.getLoginRequest(requiredQuery(url, "login_challenge"))),
    put(`${base}/login/accept`, (url, body) => flows.acceptLogin(requiredQuery(url, "login_challenge"), body)),
    put(`${base}/login/reject`, (url, body) => flows.rejectLogin(requiredQuery(url, "login_challenge"), body)),
    get(`${base}/consent`, (url) => flows.getConsentRequest(requiredQuery(url, "consent_challenge"))),
    put(`${base}/consent/accept`, (url, body) => flows.acceptConsent(requiredQuery(url, "consent_challenge"), body)),
    put(`${base}/consent/reject`, (url, body) => flows.rejectConsent(requiredQuery(url, "consent_challenge"), body)),
    get(`${base}/logout`, (url) => flows.getLogoutRequest(requiredQuery(url, "logout_challenge"))),
    put(`${base}/logout/accept`, (url) => flows.acceptLogout(requiredQuery(url, "logout_challenge"))),
    {
      method: "PUT",
      path: `${base}/logout/reject`,
      async handle(req, res, _params, url) {
        guard(req);
        await flows.rejectLogout(requiredQuery(url, "logout_challenge"));
        sendNoContent(res);
      },
    },
    {
      method: "GET",
      path: "/admin/oauth2/auth/sessions/consent",
      async handle(req, res, _params, url) {
        guard(req);
        const subject = requiredQuery(url, "subject");
        const pageSize = pageSizeOf(url);
        const pageToken = url.searchParams.get("page_token") ?? undefined;
        const loginSessionId = url.searchParams.get("login_session_id") ?? undefined;
        const page = await flows.listConsentSessions(subject, {
          ...(pageSize === undefined ? {} : { pageSize }),
          ...(pageToken === undefined ? {} : { pageToken }),
          ...(loginSessionId === undefined ? {} : { loginSessionId }),
        });
        const headers: Record<string, string> = {};
        if (page.nextPageToken !== undefined) {
          const next = new URL(url);
          next.searchParams.set("page_token", page.nextPageToken);
          headers["link"] = `<${next.pathname}${next.search}>; rel="next"`;
        }
        sendJson(res, 200, page.items, headers);
      },
    },
    {
      method: "DELETE",
      path: "/admin/oauth2/auth/sessions/consent",
      async handle(req, res, _params, url) {
        guard(req);
        const subject = requiredQuery(url, "subject");
        const client = url.searchParams.get("client") ?? undefined;
        const all = url.searchParams.get("all") === "true";
        if (client === undefined && !all) throw invalidRequest("Name a client with the client query parameter, or set all=true to revoke every client's consent.");
        await flows.revokeConsentSessions(subject, all ? undefined : client);
        sendNoContent(res);
      },
    },
    {
      method: "DELETE",
      path: "/admin/oauth2/auth/sessions/login",
      async handle(req, res, _params, url) {
        guard(req);
        const sid = url.searchParams.get("sid");
        const subject = url.searchParams.get("subject");
        if (sid !== null && sid !== "") await flows.revokeLoginSession(sid);
        else if (subject !== null && subject !== "") await flows.revokeLoginSessionsOf(subject);
        else throw invalidRequest("Name the login session with sid, or the user with subject.");
        sendNoContent(res);
      },
    },
    {
      method: "POST",
      path: "/admin/oauth2/introspect",
      async handle(req, res) {
        guard(req);
        const form = await readForm(req);
        const token = form.get("token");
        if (token === null || token === "") throw invalidRequest("The token form field is required.");
        const scope = form.get("scope");
        sendJson(res, 200, await introspector.introspect(token, scope === null || scope === "" ? [] : scope.split(" ").filter((s) => s !== "")));
      },
    },
  ];
}
