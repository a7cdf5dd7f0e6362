/**
 * Rate limiting of login and registration submissions (per client IP, and per identifier for logins), as
 * the `beforeSubmit` hook of the public routes: a refused submission answers 429 with `Retry-After`, before
 * any password is hashed or verified.
 */
import type { IncomingMessage } from "node:http";
import type { SubmissionHook } from "../api/public-routes.js";
import { KratosHttpError } from "../api/http-io.js";
import type { FlowKind } from "../model.js";
import type { SubmitRateLimiter } from "./submit-limits.js";

/**
 * The client's address: the socket's peer. Forwarded headers are not trusted here (any client can set
 * them); behind a proxy, limits apply per proxy address until trusted proxies are configurable.
 */
function clientIp(req: IncomingMessage): string | undefined {
  return req.socket.remoteAddress;
}

/** The identifier a submission names: the login identifier, or a registration's email-like traits. */
function identifierOf(kind: FlowKind, body: Readonly<Record<string, unknown>>): string | undefined {
  if (kind === "login") {
    const id = body["identifier"] ?? body["password_identifier"];
    return typeof id === "string" && id.trim() !== "" ? id : undefined;
  }
  const traits = body["traits"];
  if (traits !== null && typeof traits === "object" && !Array.isArray(traits)) {
    const email = (traits as Record<string, unknown>)["email"];
    if (typeof email === "string" && email.trim() !== "") return email;
  }
  return undefined;
}

/** The hook refusing submissions over the limits with 429 and `Retry-After`. */
export function rateLimitSubmissions(limiters: Readonly<Record<FlowKind, SubmitRateLimiter>>): SubmissionHook {
  return async (kind, _flow, body, req) => {
    const ip = clientIp(req);
    const identifier = identifierOf(kind, body);
    const decision = await limiters[kind].consume({ ...(ip === undefined ? {} : { ip }), ...(identifier === undefined ? {} : { identifier }) });
    if (decision.allowed) return;
    const who = decision.scope === "identifier" ? "for this account" : "from this address";
    const error = new KratosHttpError(
      429,
      "rate_limit_exceeded",
      "Too many requests",
      `Too many ${kind} attempts ${who}; try again in ${decision.retryAfterSeconds} seconds.`,
    );
    error.headers["retry-after"] = String(decision.retryAfterSeconds);
    throw error;
  };
}
