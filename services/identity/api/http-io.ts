/**
 * HTTP plumbing of the identity service: bodies (JSON or HTML forms), JSON answers, and Kratos's error
 * envelope `{"error":{id?, code, status, reason?, message, details?}}` where `id` is the stable error id
 * (`session_already_available`, …) that Kratos clients switch on.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { GatehouseError, httpStatusOf, toGatehouseError, type ErrorDetails } from "../../../common/errors.js";
import { readBody } from "../../../gateways/keto/rest-io.js";

/** Largest request body the identity API reads. */
export const MAX_BODY_BYTES = 1024 * 1024;

const statusTexts: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  410: "Gone",
  413: "Payload Too Large",
  422: "Unprocessable Entity",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

/** Kratos's error body. */
export interface KratosErrorBody {
  error: { id?: string; code: number; status: string; reason?: string; message: string; details?: ErrorDetails };
  [extra: string]: unknown;
}

/** An error answered with a given status and Kratos error id, plus extra top-level fields (use_flow_id, redirect_browser_to). */
export class KratosHttpError extends Error {
  constructor(
    readonly status: number,
    readonly id: string | undefined,
    message: string,
    readonly reason?: string,
    readonly extra: Record<string, unknown> = {},
    /** `error.details` (e.g. the CSRF `reject_reason`). */
    readonly details?: ErrorDetails,
  ) {
    super(message);
  }

  /** Response headers the answer carries (e.g. `Retry-After` on a 429). */
  readonly headers: Record<string, string> = {};
}

/** Puts an error's own response headers on the response (before the body is written). */
export function applyErrorHeaders(res: ServerResponse, error: unknown): void {
  if (error instanceof KratosHttpError) for (const [name, value] of Object.entries(error.headers)) res.setHeader(name, value);
}

/** The body and status for anything thrown by a route. Internal errors never leak their cause. */
export function errorResponse(error: unknown): { status: number; body: KratosErrorBody } {
  if (error instanceof KratosHttpError) {
    const body: KratosErrorBody = {
      error: {
        ...(error.id === undefined ? {} : { id: error.id }),
        code: error.status,
        status: statusTexts[error.status] ?? "Error",
        ...(error.reason === undefined ? {} : { reason: error.reason }),
        message: error.message,
        ...(error.details === undefined ? {} : { details: error.details }),
      },
      ...error.extra,
    };
    return { status: error.status, body };
  }
  const err: GatehouseError = toGatehouseError(error);
  const status = err.reason === "request_body_too_large" ? 413 : httpStatusOf(err);
  const body: KratosErrorBody = {
    error: {
      ...(err.reason === undefined ? {} : { id: err.reason }),
      code: status,
      status: statusTexts[status] ?? "Error",
      message: err.message,
    },
  };
  if (Object.keys(err.details).length > 0) body.error.details = err.details;
  return { status, body };
}

/** Sends a JSON answer. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "cache-control": "private, no-cache, no-store, must-revalidate",
    ...headers,
  });
  res.end(res.req.method === "HEAD" ? undefined : text);
}

/** Sends anything thrown as Kratos's error envelope. */
export function sendError(res: ServerResponse, error: unknown): void {
  const { status, body } = errorResponse(error);
  applyErrorHeaders(res, error);
  if (status === 500 && !(error instanceof GatehouseError) && !(error instanceof KratosHttpError)) {
    process.stderr.write(`gatehouse identity: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  }
  sendJson(res, status, body);
}

/** Sends 204 No Content. */
export function sendNoContent(res: ServerResponse, headers: Record<string, string | string[]> = {}): void {
  res.writeHead(204, headers);
  res.end();
}

/**
 * Reads a JSON or `application/x-www-form-urlencoded` body into an object. Form fields with dotted names
 * (`traits.email`) become nested objects, as Kratos's form decoder does. An empty body is `{}`.
 */
export async function readFormOrJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const text = (await readBody(req, MAX_BODY_BYTES)).toString("utf8");
  const type = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
  if (text.trim() === "") return {};
  if (type === "application/x-www-form-urlencoded") {
    const out: Record<string, unknown> = {};
    for (const [key, value] of new URLSearchParams(text)) setPath(out, key.split("."), value);
    return out;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text) as unknown;
  } catch (err) {
    throw new KratosHttpError(400, undefined, `The request body is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new KratosHttpError(400, undefined, "The request body must be a JSON object.");
  }
  return parsed as Record<string, unknown>;
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: string): void {
  const [head, ...rest] = path;
  if (head === undefined || head === "__proto__" || head === "constructor" || head === "prototype") return;
  if (rest.length === 0) {
    target[head] = value;
    return;
  }
  const next = target[head];
  const child = next !== null && typeof next === "object" && !Array.isArray(next) ? (next as Record<string, unknown>) : {};
  target[head] = child;
  setPath(child, rest, value);
}

/** True when the client asked for JSON (Kratos's `IsJSONRequest`: Accept or Content-Type says JSON). */
export function wantsJson(req: IncomingMessage): boolean {
  const accept = req.headers.accept ?? "";
  const type = req.headers["content-type"] ?? "";
  return /application\/json/i.test(accept) || /application\/json/i.test(type);
}

/** The value of a cookie, if present. */
export function cookieValue(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (header === undefined) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    const raw = part.slice(eq + 1).trim();
    try {
      return decodeURIComponent(raw);
    } catch {
      // A malformed escape is not a value anyone issued: treat the cookie as absent rather than fail.
      return undefined;
    }
  }
  return undefined;
}

/** Kratos's keyset pagination `Link` header for the next page. */
export function linkHeader(url: URL, pageSize: number, nextPageToken: string | undefined): Record<string, string> {
  const first = new URL(url);
  first.searchParams.delete("page_token");
  first.searchParams.set("page_size", String(pageSize));
  const links = [`<${first.pathname}${first.search}>; rel="first"`];
  if (nextPageToken !== undefined) {
    const next = new URL(first);
    next.searchParams.set("page_token", nextPageToken);
    links.push(`<${next.pathname}${next.search}>; rel="next"`);
  }
  return { link: links.join(",") };
}
