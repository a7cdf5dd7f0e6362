/**
 * Turns a node:http request into the pipeline's view of it, trusting `X-Forwarded-*` only from trusted proxies.
 */
import type { IncomingMessage } from "node:http";
import type { PipelineRequest } from "../pipeline/types.js";
import { addressedUrl, clientAddress, fromTrustedProxy, requestHost, requestScheme, type TrustedProxies } from "./forwarded.js";

/** The request addressed at `pathAndQuery` (default: the request's own target). */
export function pipelineRequestOf(req: IncomingMessage, trusted: TrustedProxies, pathAndQuery?: string, method?: string): PipelineRequest {
  const trust = fromTrustedProxy(req, trusted);
  const url = addressedUrl(requestScheme(req, trust), requestHost(req, trust), pathAndQuery ?? req.url ?? "/");
  return {
    method: (method ?? req.method ?? "GET").toUpperCase(),
    url,
    headers: req.headers,
    remoteAddress: clientAddress(req, trusted),
  };
}
