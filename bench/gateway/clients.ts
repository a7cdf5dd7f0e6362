/**
 * The load generator's clients for figure group 9, both behind group 8's `HttpClient` interface so its
 * closed-loop `runWindow` (warm-up, HDR latency, every answer checked) drives them unchanged:
 *
 * - `createPoolClient`: undici keep-alive pools (one per origin, `connections` sockets, no pipelining), with
 *   the method of a `MethodRequest` (group 8's requests are all form POSTs; these are GETs);
 * - `createCheckClient`: Envoy's `Authorization/Check` over one grpc-js channel (h2c, one HTTP/2 connection
 *   carrying every call in flight); the prepared request's body is the encoded `CheckRequest`, the answer is
 *   decoded and summarized for `accept` as `<grpc status of the answer> <case> <header>=<value>;…`.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { Client, credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { Pool } from "undici";
import { CheckResponseSchema, type CheckResponse } from "../../proto/gen/envoy/service/auth/v3/external_auth_pb.js";
import type { HttpClient, PreparedRequest } from "../oauth2/load.js";

/** A prepared request with its method (default GET when the body is empty, POST otherwise). */
export interface MethodRequest extends PreparedRequest {
  readonly method?: "GET" | "POST";
}

/** A GET with these headers. */
export function getRequest(path: string, headers: Readonly<Record<string, string>>): MethodRequest {
  return { path, headers: { ...headers }, body: Buffer.alloc(0), method: "GET" };
}

/** An `HttpClient` over undici pools; `close()` destroys them (`closed()` waits for that). */
export function createPoolClient(connections: number): HttpClient & { closed(): Promise<void> } {
  const pools = new Map<string, Pool>();
  let closing: Promise<void> | undefined;
  return {
    async send(origin, req) {
      let pool = pools.get(origin.origin);
      if (pool === undefined) {
        pool = new Pool(origin.origin, { connections, pipelining: 1, keepAliveTimeout: 60_000 });
        pools.set(origin.origin, pool);
      }
      const method = (req as MethodRequest).method ?? (req.body.length === 0 ? "GET" : "POST");
      const res = await pool.request({
        path: req.path,
        method,
        headers: req.headers as Record<string, string>,
        body: method === "GET" ? null : req.body,
      });
      return { status: res.statusCode, body: await res.body.text() };
    },
    close() {
      closing ??= Promise.all([...pools.values()].map((p) => p.destroy())).then(() => pools.clear());
    },
    closed() {
      this.close();
      return closing as Promise<void>;
    },
  };
}

/** The method path of Envoy's ext_authz Check. */
export const CHECK_PATH = "/envoy.service.auth.v3.Authorization/Check";

/** `<status code> <case> <name>=<value>;…` of a CheckResponse (headers of an OK or a denied answer). */
export function summarizeCheck(response: CheckResponse): string {
  const headers = response.httpResponse.case === undefined ? [] : response.httpResponse.value.headers;
  const pairs = headers.map((h) => `${h.header?.key ?? ""}=${h.header?.value ?? ""}`).join(";");
  return `${response.status?.code ?? -1} ${response.httpResponse.case ?? "none"} ${pairs}`;
}

/**
 * An `HttpClient` sending each request's body (an encoded `CheckRequest`) as a Check call to `address`
 * (`host:port`, the gateway's API port); `status` is 200 when the call itself succeeded (the decision is in
 * the summarized body), 502 with the gRPC error otherwise. The origin passed to `send` is ignored.
 */
export function createCheckClient(address: string): HttpClient {
  const client = new Client(address, credentials.createInsecure());
  return {
    send(_origin, req) {
      return new Promise((resolve) => {
        client.makeUnaryRequest(
          CHECK_PATH,
          (bytes: Buffer) => bytes,
          (bytes: Buffer) => fromBinary(CheckResponseSchema, bytes),
          req.body,
          new Metadata(),
          {},
          (error: ServiceError | null, response?: CheckResponse) => {
            if (error !== null || response === undefined) resolve({ status: 502, body: error?.message ?? "no response" });
            else resolve({ status: 200, body: summarizeCheck(response) });
          },
        );
      });
    },
    close: () => client.close(),
  };
}
