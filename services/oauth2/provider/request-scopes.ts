/**
 * Registers the scopes a request names with the provider before it handles the request (see
 * `open-scopes.ts` for why). Query strings are read in place; form bodies of the endpoints that take a
 * `scope` are read here and handed on to the provider unchanged (the request is made readable again), so the
 * provider parses them itself.
 */
import type { IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import type { ScopeRegistrar } from "./open-scopes.js";

/** The provider's own body limit: a larger body is left for it to refuse. */
const BODY_LIMIT = 56 * 1024;

/** Endpoints whose form bodies may carry `scope`. */
const FORM_PATHS = new Set(["/oauth2/auth", "/oauth2/token", "/oauth2/device/auth", "/oauth2/par"]);

/** Reads the scopes of a request and registers them; the request stays readable for the provider. */
export async function registerRequestScopes(req: IncomingMessage, url: URL, register: ScopeRegistrar): Promise<void> {
  if (url.pathname === "/oauth2/auth" && (req.method === "GET" || req.method === "HEAD")) {
    register(url.searchParams.get("scope") ?? undefined, false);
    return;
  }
  if (req.method !== "POST" || !FORM_PATHS.has(url.pathname)) return;
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
  const body = Buffer.concat(chunks);
  register(new URLSearchParams(body.toString("utf8")).get("scope") ?? undefined, false);
  replayBody(req, body);
}

/** Makes a consumed request readable again with the same bytes (the provider reads `readable` and `iterator`). */
function replayBody(req: IncomingMessage, body: Buffer): void {
  Object.defineProperty(req, "readable", { configurable: true, value: true });
  Object.defineProperty(req, "iterator", {
    configurable: true,
    value: (options?: { destroyOnReturn?: boolean }) => Readable.from([body]).iterator(options),
  });
}
