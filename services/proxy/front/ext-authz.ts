/**
 * Envoy's external authorization gRPC API (`envoy.service.auth.v3.Authorization/Check`) in front of the
 * access pipeline, served on the decision port next to the HTTP decisions API (grpc-js serves it over h2c).
 * Envoy's `ext_authz` filter (and Istio's CUSTOM policies with an `envoy_ext_authz_grpc` provider) ask it
 * about every request; the answer is the same decision the reverse proxy and `/decisions` would make.
 *
 * - Allowed: status OK, and the mutators' headers set on the upstream request (overwriting what the client
 *   sent, so a client can't smuggle in its own `X-User`; empty values are kept for the same reason).
 * - Denied: a non-OK status matching the HTTP status (401 UNAUTHENTICATED, 403 PERMISSION_DENIED, …) and the
 *   error handler's response (status, headers such as `Location` or `WWW-Authenticate`, body) for the client.
 * - A CheckRequest without a usable HTTP request: INVALID_ARGUMENT and a 400 naming the field — still a gRPC
 *   OK call, so Envoy shows the client that 400 instead of treating the authorization service as failed.
 */
import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import {
  HeaderValueOption_HeaderAppendAction,
  HeaderValueOptionSchema,
  type HeaderValueOption,
} from "../../../proto/gen/envoy/config/core/v3/base_pb.js";
import type { AttributeContext_HttpRequest } from "../../../proto/gen/envoy/service/auth/v3/attribute_context_pb.js";
import {
  Authorization,
  CheckResponseSchema,
  type CheckRequest,
  type CheckResponse,
} from "../../../proto/gen/envoy/service/auth/v3/external_auth_pb.js";
import { StatusSchema } from "../../../proto/gen/google/rpc/status_pb.js";
import { planeService, type PlaneService } from "../../../gateways/server/plane-server.js";
import type { AccessPipeline, Decision, PipelineRequest } from "../pipeline/types.js";

export interface ExtAuthzOptions {
  readonly pipeline: AccessPipeline;
  /** Called per Check with the outcome, for metrics (rule id or undefined, "allow" | "deny", HTTP status). */
  readonly onDecision?: (ruleId: string | undefined, outcome: "allow" | "deny", status: number) => void;
}

/** The `envoy.service.auth.v3.Authorization` service, for `createPlaneServer({ services: [...] })`. */
export function createExtAuthzService(options: ExtAuthzOptions): PlaneService {
  const report = options.onDecision ?? (() => {});
  return planeService(Authorization, {
    async check(request: CheckRequest): Promise<CheckResponse> {
      const read = pipelineRequestOf(request);
      if (typeof read === "string") {
        report(undefined, "deny", 400);
        return malformed(read);
      }
      const decision = await options.pipeline.decide(read);
      if (decision.kind === "allow") {
        report(decision.rule.id, "allow", 200);
        return allowed(decision);
      }
      report(decision.rule?.id, "deny", decision.response.status);
      return denied(decision);
    },
  });
}

const HTTP_FIELD = "attributes.request.http";
/** An HTTP method is a token (RFC 9110 §5.6.2). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/**
 * `host[:port]` or `[v6]:port`: RFC 3986 reg-name characters without percent-encoding, so nothing can move or
 * rewrite the URL's host (userinfo, path, query, escapes the URL parser would decode).
 */
const AUTHORITY = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~!$&'()*+,;=-]+)(?::\d{1,5})?$/;
/** Framing headers: Envoy computes its own for the local reply it sends. */
const FRAMING_HEADERS = new Set(["content-length", "transfer-encoding", "connection", "keep-alive"]);
const utf8 = new TextDecoder("utf-8");

/** The pipeline's view of the request Envoy asks about, or what is wrong with the CheckRequest. */
function pipelineRequestOf(request: CheckRequest): PipelineRequest | string {
  const attributes = request.attributes;
  const http = attributes?.request?.http;
  if (http === undefined) return `${HTTP_FIELD} is missing`;
  if (http.method === "") return `${HTTP_FIELD}.method is missing`;
  if (!TOKEN.test(http.method)) return `${HTTP_FIELD}.method is not a valid HTTP method`;
  if (http.host === "") return `${HTTP_FIELD}.host is missing`;
  if (!AUTHORITY.test(http.host)) return `${HTTP_FIELD}.host is not a valid host`;
  if (http.path === "") return `${HTTP_FIELD}.path is missing`;
  if (!http.path.startsWith("/")) return `${HTTP_FIELD}.path must start with "/"`;
  const scheme = http.scheme === "" ? "http" : http.scheme.toLowerCase();
  if (scheme !== "http" && scheme !== "https") return `${HTTP_FIELD}.scheme must be http or https`;
  let url: URL;
  try {
    url = new URL(`${scheme}://${http.host}${http.path}`);
  } catch {
    return `${HTTP_FIELD}.host and .path do not form a valid URL`;
  }
  const address = attributes?.source?.address?.address;
  return {
    method: http.method.toUpperCase(),
    url,
    headers: headersOf(http),
    remoteAddress: address?.case === "socketAddress" ? address.value.address : "",
  };
}

/**
 * The request headers: the `headers` map, or the `header_map` list when Envoy sends raw headers (repeated
 * names joined with ",", cookies with "; " as HTTP/2 does). Pseudo headers are dropped; `host` is added from
 * the authority when missing (HTTP/2 requests have only `:authority`), as the HTTP front doors see it.
 */
function headersOf(http: AttributeContext_HttpRequest): Record<string, string> {
  // A Map, so that a header named `__proto__` stays a header.
  const headers = new Map<string, string>();
  const add = (name: string, value: string): void => {
    const key = name.toLowerCase();
    if (key.startsWith(":")) return;
    const previous = headers.get(key);
    headers.set(key, previous === undefined ? value : `${previous}${key === "cookie" ? "; " : ","}${value}`);
  };
  const map = Object.entries(http.headers);
  if (map.length > 0) {
    for (const [name, value] of map) add(name, value);
  } else {
    for (const header of http.headerMap?.headers ?? []) {
      add(header.key, header.value !== "" || header.rawValue.length === 0 ? header.value : utf8.decode(header.rawValue));
    }
  }
  if (!headers.has("host")) headers.set("host", http.host);
  return Object.fromEntries(headers);
}

/** A header to set on the upstream request or the client's response, replacing any value already there. */
function overwrite(name: string, value: string): HeaderValueOption {
  return create(HeaderValueOptionSchema, {
    header: { key: name.toLowerCase(), value },
    appendAction: HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
    // Envoy drops empty values by default, which would leave the client's own value of the header in place.
    keepEmptyValue: true,
  });
}

function allowed(decision: Extract<Decision, { kind: "allow" }>): CheckResponse {
  return create(CheckResponseSchema, {
    // gRPC's OK (connect's Code enum has no member for it).
    status: create(StatusSchema, { code: 0 }),
    httpResponse: {
      case: "okResponse",
      value: { headers: Object.entries(decision.headers).map(([name, value]) => overwrite(name, value)) },
    },
  });
}

function denied(decision: Extract<Decision, { kind: "deny" }>): CheckResponse {
  const { status, headers, body } = decision.response;
  return create(CheckResponseSchema, {
    status: create(StatusSchema, { code: grpcCodeOfHttpStatus(status), message: decision.error.message }),
    httpResponse: {
      case: "deniedResponse",
      value: {
        status: { code: status },
        headers: Object.entries(headers)
          .filter(([name]) => !FRAMING_HEADERS.has(name.toLowerCase()))
          .map(([name, value]) => overwrite(name, value)),
        body,
      },
    },
  });
}

function malformed(message: string): CheckResponse {
  return create(CheckResponseSchema, {
    status: create(StatusSchema, { code: Code.InvalidArgument, message }),
    httpResponse: {
      case: "deniedResponse",
      value: {
        status: { code: 400 },
        headers: [overwrite("content-type", "text/plain; charset=utf-8")],
        body: message,
      },
    },
  });
}

/**
 * The gRPC code of a denial with this HTTP status. Never OK: any non-OK code denies, Envoy then answers with
 * the denied response's HTTP status. Redirects (login pages) are denials of the request as asked.
 */
export function grpcCodeOfHttpStatus(status: number): Code {
  switch (status) {
    case 400:
      return Code.InvalidArgument;
    case 401:
      return Code.Unauthenticated;
    case 403:
      return Code.PermissionDenied;
    case 404:
      return Code.NotFound;
    case 429:
      return Code.ResourceExhausted;
    case 502:
    case 503:
    case 504:
      return Code.Unavailable;
    default:
      return status >= 500 && status <= 599 ? Code.Internal : Code.PermissionDenied;
  }
}
