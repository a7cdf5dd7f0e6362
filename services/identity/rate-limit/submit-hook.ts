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
 * The client's address. With `trustedProxyHops` 0 it is the socket's peer: forwarded headers are not
 * trusted, since any client can send them. Behind N proxies that append to `X-Forwarded-For` (Envoy, nginx,
 * an Ingress), the client is the N-th address from the right: entries left of it are the client's own claims.
 */
export function clientIp(req: IncomingMessage, trustedProxyHops = 0): string | undefined {
  if (trustedProxyHops > 0) {
    const header = req.headers["x-forwarded-for"];
    const list = (Array.isArray(header) ? header.join(",") : (header ?? "")).split(",").map((a) => a.trim()).filter((a) => a !== "");
    const candidate = list[list.length - trustedProxyHops];
    if (candidate !== undefined) return candidate;
  }
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
export function rateLimitSubmissions(limiters: Readonly<Record<FlowKind, SubmitRateLimiter>>, trustedProxyHops = 0): SubmissionHook {
  return async (kind, _flow, body, req) => {
    const ip = clientIp(req, trustedProxyHops);
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
