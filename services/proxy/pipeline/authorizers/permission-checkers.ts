/**
 * The two ways the `permission` authorizer reaches the authz engine: in the same process (one function call),
 * or over gRPC to the read plane's `gatehouse.authz.v1.PermissionService/Check` when the gateway runs apart.
 * Both answer with the engine's errors: `invalid_argument`/`not_found` for what the schema lacks,
 * `unavailable` when the engine cannot answer now.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import {
  GatehouseError,
  InvalidArgumentError,
  LimitExceededError,
  NotFoundError,
  UnavailableError,
} from "../../../../common/errors.js";
import type { PermissionEngine } from "../../../../engine/permission-engine.js";
import type { RelationTuple } from "../../../../engine/tuple.js";
import { relationshipToProto } from "../../../../gateways/authz/convert.js";
import { PermissionService } from "../../../../proto/gen/gatehouse/authz/v1/permission_service_pb.js";
import type { PermissionChecker } from "../deps.js";
import { UpstreamServiceError } from "../errors.js";

/** The engine in this process, at its default consistency (the quantized `minimize_latency`). */
export function engineChecker(engine: Pick<PermissionEngine, "check">): PermissionChecker {
  return {
    async check(tuple: RelationTuple): Promise<boolean> {
      const result = await engine.check({ namespace: tuple.namespace, object: tuple.object, relation: tuple.relation, subject: tuple.subject });
      return result.allowed;
    },
  };
}

export interface RemoteCheckerOptions {
  /** The read plane: `HOST:PORT` (cleartext HTTP/2) or an `http://` / `https://` URL. */
  readonly url: string;
  /** Per check. Default 5 000. */
  readonly timeoutMillis?: number;
}

/** The base URL of `url`: `HOST:PORT` means cleartext HTTP/2, as the CLI reads endpoints. */
function baseUrlOf(url: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `http://${url}`;
  let parsed: URL;
  try {
    parsed = new URL(withScheme);
  } catch {
    throw new InvalidArgumentError(`the authz read endpoint "${url}" is not HOST:PORT or an http(s) URL`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new InvalidArgumentError(`the authz read endpoint "${url}" must be HOST:PORT or an http:// or https:// URL`);
  }
  return withScheme.replace(/\/+$/, "");
}

/** The Gatehouse error of a failed call, keeping the server's message where it is meant for clients. */
function errorOf(err: unknown, endpoint: string): GatehouseError {
  if (err instanceof GatehouseError) return err;
  const e = ConnectError.from(err);
  switch (e.code) {
    case Code.Unavailable:
    case Code.DeadlineExceeded:
      return new UnavailableError(`the authz service at ${endpoint} is unavailable: ${e.rawMessage}`, { cause: e });
    case Code.InvalidArgument:
      return new InvalidArgumentError(e.rawMessage, { cause: e });
    case Code.NotFound:
      return new NotFoundError(e.rawMessage, { cause: e });
    case Code.ResourceExhausted:
      return new LimitExceededError(e.rawMessage, { cause: e });
    default:
      return new UpstreamServiceError(`the authz service at ${endpoint} failed the check: ${e.rawMessage}`, { cause: e });
  }
}

/** A gRPC client of the read plane; `close` ends its HTTP/2 session. */
export function remoteChecker(options: RemoteCheckerOptions): PermissionChecker & { close(): void } {
  const baseUrl = baseUrlOf(options.url);
  // An own session manager, so that `close` can end the HTTP/2 session instead of leaving it to idle out.
  const sessionManager = new Http2SessionManager(baseUrl);
  const transport = createGrpcTransport({ baseUrl, sessionManager, defaultTimeoutMs: options.timeoutMillis ?? 5_000 });
  const client = createClient(PermissionService, transport);
  return {
    async check(tuple: RelationTuple): Promise<boolean> {
      try {
        const response = await client.check({ relationship: relationshipToProto(tuple) });
        return response.allowed;
      } catch (err) {
        throw errorOf(err, baseUrl);
      }
    },
    close() {
      sessionManager.abort();
    },
  };
}
