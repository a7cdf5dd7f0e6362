/**
 * Keto's plain-HTTP health and version endpoints, served on every plane:
 * `GET /health/alive` → 200 `{"status":"ok"}` as long as the process answers;
 * `GET /health/ready` → 200 `{"status":"ok"}`, or 503 `{"errors":{"<name>":"<reason>"}}` when a readiness
 * check fails (Keto's shapes; an owner may add facts such as the applied revision next to them); `GET /version` → `{"version":"<version>"}`.
 */
import type { IncomingMessage, ServerResponse } from "node:http";

/** Failed readiness checks by name, with a reason each; empty when ready. */
export type ReadinessErrors = Readonly<Record<string, string>>;

/** Reports what keeps the plane from being ready (e.g. `{database: "connection refused"}`). */
export type ReadinessCheck = () => ReadinessErrors | Promise<ReadinessErrors>;

/** Options for `createHealthRestHandler`. */
export interface HealthRestOptions {
  /** Readiness check consulted on each `/health/ready`. Default: always ready. */
  readiness?: ReadinessCheck;
  /** The version `/version` reports. */
  version: string;
  /** Facts added to the `/health/ready` body either way (e.g. the applied revision); keys must not be `status` or `errors`. */
  readinessDetails?: () => Record<string, unknown>;
}

/** Handles the health and version endpoints; returns false for every other request. */
export type HealthRestHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

/** Creates the handler for `/health/alive`, `/health/ready` and `/version`. */
export function createHealthRestHandler(options: HealthRestOptions): HealthRestHandler {
  return async (req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") return false;
    const path = (req.url ?? "").split("?", 1)[0];
    switch (path) {
      case "/health/alive":
        sendJson(res, 200, { status: "ok" });
        return true;
      case "/health/ready": {
        const errors = await readinessErrors(options.readiness);
        const details = options.readinessDetails?.() ?? {};
        if (Object.keys(errors).length === 0) sendJson(res, 200, { ...details, status: "ok" });
        else sendJson(res, 503, { ...details, errors });
        return true;
      }
      case "/version":
        sendJson(res, 200, { version: options.version });
        return true;
      default:
        return false;
    }
  };
}

async function readinessErrors(check: ReadinessCheck | undefined): Promise<ReadinessErrors> {
  if (check === undefined) return {};
  try {
    return await check();
  } catch {
    // A check that throws is a check that failed; its text may be internal, so don't pass it on.
    return { readiness: "readiness check failed" };
  }
}

/** Writes a JSON response; shared by the plane server for its own error bodies. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
  });
  res.end(res.req.method === "HEAD" ? undefined : text);
}
