/**
 * Keto's REST API as one request handler per port. The plane server calls it in front of Connect's routes:
 * it answers Keto's paths for its plane and returns false for anything else (health and version belong to
 * the server).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { KetoPlane } from "./grpc-services.js";
import { resolveKetoOptions, type KetoGatewayOptions } from "./options.js";
import { DEFAULT_MAX_BODY_BYTES, sendError } from "./rest-io.js";
import { oplRoutes } from "./rest-opl-routes.js";
import { readRoutes } from "./rest-read-routes.js";
import type { RestRoute } from "./rest-route.js";
import { writeRoutes } from "./rest-write-routes.js";

/** Options of `createKetoRestHandler`. */
export interface KetoRestOptions extends KetoGatewayOptions {
  /** Which Keto port this handler serves: read (4466), write (4467) or opl (4469). */
  plane: KetoPlane;
  /** Cap on request bodies; larger ones get 413. Default 10 MiB. */
  maxBodyBytes?: number;
}

/** A Node request handler; resolves true when it answered the request, false when the path is not Keto's. */
export type KetoRestHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

/** Creates the REST handler of one Keto plane. */
export function createKetoRestHandler(options: KetoRestOptions): KetoRestHandler {
  const o = resolveKetoOptions(options);
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const routes: Map<string, RestRoute> =
    options.plane === "read" ? readRoutes(o, maxBodyBytes) : options.plane === "write" ? writeRoutes(o, maxBodyBytes) : oplRoutes(maxBodyBytes);
  return async (req, res) => {
    const url = new URL(req.url ?? "/", "http://keto.invalid");
    const route = routes.get(`${req.method ?? "GET"} ${url.pathname}`);
    if (route === undefined) return false;
    try {
      await route(req, res, url);
    } catch (err) {
      if (res.headersSent) res.destroy();
      else sendError(res, err);
    }
    return true;
  };
}
