/**
 * The Prometheus scrape endpoint: `GET /metrics`, and `GET /metrics/prometheus` (the path Keto serves on its
 * metrics port 4468), in the Prometheus text format.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Registry } from "prom-client";

/** The paths the metrics are served at. */
export const metricsPaths: readonly string[] = ["/metrics", "/metrics/prometheus"];

/** Answers scrapes of the registry; returns false for every other request. */
export function createMetricsRestHandler(registry: Registry): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  return async (req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") return false;
    const path = (req.url ?? "").split("?", 1)[0] ?? "";
    if (!metricsPaths.includes(path)) return false;
    const text = await registry.metrics();
    res.writeHead(200, { "content-type": registry.contentType, "content-length": Buffer.byteLength(text) });
    res.end(req.method === "HEAD" ? undefined : text);
    return true;
  };
}
