/**
 * The API port's HTTP routes (Oathkeeper's 4456): `/decisions[/*]` for nginx `auth_request`, Traefik
 * forwardAuth and Envoy's HTTP ext_authz (200 with the mutated headers, or the error handler's answer),
 * `GET /rules`, `GET /rules/{id}` and the `id_token` mutator's `GET /.well-known/jwks.json`.
 *
 * The decided request is rebuilt from `X-Forwarded-Method/-Proto/-Host/-Uri` only when the peer is a trusted
 * proxy; otherwise from the request itself with the `/decisions` prefix removed.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { NotFoundError, InvalidArgumentError, httpStatusOf, oryErrorBodyOf, toGatehouseError, type GatehouseError } from "../../../common/errors.js";
import { setRouteTemplate } from "../../../gateways/server/plane-server.js";
import type { AccessRule } from "../rules/rule.js";
import type { SigningKeySource } from "../pipeline/deps.js";
import type { AccessPipeline, PipelineRequest } from "../pipeline/types.js";
import { addressedUrl, clientAddress, fromTrustedProxy, requestHost, requestScheme, type TrustedProxies } from "./forwarded.js";

export interface ApiRoutesOptions {
  readonly pipeline: AccessPipeline;
  /** Peers whose `X-Forwarded-*` describe the request to decide (nginx, Traefik, Envoy). */
  readonly trustedProxies: TrustedProxies;
  readonly rules: () => readonly AccessRule[];
  readonly rule: (id: string) => AccessRule | undefined;
  readonly signingKeys?: SigningKeySource;
}

const DECISIONS = "/decisions";

function first(value: string | string[] | undefined): string | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  return v === undefined || v === "" ? undefined : v;
}

/** The request nginx/Traefik/Envoy asks about. */
export function decisionRequestOf(req: IncomingMessage, trusted: TrustedProxies): PipelineRequest {
  const trust = fromTrustedProxy(req, trusted);
  const target = req.url ?? "/";
  const rest = target.slice(DECISIONS.length);
  const ownPath = rest === "" || rest.startsWith("?") ? `/${rest}` : rest;
  const forwardedUri = trust ? first(req.headers["x-forwarded-uri"]) : undefined;
  const forwardedMethod = trust ? first(req.headers["x-forwarded-method"]) : undefined;
  if (forwardedMethod !== undefined && !/^[A-Za-z]+$/.test(forwardedMethod)) {
    throw new InvalidArgumentError(`X-Forwarded-Method "${forwardedMethod.slice(0, 20)}" is not an HTTP method`, { details: { field: "X-Forwarded-Method" } });
  }
  return {
    method: (forwardedMethod ?? req.method ?? "GET").toUpperCase(),
    url: addressedUrl(requestScheme(req, trust), requestHost(req, trust), forwardedUri ?? ownPath),
    headers: req.headers,
    remoteAddress: clientAddress(req, trusted),
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

function sendError(res: ServerResponse, error: GatehouseError): void {
  sendJson(res, httpStatusOf(error), oryErrorBodyOf(error));
}

/** A rule as Oathkeeper's API shows it (single `authorizer` when there is one). */
export function ruleJson(rule: AccessRule): Record<string, unknown> {
  const handler = (h: { handler: string; config?: unknown }) => ({ handler: h.handler, config: h.config ?? {} });
  const json: Record<string, unknown> = {
    id: rule.id,
    version: rule.version ?? "",
    description: rule.description ?? "",
    match: { url: rule.match.url, methods: rule.match.methods, ...(rule.match.headers === undefined ? {} : { headers: rule.match.headers }) },
    authenticators: rule.authenticators.map(handler),
    ...(rule.authorizers.length === 1 ? { authorizer: handler(rule.authorizers[0] as AccessRule["authorizers"][number]) } : { authorizers: rule.authorizers.map(handler) }),
    mutators: rule.mutators.map(handler),
    errors: rule.errors.map(handler),
    upstream: { url: rule.upstream?.url ?? "", preserve_host: rule.upstream?.preserve_host ?? false, strip_path: rule.upstream?.strip_path ?? "" },
  };
  if (rule.priority !== 0) json["priority"] = rule.priority;
  return json;
}

/** The REST handler of the API port. */
export function createApiRoutes(options: ApiRoutesOptions): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  async function decisions(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // The decided request's body is not needed (the pipeline reads headers only); drain it.
    req.resume();
    let request: PipelineRequest;
    try {
      request = decisionRequestOf(req, options.trustedProxies);
    } catch (error) {
      sendError(res, toGatehouseError(error));
      return;
    }
    const decision = await options.pipeline.decide(request);
    if (decision.kind === "allow") {
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(decision.headers)) if (name.toLowerCase() !== "content-length") headers[name] = value;
      res.writeHead(200, { ...headers, "content-length": 0 });
      res.end();
      return;
    }
    const { status, headers, body } = decision.response;
    res.writeHead(status, { ...headers, "content-length": Buffer.byteLength(body) });
    res.end(body);
  }

  return async (req, res) => {
    const target = req.url ?? "/";
    if (target === DECISIONS || target.startsWith(`${DECISIONS}/`) || target.startsWith(`${DECISIONS}?`)) {
      setRouteTemplate(res, "/decisions/*");
      await decisions(req, res);
      return true;
    }
    const path = target.split("?")[0] as string;
    if (req.method !== "GET" && req.method !== "HEAD") return false;
    if (path === "/rules") {
      const query = new URLSearchParams(target.includes("?") ? target.slice(target.indexOf("?") + 1) : "");
      const all = options.rules();
      const limit = query.has("limit") ? Number(query.get("limit")) : all.length;
      const offset = query.has("offset") ? Number(query.get("offset")) : 0;
      if (!Number.isInteger(limit) || limit < 0) return sendError(res, new InvalidArgumentError("limit must be a non-negative integer", { details: { field: "limit" } })), true;
      if (!Number.isInteger(offset) || offset < 0) return sendError(res, new InvalidArgumentError("offset must be a non-negative integer", { details: { field: "offset" } })), true;
      sendJson(res, 200, all.slice(offset, offset + limit).map(ruleJson));
      return true;
    }
    if (path.startsWith("/rules/")) {
      setRouteTemplate(res, "/rules/{id}");
      const id = decodeURIComponent(path.slice("/rules/".length));
      const rule = options.rule(id);
      if (rule === undefined) sendError(res, new NotFoundError(`no rule with id "${id}"`, { reason: "rule_not_found" }));
      else sendJson(res, 200, ruleJson(rule));
      return true;
    }
    if (path === "/.well-known/jwks.json") {
      const jwks = options.signingKeys === undefined ? { keys: [] } : await options.signingKeys.publicJwks();
      sendJson(res, 200, jwks, { "cache-control": "max-age=60" });
      return true;
    }
    return false;
  };
}
