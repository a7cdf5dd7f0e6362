/**
 * What the public plane does to a request before oidc-provider sees it:
 *
 * - registers the scopes it names with the provider (see `open-scopes.ts` for why);
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

/** Endpoints whose form bodies may carry `scope`. */
const SCOPE_PATHS = new Set(["/oauth2/auth", "/oauth2/token", "/oauth2/device/auth", "/oauth2/par"]);
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
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    received += buffer.length;
    chunks.push(buffer);
    if (received > BODY_LIMIT) break;
  }
  let body = Buffer.concat(chunks);
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

/** Makes a consumed request readable again with these bytes (the provider reads `readable` and `iterator`). */
function replayBody(req: IncomingMessage, body: Buffer): void {
  Object.defineProperty(req, "readable", { configurable: true, value: true });
  Object.defineProperty(req, "iterator", {
    configurable: true,
    value: (options?: { destroyOnReturn?: boolean }) => Readable.from([body]).iterator(options),
  });
}
