/**
 * Where a bearer token is read from (`token_from`, Oathkeeper's `BearerTokenLocation`): by default the
 * `Authorization: Bearer <token>` header; or a named header (its whole value; `Authorization` keeps the
 * `Bearer` parsing), a query parameter, or a cookie. Exactly one location may be given.
 */
import type { ConfigReader } from "../config-reader.js";
import type { PipelineRequest } from "../types.js";
import { headerValue, nested, parseCookies, rejectUnknownKeys } from "./shared.js";

export type TokenLocation =
  | { readonly kind: "authorization" }
  | { readonly kind: "header"; readonly name: string }
  | { readonly kind: "query"; readonly name: string }
  | { readonly kind: "cookie"; readonly name: string };

export const DEFAULT_TOKEN_LOCATION: TokenLocation = { kind: "authorization" };

export function readTokenLocation(reader: ConfigReader, config: Readonly<Record<string, unknown>>): TokenLocation {
  const block = reader.child("token_from");
  const raw = nested(config, "token_from");
  rejectUnknownKeys(block, raw, ["header", "query_parameter", "cookie"]);
  const given = (["header", "query_parameter", "cookie"] as const).filter((k) => block.has(k));
  if (given.length === 0) return DEFAULT_TOKEN_LOCATION;
  if (given.length > 1) throw reader.error("token_from", `must name exactly one of header, query_parameter, cookie (got ${given.join(", ")})`);
  const key = given[0] as "header" | "query_parameter" | "cookie";
  const name = block.requiredString(key);
  if (key === "header") {
    const lower = name.toLowerCase();
    return lower === "authorization" ? DEFAULT_TOKEN_LOCATION : { kind: "header", name: lower };
  }
  return key === "query_parameter" ? { kind: "query", name } : { kind: "cookie", name };
}

/** The `Bearer` credential of an `Authorization` value (scheme case-insensitive), or undefined. */
export function bearerOf(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  const space = authorization.indexOf(" ");
  if (space === -1 || authorization.slice(0, space).toLowerCase() !== "bearer") return undefined;
  const token = authorization.slice(space + 1);
  return token === "" ? undefined : token;
}

/** The token at `location`, or undefined when absent or empty. */
export function tokenFromRequest(request: PipelineRequest, location: TokenLocation): string | undefined {
  let token: string | undefined | null;
  switch (location.kind) {
    case "authorization":
      return bearerOf(headerValue(request.headers, "authorization"));
    case "header":
      token = headerValue(request.headers, location.name);
      break;
    case "query":
      token = request.url.searchParams.get(location.name);
      break;
    case "cookie":
      token = parseCookies(request.headers).get(location.name);
      break;
  }
  return token === undefined || token === null || token === "" ? undefined : token;
}
