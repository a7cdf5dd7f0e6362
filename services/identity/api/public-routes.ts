/**
 * The identity service's public plane (Kratos's 4433): native self-service flows, whoami, the caller's
 * sessions, native logout and the identity schemas.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TraitSchemas } from "../deps.js";
import type { FlowKind } from "../model.js";
import type { SelfService } from "../flows/self-service.js";
import type { SessionService } from "../sessions.js";
import type { IdentityStore } from "../store/identity-store.js";
import { KratosHttpError, linkHeader, readFormOrJson, sendError, sendJson, sendNoContent } from "./http-io.js";
import { identityJson, sessionJson } from "./kratos-json.js";

/** What the public routes work with. */
export interface PublicRoutesOptions {
  readonly store: IdentityStore;
  readonly schemas: TraitSchemas;
  readonly flows: SelfService;
  readonly sessions: SessionService;
  /** Base URL of the public plane, for `schema_url`. */
  readonly publicBaseUrl: string;
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
  const { store, schemas, flows, sessions } = options;
  const schemaUrl = (id: string): string => `${options.publicBaseUrl}/schemas/${encodeURIComponent(id)}`;
  const publicIdentity = (entry: Parameters<typeof identityJson>[0]) =>
    identityJson(entry, { schemaUrl: schemaUrl(entry.identity.schemaId), admin: false });

  const createApiFlow =
    (kind: FlowKind): Route =>
    async (req, res, url) => {
      assertNativeRequest(req);
      if (kind === "login" && url.searchParams.get("refresh") !== "true") {
        const current = await sessions.authenticate(req);
        if (current !== undefined) {
          throw new KratosHttpError(400, "session_already_available", "A valid session was detected and thus login is not possible. Did you forget to set `?refresh=true`?");
        }
      }
      const returnTo = url.searchParams.get("return_to") ?? undefined;
      const schemaId = url.searchParams.get("identity_schema") ?? undefined;
      const flow = await flows.create(kind, "api", `${options.publicBaseUrl}${url.pathname}${url.search}`, {
        ...(returnTo === undefined ? {} : { returnTo }),
        ...(schemaId === undefined ? {} : { schemaId }),
      });
      sendJson(res, 200, flows.render(flow));
    };

  const getFlow =
    (kind: FlowKind): Route =>
    async (_req, res, url) => {
      const flow = await flows.get(kind, url.searchParams.get("id"));
      if (flow.type === "browser") {
        throw new KratosHttpError(403, "security_csrf_violation", "browser flows are fetched with their CSRF cookie through the browser endpoints");
      }
      if (flow.expiresAt.getTime() <= Date.now()) await flows.assertFresh(flow);
      sendJson(res, 200, flows.render(flow));
    };

  const submit =
    (kind: FlowKind): Route =>
    async (req, res, url) => {
      const flow = await flows.get(kind, url.searchParams.get("flow"));
      if (flow.type !== "api") {
        throw new KratosHttpError(403, "security_csrf_violation", "this flow was started in a browser; submit it from the browser with its CSRF token");
      }
      assertNativeRequest(req);
      const body = await readFormOrJson(req);
      const result = kind === "login" ? await flows.login(flow, body, req) : await flows.register(flow, body, req);
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

  const requireSession = async (req: IncomingMessage) => {
    const current = await sessions.authenticate(req);
    if (current === undefined) throw NO_SESSION;
    return current;
  };

  const routes: [string, RegExp, Route][] = [
    ["GET", /^\/self-service\/login\/api$/, createApiFlow("login")],
    ["GET", /^\/self-service\/registration\/api$/, createApiFlow("registration")],
    ["GET", /^\/self-service\/login\/flows$/, getFlow("login")],
    ["GET", /^\/self-service\/registration\/flows$/, getFlow("registration")],
    ["POST", /^\/self-service\/login$/, submit("login")],
    ["POST", /^\/self-service\/registration$/, submit("registration")],
    [
      "GET",
      /^\/sessions\/whoami$/,
      async (req, res) => {
        const { session, entry } = await requireSession(req);
        sendJson(res, 200, sessionJson(session, publicIdentity(entry)), { "x-kratos-authenticated-identity-id": entry.identity.id });
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
        await store.updateSession(id, { active: false });
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
    ...schemaRoutes(schemas),
  ];
  return dispatch(routes);
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

/** Dispatches to the first route whose method and path match; errors become Kratos's envelope. */
export function dispatch(routes: readonly [string, RegExp, Route][]): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  return async (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    for (const [method, pattern, route] of routes) {
      const match = pattern.exec(url.pathname);
      if (match === null || (req.method !== method && !(method === "GET" && req.method === "HEAD"))) continue;
      try {
        await route(req, res, url, match);
      } catch (err) {
        sendError(res, err);
      }
      return true;
    }
    return false;
  };
}

export type { Route };
