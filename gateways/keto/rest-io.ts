/** HTTP plumbing of the Keto REST handler: bounded bodies, JSON in and out, Ory error envelopes. */
import type { IncomingMessage, ServerResponse } from "node:http";
import { toKetoError } from "./keto-errors.js";
import {
  InvalidArgumentError,
  LimitExceededError,
  httpStatusOf,
  oryErrorBodyOf,
  toGatehouseError,
  type GatehouseError,
} from "../../common/errors.js";

/** Default cap on request bodies. */
export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;

const BODY_TOO_LARGE = "request_body_too_large";

/**
 * Reads the whole body, failing with `limit_exceeded` (sent as 413) past `maxBytes`. Stops reading at the
 * cap instead of buffering an arbitrarily large upload.
 */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? "0");
  const tooLarge = () =>
    new LimitExceededError(`request body exceeds ${maxBytes} bytes`, { reason: BODY_TOO_LARGE, details: { maxBytes } });
  if (declared > maxBytes) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > maxBytes) throw tooLarge();
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/** Parses a JSON body; malformed JSON is `invalid_argument` naming the problem. */
export async function readJson(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const text = (await readBody(req, maxBytes)).toString("utf8");
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new InvalidArgumentError(`request body: malformed JSON: ${why}`, { details: { field: "body" }, reason: "malformed_json" });
  }
}

/** Sends a JSON body with a status and optional extra headers. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** Sends 204 No Content. */
export function sendNoContent(res: ServerResponse): void {
  res.writeHead(204);
  res.end();
}

/** The HTTP status of an error; an oversized body is 413, which the shared model has no kind for. */
function statusOf(err: GatehouseError): number {
  return err.reason === BODY_TOO_LARGE ? 413 : httpStatusOf(err);
}

/** Sends anything thrown as Ory's error envelope (unexpected errors stay generic). */
export function sendError(res: ServerResponse, error: unknown): void {
  const err = toKetoError(error);
  const status = statusOf(err);
  const body = oryErrorBodyOf(err);
  if (status === 413) {
    body.error.code = 413;
    body.error.status = "Payload Too Large";
    // The rest of the upload is never read, so the connection cannot carry another request.
    sendJson(res, status, body, { connection: "close" });
    return;
  }
  sendJson(res, status, body);
}
