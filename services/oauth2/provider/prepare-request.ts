/**
 * What the public plane does to a request before oidc-provider sees it:
 *
 * - registers the scopes an authorization request names with the provider (see `open-scopes.ts` for why);
 * - replaces a JWT access token sent to `/oauth2/revoke` or `/oauth2/introspect` with the stand-in the
 *   provider accepts (it refuses JWTs there outright, while Gatehouse's JWT access tokens are stored and
 *   revocable like opaque ones).
 *
 * Query strings are read in place; form bodies of the endpoints concerned are read here and handed on to
 * the provider (the request is made readable again with the same, or the rewritten, bytes).
 */
import type { IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import { looksLikeJwt } from "../keys/jwt-access-tokens.js";
import type { ScopeRegistrar } from "./open-scopes.js";

/** The provider's own body limit: a larger body is left for it to refuse. */
const BODY_LIMIT = 56 * 1024;

/**
 * Endpoints whose form bodies carry authorization-request scopes (the token endpoint needs no registration:
 * see `open-scopes.ts`; it is the hot path, so its body is left alone).
 */
const SCOPE_PATHS = new Set(["/oauth2/auth", "/oauth2/device/auth", "/oauth2/par"]);
/** Shorter bodies cannot carry a Gatehouse JWT access token (header, the claims with a 96-character jti, a signature). */
const SHORTEST_JWT_BODY = 300;

/** Endpoints whose form bodies carry a `token` that may be a JWT access token. */
const TOKEN_PATHS = new Set(["/oauth2/revoke", "/oauth2/introspect"]);

/** What preparing a request needs from the current provider. */
export interface RequestPreparation {
  readonly registerScopes: ScopeRegistrar;
  standInForJwt(jwt: string): Promise<string | undefined>;
}

/** Prepares a request for the provider; the request stays readable. */
export async function prepareRequest(req: IncomingMessage, url: URL, provider: RequestPreparation): Promise<void> {
  if (url.pathname === "/oauth2/auth" && (req.method === "GET" || req.method === "HEAD")) {
    provider.registerScopes(url.searchParams.get("scope") ?? undefined, false);
    return;
  }
  if (req.method !== "POST" || !(SCOPE_PATHS.has(url.pathname) || TOKEN_PATHS.has(url.pathname))) return;
  if (!/^application\/x-www-form-urlencoded\b/i.test(req.headers["content-type"] ?? "")) return;
  const declared = Number(req.headers["content-length"] ?? Number.NaN);
  if (Number.isFinite(declared) && declared > BODY_LIMIT) return;
  // A body this short cannot hold one of our JWT access tokens (the `jti` alone is 96 characters): opaque
  // token introspection, the common case, is left alone.
  if (!SCOPE_PATHS.has(url.pathname) && Number.isFinite(declared) && declared < SHORTEST_JWT_BODY) return;
  let body = await readAll(req);
  const form = new URLSearchParams(body.toString("utf8"));
  if (SCOPE_PATHS.has(url.pathname)) provider.registerScopes(form.get("scope") ?? undefined, false);
  const token = form.get("token");
  if (TOKEN_PATHS.has(url.pathname) && token !== null && form.getAll("token").length === 1 && looksLikeJwt(token)) {
    const standIn = await provider.standInForJwt(token);
    if (standIn !== undefined) {
      form.set("token", standIn);
      body = Buffer.from(form.toString(), "utf8");
      req.headers["content-length"] = String(body.length);
    }
  }
  replayBody(req, body);
}

/** The whole body (events rather than an async iterator: this runs on every token request). */
function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.once("end", () => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)));
    req.once("error", reject);
  });
}

/** Makes a consumed request readable again with these bytes (the provider reads `readable` and `iterator`). */
function replayBody(req: IncomingMessage, body: Buffer): void {
  Object.defineProperty(req, "readable", { configurable: true, value: true });
  Object.defineProperty(req, "iterator", {
    configurable: true,
    value: (options?: { destroyOnReturn?: boolean }) => Readable.from([body]).iterator(options),
  });
}
