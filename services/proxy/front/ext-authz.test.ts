/**
 * The ext_authz service on a real plane server, called over h2c by a plain grpc-js client (not our generated
 * service code). One test hand-encodes the CheckRequest and hand-decodes the CheckResponse with the field
 * numbers Envoy documents, so a wrong number in our trimmed protos can't pass by agreeing with itself.
 */
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { Client, credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { GatehouseError } from "../../../common/errors.js";
import { createPlaneServer, type PlaneServer } from "../../../gateways/server/plane-server.js";
import { HeaderValueOption_HeaderAppendAction } from "../../../proto/gen/envoy/config/core/v3/base_pb.js";
import {
  CheckRequestSchema,
  CheckResponseSchema,
  type CheckRequest,
  type CheckResponse,
} from "../../../proto/gen/envoy/service/auth/v3/external_auth_pb.js";
import { StatusCode } from "../../../proto/gen/envoy/type/v3/http_status_pb.js";
import { ForbiddenError, UnauthorizedError } from "../pipeline/errors.js";
import type { AccessPipeline, Decision, DenialResponse, PipelineRequest } from "../pipeline/types.js";
import type { AccessRule } from "../rules/rule.js";
import { createExtAuthzService, grpcCodeOfHttpStatus } from "./ext-authz.js";

const CHECK = "/envoy.service.auth.v3.Authorization/Check";

// ---- the fake pipeline ------------------------------------------------------------------------------------

function rule(id: string): AccessRule {
  return {
    id,
    match: { url: "https://example.com/<**>", methods: ["GET", "POST"] },
    authenticators: [{ handler: "anonymous" }],
    authorizers: [{ handler: "allow" }],
    mutators: [{ handler: "header" }],
    errors: [{ handler: "json" }],
    priority: 0,
  };
}

function allow(request: PipelineRequest, headers: Record<string, string>): Decision {
  return {
    kind: "allow",
    rule: rule("api"),
    session: {
      subject: "alice",
      extra: {},
      header: { ...headers },
      matchContext: { regexpCaptureGroups: [], url: request.url, method: request.method, header: request.headers },
    },
    headers,
  };
}

/** `ruleId` undefined: no rule matched. */
function deny(error: GatehouseError, response: DenialResponse, ruleId: string | undefined): Decision {
  return { kind: "deny", rule: ruleId === undefined ? undefined : rule(ruleId), error, response };
}

const seen: PipelineRequest[] = [];
const outcomes: Array<[string | undefined, string, number]> = [];
let answer: (request: PipelineRequest) => Decision = (request) => allow(request, {});

const pipeline: AccessPipeline = {
  decide(request) {
    seen.push(request);
    return Promise.resolve(answer(request));
  },
};

// ---- server and client ------------------------------------------------------------------------------------

let server: PlaneServer;
let client: Client;

beforeAll(async () => {
  server = createPlaneServer({
    host: "127.0.0.1",
    port: 0,
    services: [createExtAuthzService({ pipeline, onDecision: (ruleId, outcome, status) => outcomes.push([ruleId, outcome, status]) })],
  });
  const { port } = await server.listen();
  client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
});

afterAll(async () => {
  client?.close();
  await server?.close();
});

beforeEach(() => {
  seen.length = 0;
  outcomes.length = 0;
  answer = (request) => allow(request, {});
});

function call<Req, Res>(request: Req, serialize: (r: Req) => Buffer, deserialize: (b: Buffer) => Res): Promise<Res> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(CHECK, serialize, deserialize, request, new Metadata(), {}, (error: ServiceError | null, response?: Res) => {
      if (error !== null) reject(error);
      else if (response === undefined) reject(new Error("no response"));
      else resolve(response);
    });
  });
}

/** A Check with protobuf-es's codec for the messages (still no generated client). */
function check(init: MessageInitShape<typeof CheckRequestSchema>): Promise<CheckResponse> {
  return call<CheckRequest, CheckResponse>(
    create(CheckRequestSchema, init),
    (message) => Buffer.from(toBinary(CheckRequestSchema, message)),
    (bytes) => fromBinary(CheckResponseSchema, bytes),
  );
}

/** A Check with bytes we encode and decode ourselves. */
function checkRaw(request: Uint8Array): Promise<Uint8Array> {
  return call<Uint8Array, Uint8Array>(request, (bytes) => Buffer.from(bytes), (bytes) => new Uint8Array(bytes));
}

type HttpInit = NonNullable<NonNullable<NonNullable<MessageInitShape<typeof CheckRequestSchema>["attributes"]>["request"]>["http"]>;

function httpCheck(http: HttpInit, source?: string): Promise<CheckResponse> {
  return check({
    attributes: {
      ...(source === undefined ? {} : { source: { address: { address: { case: "socketAddress", value: { address: source, portSpecifier: { case: "portValue", value: 51234 } } } } } }),
      request: { http },
    },
  });
}

const GET = { method: "GET", host: "example.com", path: "/", scheme: "https" };

// ---- a tiny protobuf codec, from the documented field numbers ----------------------------------------------

function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

/** Field `number` with wire type 2 (bytes, string, message). */
function lengthDelimited(number: number, payload: Uint8Array | string): number[] {
  const bytes = typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
  return [...varint((number << 3) | 2), ...varint(bytes.length), ...bytes];
}

const message = (...fields: number[][]): Uint8Array => new Uint8Array(fields.flat());

type Field = { number: number; varint?: number; bytes?: Uint8Array };

function decode(bytes: Uint8Array): Field[] {
  const fields: Field[] = [];
  let i = 0;
  const readVarint = (): number => {
    let result = 0;
    let scale = 1;
    for (;;) {
      const byte = bytes[i++];
      if (byte === undefined) throw new Error("truncated varint");
      result += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return result;
      scale *= 128;
    }
  };
  while (i < bytes.length) {
    const tag = readVarint();
    const number = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (wireType === 0) fields.push({ number, varint: readVarint() });
    else if (wireType === 2) {
      const length = readVarint();
      fields.push({ number, bytes: bytes.subarray(i, i + length) });
      i += length;
    } else throw new Error(`unexpected wire type ${wireType}`);
  }
  return fields;
}

const all = (fields: Field[], number: number): Field[] => fields.filter((f) => f.number === number);
function one(fields: Field[], number: number): Field {
  const found = all(fields, number);
  expect(found, `field ${number}`).toHaveLength(1);
  return found[0] as Field;
}
const sub = (fields: Field[], number: number): Field[] => decode(one(fields, number).bytes ?? new Uint8Array());
const text = (fields: Field[], number: number): string => new TextDecoder().decode(one(fields, number).bytes);

// ---- tests --------------------------------------------------------------------------------------------------

describe("ext_authz Check", () => {
  it("allows with the mutators' headers set on the upstream request and reports the outcome", async () => {
    answer = (request) => allow(request, { "X-User": "alice", "X-Roles": "admin,dev", "X-Empty": "" });
    const response = await httpCheck(
      { method: "post", host: "api.example.com", path: "/v1/items?limit=5&q=a%20b", scheme: "https", headers: { authorization: "Bearer t", "content-type": "application/json" } },
      "203.0.113.7",
    );

    expect(response.status?.code).toBe(0);
    expect(response.httpResponse.case).toBe("okResponse");
    const ok = response.httpResponse.case === "okResponse" ? response.httpResponse.value : undefined;
    expect(ok?.headers.map((h) => [h.header?.key, h.header?.value, h.appendAction, h.keepEmptyValue])).toEqual([
      ["x-user", "alice", HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD, true],
      ["x-roles", "admin,dev", HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD, true],
      ["x-empty", "", HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD, true],
    ]);
    expect(ok?.headersToRemove).toEqual([]);

    expect(seen).toHaveLength(1);
    const request = seen[0] as PipelineRequest;
    expect(request.method).toBe("POST");
    expect(request.url.href).toBe("https://api.example.com/v1/items?limit=5&q=a%20b");
    expect(request.url.searchParams.get("q")).toBe("a b");
    expect(request.headers).toEqual({ authorization: "Bearer t", "content-type": "application/json", host: "api.example.com" });
    expect(request.remoteAddress).toBe("203.0.113.7");
    expect(outcomes).toEqual([["api", "allow", 200]]);
  });

  it("reads hand-encoded CheckRequest bytes and answers with the documented field numbers", async () => {
    answer = (request) => allow(request, { "X-Subject": "bob" });
    const mapEntry = (key: string, value: string): number[] => lengthDelimited(3, message(lengthDelimited(1, key), lengthDelimited(2, value)));
    // CheckRequest.attributes(1) → AttributeContext.request(4) → Request.http(2) → HttpRequest
    // {method(2), headers(3, map entries {key 1, value 2}), path(4), host(5), scheme(6)}.
    const http = message(
      lengthDelimited(2, "get"),
      mapEntry(":authority", "shop.example.com:8443"),
      mapEntry(":path", "/cart?id=7"),
      mapEntry("x-trace", "abc"),
      lengthDelimited(4, "/cart?id=7"),
      lengthDelimited(5, "shop.example.com:8443"),
      lengthDelimited(6, "https"),
    );
    // AttributeContext.source(1) → Peer.address(1) → Address.socket_address(1) → SocketAddress.address(2).
    const source = message(lengthDelimited(1, message(lengthDelimited(1, message(lengthDelimited(2, "198.51.100.4"))))));
    const attributes = message(lengthDelimited(1, source), lengthDelimited(4, message(lengthDelimited(2, http))));
    const bytes = await checkRaw(message(lengthDelimited(1, attributes)));

    const request = seen[0] as PipelineRequest;
    expect(request.method).toBe("GET");
    expect(request.url.href).toBe("https://shop.example.com:8443/cart?id=7");
    expect(request.headers).toEqual({ "x-trace": "abc", host: "shop.example.com:8443" });
    expect(request.remoteAddress).toBe("198.51.100.4");

    // CheckResponse {status(1) google.rpc.Status {code 1}, ok_response(3) OkHttpResponse {headers(2)
    // HeaderValueOption {header(1) HeaderValue {key 1, value 2}, append_action(3), keep_empty_value(4)}}}.
    const response = decode(bytes);
    expect(all(sub(response, 1), 1).map((f) => f.varint ?? 0).reduce((a, b) => a + b, 0)).toBe(0);
    expect(all(response, 2)).toEqual([]);
    const ok = sub(response, 3);
    const option = sub(ok, 2);
    const header = sub(option, 1);
    expect(text(header, 1)).toBe("x-subject");
    expect(text(header, 2)).toBe("bob");
    expect(one(option, 3).varint).toBe(2); // OVERWRITE_IF_EXISTS_OR_ADD
    expect(one(option, 4).varint).toBe(1);
  });

  it("denies 401 with UNAUTHENTICATED, the error handler's headers and body", async () => {
    answer = () =>
      deny(new UnauthorizedError("Access credentials are invalid"), {
        status: 401,
        headers: { "WWW-Authenticate": 'Bearer realm="api"', "Content-Type": "application/json" },
        body: '{"error":{"code":401}}',
      }, "api");
    const response = await httpCheck(GET);
    expect(response.status?.code).toBe(16);
    expect(response.status?.message).toBe("Access credentials are invalid");
    expect(response.httpResponse.case).toBe("deniedResponse");
    const denied = response.httpResponse.case === "deniedResponse" ? response.httpResponse.value : undefined;
    expect(denied?.status?.code).toBe(StatusCode.Unauthorized);
    expect(denied?.headers.map((h) => [h.header?.key, h.header?.value, h.appendAction])).toEqual([
      ["www-authenticate", 'Bearer realm="api"', HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD],
      ["content-type", "application/json", HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD],
    ]);
    expect(denied?.body).toBe('{"error":{"code":401}}');
    expect(outcomes).toEqual([["api", "deny", 401]]);
  });

  it("denies 403 with PERMISSION_DENIED", async () => {
    answer = () =>
      deny(new ForbiddenError("not allowed"), { status: 403, headers: { "content-type": "text/plain" }, body: "Forbidden" }, "admin");
    const response = await httpCheck({ ...GET, path: "/admin" });
    expect(response.status).toMatchObject({ code: 7, message: "not allowed" });
    const denied = response.httpResponse.case === "deniedResponse" ? response.httpResponse.value : undefined;
    expect(denied?.status?.code).toBe(StatusCode.Forbidden);
    expect(denied?.headers.map((h) => [h.header?.key, h.header?.value])).toEqual([["content-type", "text/plain"]]);
    expect(denied?.body).toBe("Forbidden");
    expect(outcomes).toEqual([["admin", "deny", 403]]);
  });

  it("denies with a 302 redirect (login page) as PERMISSION_DENIED, checked on the wire", async () => {
    answer = () =>
      deny(
        new UnauthorizedError("Access credentials are invalid"),
        { status: 302, headers: { Location: "https://login.example.com/?return_to=%2F", "Content-Length": "0" }, body: "" },
        undefined,
      );
    const response = await httpCheck(GET);
    expect(response.status?.code).toBe(7);
    const denied = response.httpResponse.case === "deniedResponse" ? response.httpResponse.value : undefined;
    expect(denied?.status?.code).toBe(StatusCode.Found);
    // Framing headers are Envoy's business.
    expect(denied?.headers.map((h) => [h.header?.key, h.header?.value])).toEqual([["location", "https://login.example.com/?return_to=%2F"]]);
    expect(outcomes).toEqual([[undefined, "deny", 302]]);

    // The same answer, read with the documented numbers: status(1).code(1), denied_response(2)
    // {status(1) HttpStatus {code 1}, headers(2), body(3)}.
    const bytes = await checkRaw(toBinary(CheckRequestSchema, create(CheckRequestSchema, { attributes: { request: { http: GET } } })));
    const fields = decode(bytes);
    expect(one(sub(fields, 1), 1).varint).toBe(7);
    expect(text(sub(fields, 1), 2)).toBe("Access credentials are invalid");
    const deniedFields = sub(fields, 2);
    expect(one(sub(deniedFields, 1), 1).varint).toBe(302);
    expect(text(sub(sub(deniedFields, 2), 1), 1)).toBe("location");
    expect(all(fields, 3)).toEqual([]);
  });

  it("maps HTTP statuses of denials to gRPC codes, never OK", () => {
    expect(grpcCodeOfHttpStatus(401)).toBe(16);
    expect(grpcCodeOfHttpStatus(403)).toBe(7);
    expect(grpcCodeOfHttpStatus(404)).toBe(5);
    expect(grpcCodeOfHttpStatus(400)).toBe(3);
    expect(grpcCodeOfHttpStatus(429)).toBe(8);
    expect(grpcCodeOfHttpStatus(500)).toBe(13);
    expect(grpcCodeOfHttpStatus(502)).toBe(14);
    expect(grpcCodeOfHttpStatus(503)).toBe(14);
    expect(grpcCodeOfHttpStatus(301)).toBe(7);
    expect(grpcCodeOfHttpStatus(200)).toBe(7);
  });

  it("denies 404 (no rule matched) with NOT_FOUND", async () => {
    answer = () => deny(new GatehouseError("not_found", "Requested url does not match any rules"), { status: 404, headers: {}, body: "" }, undefined);
    const response = await httpCheck(GET);
    expect(response.status?.code).toBe(5);
    const denied = response.httpResponse.case === "deniedResponse" ? response.httpResponse.value : undefined;
    expect(denied?.status?.code).toBe(StatusCode.NotFound);
  });

  it("reads header_map when the headers map is empty (raw values, repeated names joined)", async () => {
    await httpCheck({
      ...GET,
      headerMap: {
        headers: [
          { key: ":authority", rawValue: new TextEncoder().encode("example.com") },
          { key: "Accept", rawValue: new TextEncoder().encode("text/html") },
          { key: "accept", rawValue: new TextEncoder().encode("application/json") },
          { key: "x-plain", value: "v" },
          { key: "cookie", rawValue: new TextEncoder().encode("a=1") },
          { key: "cookie", rawValue: new TextEncoder().encode("b=2") },
          { key: "x-utf8", rawValue: new TextEncoder().encode("grüße") },
        ],
      },
    });
    expect(seen[0]?.headers).toEqual({
      accept: "text/html,application/json",
      "x-plain": "v",
      cookie: "a=1; b=2",
      "x-utf8": "grüße",
      host: "example.com",
    });
  });

  it("drops pseudo headers and keeps a host header the request carried", async () => {
    await httpCheck({
      ...GET,
      host: "example.com",
      headers: { ":authority": "example.com", ":method": "GET", ":path": "/", ":scheme": "https", host: "example.com", "user-agent": "curl" },
    });
    expect(seen[0]?.headers).toEqual({ host: "example.com", "user-agent": "curl" });
  });

  it("takes the remote address from source.address.socket_address, else empty", async () => {
    await httpCheck(GET, "2001:db8::1");
    await httpCheck(GET);
    await check({
      attributes: { source: { address: { address: { case: "pipe", value: { path: "/run/envoy.sock" } } } }, request: { http: GET } },
    });
    expect(seen.map((r) => r.remoteAddress)).toEqual(["2001:db8::1", "", ""]);
  });

  it("defaults the scheme to http", async () => {
    await httpCheck({ method: "GET", host: "internal:8080", path: "/health" });
    expect(seen[0]?.url.href).toBe("http://internal:8080/health");
  });

  it.each([
    ["no attributes", {}, "attributes.request.http is missing"],
    ["no http request", { attributes: { request: {} } }, "attributes.request.http is missing"],
    ["no method", { attributes: { request: { http: { ...GET, method: "" } } } }, "attributes.request.http.method is missing"],
    ["no host", { attributes: { request: { http: { ...GET, host: "" } } } }, "attributes.request.http.host is missing"],
    ["no path", { attributes: { request: { http: { ...GET, path: "" } } } }, "attributes.request.http.path is missing"],
    ["a host with userinfo", { attributes: { request: { http: { ...GET, host: "evil.com@example.com" } } } }, "attributes.request.http.host is not a valid host"],
    ["a relative path", { attributes: { request: { http: { ...GET, path: "*" } } } }, 'attributes.request.http.path must start with "/"'],
    ["a percent-encoded host", { attributes: { request: { http: { ...GET, host: "ex%41mple.com" } } } }, "attributes.request.http.host is not a valid host"],
    ["an unknown scheme", { attributes: { request: { http: { ...GET, scheme: "javascript" } } } }, "attributes.request.http.scheme must be http or https"],
    ["an unparsable URL", { attributes: { request: { http: { ...GET, host: "exa mple.com" } } } }, "attributes.request.http.host is not a valid host"],
    ["a bad port", { attributes: { request: { http: { ...GET, host: "example.com:99999" } } } }, "attributes.request.http.host and .path do not form a valid URL"],
  ] as Array<[string, MessageInitShape<typeof CheckRequestSchema>, string]>)(
    "answers a request with %s with INVALID_ARGUMENT and a 400 naming the field",
    async (_name, init, message) => {
      const response = await check(init);
      expect(response.status).toMatchObject({ code: 3, message });
      expect(response.httpResponse.case).toBe("deniedResponse");
      const denied = response.httpResponse.case === "deniedResponse" ? response.httpResponse.value : undefined;
      expect(denied?.status?.code).toBe(StatusCode.BadRequest);
      expect(denied?.body).toBe(message);
      expect(denied?.headers.map((h) => h.header?.key)).toEqual(["content-type"]);
      expect(seen).toEqual([]);
      expect(outcomes).toEqual([[undefined, "deny", 400]]);
    },
  );
});
