/**
 * HTTP plumbing of the OAuth2 service's own routes (the admin plane and the few public routes oidc-provider
 * does not serve): JSON bodies, JSON answers, and Hydra's error body `errorOAuth2`
 * `{error, error_description, error_hint?, status_code}` for anything thrown.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { GatehouseError, httpStatusOf, toGatehouseError } from "../../../common/errors.js";
import { UnauthenticatedError } from "../../../gateways/auth/api-keys.js";
import { readBody } from "../../../gateways/keto/rest-io.js";

/** Largest request body the OAuth2 admin API reads. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** An error answered with a status and an OAuth2 error code (`invalid_request`, `not_found`, ...). */
export class OAuth2HttpError extends Error {
  constructor(
    readonly status: number,
    /** The `error` field: an RFC 6749 code or Hydra's short error name. */
    readonly error: string,
    /** `error_description`: says what was wrong and names the field. */
    readonly description: string,
    /** Extra top-level fields (e.g. `redirect_to` on a 410 for a handled challenge). */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(description);
    this.name = "OAuth2HttpError";
  }
}

/** A 400 `invalid_request` naming what was wrong. */
export const invalidRequest = (description: string): OAuth2HttpError => new OAuth2HttpError(400, "invalid_request", description);
/** A 404 `not_found`. */
export const notFound = (description: string): OAuth2HttpError => new OAuth2HttpError(404, "not_found", description);

/** Hydra's `errorOAuth2` body. */
export interface OAuth2ErrorBody {
  error: string;
  error_description: string;
  status_code: number;
  [extra: string]: unknown;
}

const codeOfStatus: Record<number, string> = {
  400: "invalid_request",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  409: "conflict",
  413: "request_too_large",
  503: "temporarily_unavailable",
};

/** The status and body for anything a route throws. Internal errors never leak their cause. */
export function errorResponse(error: unknown): { status: number; body: OAuth2ErrorBody } {
  if (error instanceof OAuth2HttpError) {
    return { status: error.status, body: { error: error.error, error_description: error.description, status_code: error.status, ...error.extra } };
  }
  const err: GatehouseError = toGatehouseError(error);
  const status = err.reason === "request_body_too_large" ? 413 : err instanceof UnauthenticatedError ? 401 : httpStatusOf(err);
  const code = status >= 500 && status !== 503 ? "server_error" : (codeOfStatus[status] ?? "invalid_request");
  return { status, body: { error: code, error_description: err.message, status_code: status } };
}

/** Sends a JSON answer (never cached: admin answers carry secrets and challenges). */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
    pragma: "no-cache",
    ...headers,
  });
  res.end(res.req.method === "HEAD" ? undefined : text);
}

/** Sends anything thrown as Hydra's error body. */
export function sendError(res: ServerResponse, error: unknown): void {
  const { status, body } = errorResponse(error);
  if (status === 500 && !(error instanceof GatehouseError) && !(error instanceof OAuth2HttpError)) {
    process.stderr.write(`gatehouse oauth2: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  }
  sendJson(res, status, body);
}

/** Sends 204 No Content. */
export function sendNoContent(res: ServerResponse): void {
  res.writeHead(204);
  res.end();
}

/** Reads a JSON object body; an empty body is `{}`. */
export async function readJsonObject(req: IncomingMessage): Promise<Record<string, unknown>> {
  const text = (await readBody(req, MAX_BODY_BYTES)).toString("utf8");
  if (text.trim() === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text) as unknown;
  } catch (err) {
    throw invalidRequest(`The request body is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw invalidRequest("The request body must be a JSON object.");
  return parsed as Record<string, unknown>;
}

/** Reads a JSON body of any shape (JSON Patch documents are arrays). */
export async function readJson(req: IncomingMessage): Promise<unknown> {
  const text = (await readBody(req, MAX_BODY_BYTES)).toString("utf8");
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw invalidRequest(`The request body is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Reads an `application/x-www-form-urlencoded` body (introspection, revocation). */
export async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  return new URLSearchParams((await readBody(req, MAX_BODY_BYTES)).toString("utf8"));
}

/** A route: method, a path pattern with `{name}` segments, and its handler. */
export interface Route {
  readonly method: string;
  readonly path: string;
  handle(req: IncomingMessage, res: ServerResponse, params: Record<string, string>, url: URL): Promise<void>;
}

/**
 * Finds the route for a request and runs it; false when no path matches (the caller answers 404 or passes
 * the request on). A path that matches with another method is 405.
 */
export async function dispatch(routes: readonly Route[], req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
  const segments = url.pathname.split("/");
  let pathMatched = false;
  for (const route of routes) {
    const pattern = route.path.split("/");
    if (pattern.length !== segments.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < pattern.length && ok; i++) {
      const p = pattern[i] ?? "";
      const s = segments[i] ?? "";
      if (p.startsWith("{") && p.endsWith("}")) {
        if (s === "") ok = false;
        else {
          try {
            params[p.slice(1, -1)] = decodeURIComponent(s);
          } catch {
            ok = false;
          }
        }
      } else ok = p === s;
    }
    if (!ok) continue;
    pathMatched = true;
    const method = req.method === "HEAD" ? "GET" : req.method;
    if (route.method !== method) continue;
    try {
      await route.handle(req, res, params, url);
    } catch (err) {
      if (!res.headersSent) sendError(res, err);
      else res.destroy();
    }
    return true;
  }
  if (pathMatched) {
    sendError(res, new OAuth2HttpError(405, "method_not_allowed", `${req.method ?? ""} is not allowed on ${url.pathname}`));
    return true;
  }
  return false;
}
