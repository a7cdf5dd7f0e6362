/**
 * Connections to a Gatehouse server: one native-gRPC transport (HTTP/2: h2c, or TLS for https://) per endpoint,
 * the API key on every request, and every failed call turned into a `RequestError` whose message a person
 * can act on: the server's own message, or why the endpoint could not be reached and which setting names it.
 */
import { Code, ConnectError, createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import type { DescService } from "@bufbuild/protobuf";
import { parseIntFlag } from "./args.js";
import { RequestError, UsageError } from "./errors.js";
import type { ClientIo } from "./io.js";

/** Which plane a command talks to; it picks the default port and environment variable. */
export type Plane = "read" | "write";

const planeDefaults: Record<Plane, { env: string; address: string }> = {
  read: { env: "GATEHOUSE_READ_ENDPOINT", address: "127.0.0.1:4466" },
  write: { env: "GATEHOUSE_WRITE_ENDPOINT", address: "127.0.0.1:4467" },
};

/** The flags that shape a connection. */
export interface ConnectionFlags {
  endpoint?: string | undefined;
  "api-key"?: string | undefined;
  timeout?: string | undefined;
}

/** An open connection to one endpoint; `close` ends its HTTP/2 session so the process can exit. */
export interface Connection {
  /** The endpoint as the user gave it (or the default), for messages. */
  readonly endpoint: string;
  readonly transport: Transport;
  client<S extends DescService>(service: S): Client<S>;
  /** The `RequestError` of a failed call on this connection. */
  failure(err: unknown): RequestError;
  close(): void;
}

/** The base URL of an endpoint: `HOST:PORT` is cleartext (h2c); an `http://` or `https://` URL is kept. */
export function endpointUrl(endpoint: string): string {
  const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint) ? endpoint : `http://${endpoint}`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--endpoint: "${endpoint}" is not HOST:PORT or an http(s) URL`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new UsageError(`--endpoint: "${endpoint}" must be HOST:PORT or an http:// or https:// URL`);
  }
  if (parsed.hostname === "") throw new UsageError(`--endpoint: "${endpoint}" names no host`);
  return url.replace(/\/+$/, "");
}

/** Socket-level error codes that mean "nothing answered there", as opposed to an answer that is an error. */
const unreachableCodes = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "ETIMEDOUT", "ECONNRESET"]);

function socketCode(err: ConnectError): string | undefined {
  const cause = err.cause as { code?: unknown } | undefined;
  return typeof cause?.code === "string" ? cause.code : undefined;
}

/** Connect's name of a status code in the form the gRPC docs use: `invalid_argument`, `unauthenticated`. */
export function codeName(code: Code): string {
  return (Code[code] ?? `code ${String(code)}`).replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}

/** The `RequestError` of a failed call on `endpoint` of `plane`. */
export function requestErrorOf(err: unknown, endpoint: string, plane: Plane, timeoutMs: number): RequestError {
  const e = ConnectError.from(err);
  const setting = `--endpoint or ${planeDefaults[plane].env}`;
  const code = socketCode(e);
  if (e.code === Code.Unavailable && code !== undefined && unreachableCodes.has(code)) {
    return new RequestError(`cannot reach the ${plane} endpoint ${endpoint}: ${e.rawMessage}; is the server running there? (set ${setting})`, { cause: e });
  }
  if (e.code === Code.DeadlineExceeded && e.rawMessage.includes("timed out")) {
    return new RequestError(`no answer from the ${plane} endpoint ${endpoint} within ${timeoutMs / 1000} s (--timeout)`, { cause: e });
  }
  if (e.code === Code.Unauthenticated) {
    return new RequestError(`${codeName(e.code)}: ${e.rawMessage} (give the key with --api-key or GATEHOUSE_API_KEY)`, { cause: e });
  }
  if (e.code === Code.Unimplemented) {
    return new RequestError(`${codeName(e.code)}: ${e.rawMessage} (is ${endpoint} the ${plane} endpoint? set ${setting})`, { cause: e });
  }
  return new RequestError(`${codeName(e.code)}: ${e.rawMessage}`, { cause: e });
}

/** Opens a connection to the endpoint of `plane` named by the flags, the environment or the default. */
export function openConnection(plane: Plane, flags: ConnectionFlags, io: ClientIo): Connection {
  const env = io.env ?? process.env;
  const endpoint = flags.endpoint ?? env[planeDefaults[plane].env] ?? planeDefaults[plane].address;
  const apiKey = flags["api-key"] ?? env.GATEHOUSE_API_KEY;
  const timeoutMs = (parseIntFlag(flags.timeout, "timeout", 1, 3600) ?? 30) * 1000;
  const baseUrl = endpointUrl(endpoint);
  const interceptors: Interceptor[] = [
    (next) => (request) => {
      if (apiKey !== undefined && apiKey !== "") request.header.set("Authorization", `Bearer ${apiKey}`);
      return next(request);
    },
  ];
  // An own session manager, so that `close` can end the HTTP/2 session instead of leaving it to idle out.
  const sessionManager = new Http2SessionManager(baseUrl);
  const transport = createGrpcTransport({ baseUrl, sessionManager, interceptors, defaultTimeoutMs: timeoutMs });
  return {
    endpoint,
    transport,
    client: (service) => createClient(service, transport),
    failure: (err) => requestErrorOf(err, endpoint, plane, timeoutMs),
    close: () => sessionManager.abort(),
  };
}

/**
 * Opens a connection, runs `body` with it and closes it whatever happens. A failed call (a `ConnectError`)
 * leaves as a `RequestError`. (An interceptor cannot do this: the client wraps whatever one throws back
 * into a `ConnectError`.)
 */
export async function withConnection<T>(plane: Plane, flags: ConnectionFlags, io: ClientIo, body: (c: Connection) => Promise<T>): Promise<T> {
  const connection = openConnection(plane, flags, io);
  try {
    return await body(connection);
  } catch (err) {
    throw err instanceof ConnectError ? connection.failure(err) : err;
  } finally {
    connection.close();
  }
}
