/**
 * Four clients of Keto's API against a live server, behind one interface (`KetoClient`) so that one table of
 * cases (`cases.ts`) runs through each, as Keto's own e2e suite does (`internal/e2e/*_client_test.go`):
 * - `grpc`: a grpc-js client over h2c (binary gRPC), Keto's `ory.keto.relation_tuples.v1alpha2` services;
 * - `connect`: connect-node's Connect protocol over HTTP/1.1, the same services;
 * - `rest`: plain `fetch` on Keto's REST paths, asserting status codes, headers and bodies exactly;
 * - `sdk`: Ory's official SDK, `@ory/keto-client` (axios + OpenAPI), pointed at the read and write ports.
 * Every client reports a failed call as a `ClientError` carrying the HTTP status or the gRPC code.
 */
import { create, fromBinary, toBinary, type DescMessage, type DescMethodUnary, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { ConnectError, type Transport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { Client, credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { Configuration, PermissionApi, RelationshipApi, type ExpandedPermissionTree, type Relationship } from "@ory/keto-client";
import { expect } from "vitest";
import { CheckService } from "../../../proto/gen/ory/keto/relation_tuples/v1alpha2/check_service_pb.js";
import { ExpandService, NodeType, type SubjectTree } from "../../../proto/gen/ory/keto/relation_tuples/v1alpha2/expand_service_pb.js";
import { NamespacesService } from "../../../proto/gen/ory/keto/relation_tuples/v1alpha2/namespaces_service_pb.js";
import { ReadService } from "../../../proto/gen/ory/keto/relation_tuples/v1alpha2/read_service_pb.js";
import {
  RelationQuerySchema,
  RelationTupleSchema,
  type RelationQuery as RelationQueryMessage,
  type RelationTuple as RelationTupleMessage,
  type Subject as SubjectMessage,
} from "../../../proto/gen/ory/keto/relation_tuples/v1alpha2/relation_tuples_pb.js";
import { RelationTupleDelta_Action, WriteService } from "../../../proto/gen/ory/keto/relation_tuples/v1alpha2/write_service_pb.js";

/** The four clients. */
export type ClientName = "grpc" | "connect" | "rest" | "sdk";
/** RPC clients report gRPC codes and carry snaptokens; HTTP clients report statuses and have none. */
export type Protocol = "rpc" | "http";

/** A subject set in Keto's JSON spelling. */
export interface SubjectSet {
  namespace: string;
  object: string;
  relation: string;
}

/** A relation tuple in Keto's JSON spelling (exactly one of `subject_id` and `subject_set`). */
export interface Tuple {
  namespace: string;
  object: string;
  relation: string;
  subject_id?: string;
  subject_set?: SubjectSet;
}

/** A relation query: every field absent matches anything. */
export interface RelationQuery {
  namespace?: string;
  object?: string;
  relation?: string;
  subject_id?: string;
  subject_set?: SubjectSet;
}

/** One delta of a transaction (REST PATCH, gRPC TransactRelationTuples). */
export interface Delta {
  action: "insert" | "delete";
  tuple: Tuple;
}

/** A write's outcome: the snaptoken where the protocol has one (gRPC: the first of `snaptokens`). */
export interface WriteResult {
  snaptoken: string | undefined;
  /** Every snaptoken the response carried (gRPC: one per delta); empty for HTTP. */
  snaptokens: string[];
}

/** Options of a check. */
export interface CheckOptions {
  maxDepth?: number;
  /** Only RPC clients send it (Keto's REST check has no snaptoken). */
  snaptoken?: string;
}

/** A check's answer; `snaptoken` only over RPC. */
export interface CheckResult {
  allowed: boolean;
  snaptoken: string | undefined;
}

/** One item of a batch check; `error` is "" when the item was decided. */
export interface BatchResult {
  allowed: boolean;
  error: string;
}

/** An expand tree normalised across transports: subjects as strings (`id` or `ns:obj#rel`), children sorted. */
export interface Tree {
  type: string;
  subject: string;
  children: Tree[];
}

/** One page of a list. */
export interface Page {
  tuples: Tuple[];
  nextPageToken: string;
}

/** What every client offers. Failures reject with `ClientError`. */
export interface KetoClient {
  readonly name: ClientName;
  readonly protocol: Protocol;
  createTuple(tuple: Tuple): Promise<WriteResult>;
  deleteTuples(query: RelationQuery): Promise<void>;
  patch(deltas: readonly Delta[]): Promise<WriteResult>;
  check(tuple: Tuple, options?: CheckOptions): Promise<CheckResult>;
  batchCheck(tuples: readonly Tuple[], maxDepth?: number): Promise<BatchResult[]>;
  /** The tree of a subject set; undefined when the server has none (gRPC's empty ExpandResponse). */
  expand(set: SubjectSet, depth: number): Promise<Tree | undefined>;
  list(query: RelationQuery, pageSize?: number, pageToken?: string): Promise<Page>;
  listNamespaces(): Promise<string[]>;
  close(): void;
}

/** A failed call: `status` for HTTP clients, `code` (gRPC status code) for RPC clients. */
export class ClientError extends Error {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly code: number | undefined,
    /** The decoded error body of an HTTP failure. */
    readonly body?: unknown,
  ) {
    super(message);
    this.name = "ClientError";
  }
}

/** Where the server listens. */
export interface Ports {
  read: number;
  write: number;
}

// ---------------------------------------------------------------------------------------------------------
// Shared helpers

/** `ns:obj#rel` for a subject set, the id for a subject id (Keto's string format, relation always shown). */
export function subjectString(t: { subject_id?: string | undefined; subject_set?: SubjectSet | undefined }): string {
  if (t.subject_set !== undefined) return `${t.subject_set.namespace}:${t.subject_set.object}#${t.subject_set.relation}`;
  return t.subject_id ?? "<no subject>";
}

function sortTree(t: Tree): Tree {
  const children = t.children.map(sortTree).sort((a, b) => (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : 0));
  return { type: t.type, subject: t.subject, children };
}

/** Keto's subject query parameters of a tuple or query. */
function subjectParams(q: RelationQuery, params: URLSearchParams): void {
  if (q.subject_id !== undefined) params.set("subject_id", q.subject_id);
  if (q.subject_set !== undefined) {
    params.set("subject_set.namespace", q.subject_set.namespace);
    params.set("subject_set.object", q.subject_set.object);
    params.set("subject_set.relation", q.subject_set.relation);
  }
}

function queryParams(q: RelationQuery): URLSearchParams {
  const params = new URLSearchParams();
  if (q.namespace !== undefined) params.set("namespace", q.namespace);
  if (q.object !== undefined) params.set("object", q.object);
  if (q.relation !== undefined) params.set("relation", q.relation);
  subjectParams(q, params);
  return params;
}

/** A tuple with only the keys Keto's JSON has (drops `undefined` members a client might have produced). */
function cleanTuple(t: { namespace: string; object: string; relation: string; subject_id?: string | undefined; subject_set?: SubjectSet | undefined }): Tuple {
  const out: Tuple = { namespace: t.namespace, object: t.object, relation: t.relation };
  if (t.subject_id !== undefined) out.subject_id = t.subject_id;
  if (t.subject_set !== undefined) {
    out.subject_set = { namespace: t.subject_set.namespace, object: t.subject_set.object, relation: t.subject_set.relation };
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// RPC clients (grpc-js and Connect share the message mapping)

/** One unary call on the read or write port. */
type Unary = <I extends DescMessage, O extends DescMessage>(
  plane: "read" | "write",
  method: DescMethodUnary<I, O>,
  request: MessageInitShape<I>,
) => Promise<MessageShape<O>>;

function subjectToProto(t: { subject_id?: string | undefined; subject_set?: SubjectSet | undefined }): MessageInitShape<typeof RelationTupleSchema>["subject"] {
  if (t.subject_set !== undefined) return { ref: { case: "set", value: { ...t.subject_set } } };
  if (t.subject_id !== undefined) return { ref: { case: "id", value: t.subject_id } };
  return undefined;
}

function tupleToProto(t: Tuple): RelationTupleMessage {
  const subject = subjectToProto(t);
  return create(RelationTupleSchema, { namespace: t.namespace, object: t.object, relation: t.relation, ...(subject === undefined ? {} : { subject }) });
}

function queryToProto(q: RelationQuery): RelationQueryMessage {
  const subject = subjectToProto(q);
  return create(RelationQuerySchema, {
    ...(q.namespace === undefined ? {} : { namespace: q.namespace }),
    ...(q.object === undefined ? {} : { object: q.object }),
    ...(q.relation === undefined ? {} : { relation: q.relation }),
    ...(subject === undefined ? {} : { subject }),
  });
}

function subjectFromProto(s: SubjectMessage | undefined): Pick<Tuple, "subject_id" | "subject_set"> {
  if (s?.ref.case === "id") return { subject_id: s.ref.value };
  if (s?.ref.case === "set") return { subject_set: { namespace: s.ref.value.namespace, object: s.ref.value.object, relation: s.ref.value.relation } };
  return {};
}

function tupleFromProto(t: RelationTupleMessage): Tuple {
  return { namespace: t.namespace, object: t.object, relation: t.relation, ...subjectFromProto(t.subject) };
}

const nodeTypeNames: Record<NodeType, string> = {
  [NodeType.UNSPECIFIED]: "unspecified",
  [NodeType.UNION]: "union",
  [NodeType.EXCLUSION]: "exclusion",
  [NodeType.INTERSECTION]: "intersection",
  [NodeType.LEAF]: "leaf",
};

function treeFromProto(t: SubjectTree): Tree {
  // Keto fills `tuple` (subject only, the rest empty) and the deprecated `subject`; prefer the former.
  if (t.tuple !== undefined) {
    expect({ namespace: t.tuple.namespace, object: t.tuple.object, relation: t.tuple.relation }).toEqual({ namespace: "", object: "", relation: "" });
  }
  const subject = subjectFromProto(t.tuple?.subject ?? t.subject);
  return { type: nodeTypeNames[t.nodeType] ?? `unknown(${t.nodeType})`, subject: subjectString(subject), children: t.children.map(treeFromProto) };
}

class RpcKetoClient implements KetoClient {
  readonly protocol = "rpc";

  constructor(
    readonly name: "grpc" | "connect",
    private readonly unary: Unary,
    private readonly onClose: () => void,
  ) {}

  private async transact(deltas: readonly Delta[]): Promise<WriteResult> {
    const response = await this.unary("write", WriteService.method.transactRelationTuples, {
      relationTupleDeltas: deltas.map((d) => ({
        action: d.action === "insert" ? RelationTupleDelta_Action.INSERT : RelationTupleDelta_Action.DELETE,
        relationTuple: tupleToProto(d.tuple),
      })),
    });
    return { snaptoken: response.snaptokens[0], snaptokens: [...response.snaptokens] };
  }

  createTuple(tuple: Tuple): Promise<WriteResult> {
    return this.transact([{ action: "insert", tuple }]);
  }

  patch(deltas: readonly Delta[]): Promise<WriteResult> {
    return this.transact(deltas);
  }

  async deleteTuples(query: RelationQuery): Promise<void> {
    await this.unary("write", WriteService.method.deleteRelationTuples, { relationQuery: queryToProto(query) });
  }

  async check(tuple: Tuple, options: CheckOptions = {}): Promise<CheckResult> {
    const response = await this.unary("read", CheckService.method.check, {
      tuple: tupleToProto(tuple),
      ...(options.maxDepth === undefined ? {} : { maxDepth: options.maxDepth }),
      ...(options.snaptoken === undefined ? {} : { snaptoken: options.snaptoken }),
    });
    return { allowed: response.allowed, snaptoken: response.snaptoken };
  }

  async batchCheck(tuples: readonly Tuple[], maxDepth?: number): Promise<BatchResult[]> {
    const response = await this.unary("read", CheckService.method.batchCheck, {
      tuples: tuples.map(tupleToProto),
      ...(maxDepth === undefined ? {} : { maxDepth }),
    });
    return response.results.map((r) => ({ allowed: r.allowed, error: r.error }));
  }

  async expand(set: SubjectSet, depth: number): Promise<Tree | undefined> {
    const response = await this.unary("read", ExpandService.method.expand, {
      subject: { ref: { case: "set", value: { ...set } } },
      maxDepth: depth,
    });
    return response.tree === undefined ? undefined : sortTree(treeFromProto(response.tree));
  }

  async list(query: RelationQuery, pageSize?: number, pageToken?: string): Promise<Page> {
    const response = await this.unary("read", ReadService.method.listRelationTuples, {
      relationQuery: queryToProto(query),
      ...(pageSize === undefined ? {} : { pageSize }),
      ...(pageToken === undefined ? {} : { pageToken }),
    });
    return { tuples: response.relationTuples.map(tupleFromProto), nextPageToken: response.nextPageToken };
  }

  async listNamespaces(): Promise<string[]> {
    const response = await this.unary("read", NamespacesService.method.listNamespaces, {});
    return response.namespaces.map((n) => n.name);
  }

  close(): void {
    this.onClose();
  }
}

/** Native gRPC: grpc-js over cleartext HTTP/2, binary protobuf via the generated messages' codec. */
export function grpcClient(ports: Ports): KetoClient {
  const clients = {
    read: new Client(`127.0.0.1:${ports.read}`, credentials.createInsecure()),
    write: new Client(`127.0.0.1:${ports.write}`, credentials.createInsecure()),
  };
  const unary: Unary = (plane, method, request) =>
    new Promise((resolve, reject) => {
      clients[plane].makeUnaryRequest(
        `/${method.parent.typeName}/${method.name}`,
        (m: MessageShape<typeof method.input>) => Buffer.from(toBinary(method.input, m)),
        (b: Buffer) => fromBinary(method.output, b),
        create(method.input, request),
        new Metadata(),
        { deadline: Date.now() + 10_000 },
        (error: ServiceError | null, response?: MessageShape<typeof method.output>) => {
          if (error !== null) reject(new ClientError(error.details, undefined, error.code));
          else if (response === undefined) reject(new Error("grpc-js: no response"));
          else resolve(response);
        },
      );
    });
  return new RpcKetoClient("grpc", unary, () => {
    clients.read.close();
    clients.write.close();
  });
}

/** The Connect protocol (JSON-free binary by default) over HTTP/1.1 with connect-node. */
export function connectClient(ports: Ports): KetoClient {
  const transports: Record<"read" | "write", Transport> = {
    read: createConnectTransport({ baseUrl: `http://127.0.0.1:${ports.read}`, httpVersion: "1.1" }),
    write: createConnectTransport({ baseUrl: `http://127.0.0.1:${ports.write}`, httpVersion: "1.1" }),
  };
  const unary: Unary = async (plane, method, request) => {
    try {
      const response = await transports[plane].unary(method, undefined, 10_000, undefined, request);
      return response.message;
    } catch (err) {
      const e = ConnectError.from(err);
      throw new ClientError(e.rawMessage, undefined, e.code);
    }
  };
  return new RpcKetoClient("connect", unary, () => {});
}

// ---------------------------------------------------------------------------------------------------------
// Plain REST with fetch, asserting Keto's wire format

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

/** Checks Keto's error body (herodot's errorGeneric) and turns it into a ClientError. */
function restError(what: string, reply: Reply): ClientError {
  expect(reply.headers.get("content-type") ?? "", `${what}: error content type`).toMatch(/^application\/json/);
  const body = reply.json as { error?: { code?: unknown; status?: unknown; message?: unknown } } | undefined;
  expect(body, `${what}: errorGeneric body`).toMatchObject({ error: { code: reply.status, message: expect.any(String) } });
  return new ClientError(`${what}: HTTP ${reply.status}: ${String(body?.error?.message)}`, reply.status, undefined, reply.json);
}

/** Keto's REST API through `fetch`, checking every status, header and body shape on the way. */
export function restClient(ports: Ports): KetoClient {
  const read = `http://127.0.0.1:${ports.read}`;
  const write = `http://127.0.0.1:${ports.write}`;

  async function send(method: string, url: string, body?: unknown): Promise<Reply> {
    const res = await fetch(url, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = text === "" ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  }

  function expectJson(what: string, reply: Reply): void {
    expect(reply.headers.get("content-type") ?? "", `${what}: content type`).toMatch(/^application\/json/);
  }

  async function checkOnce(what: string, reply: Reply): Promise<boolean> {
    if (reply.status !== 200 && reply.status !== 403) throw restError(what, reply);
    expectJson(what, reply);
    // The "OrError" routes mirror the answer in the status: 200 {"allowed":true}, 403 {"allowed":false}.
    expect(reply.json, what).toEqual({ allowed: reply.status === 200 });
    return reply.status === 200;
  }

  return {
    name: "rest",
    protocol: "http",

    async createTuple(tuple) {
      const reply = await send("PUT", `${write}/admin/relation-tuples`, tuple);
      if (reply.status !== 201) throw restError("PUT /admin/relation-tuples", reply);
      expectJson("PUT", reply);
      expect(reply.json, "PUT /admin/relation-tuples body").toEqual(tuple);
      // Location: /relation-tuples?<the tuple as a query>
      const location = reply.headers.get("location") ?? "";
      expect(location).toMatch(/^\/relation-tuples\?/);
      const params = new URLSearchParams(location.slice(location.indexOf("?") + 1));
      expect(Object.fromEntries([...params].sort())).toEqual(Object.fromEntries([...queryParams(tuple)].sort()));
      return { snaptoken: undefined, snaptokens: [] };
    },

    async deleteTuples(query) {
      const reply = await send("DELETE", `${write}/admin/relation-tuples?${queryParams(query).toString()}`);
      if (reply.status !== 204) throw restError("DELETE /admin/relation-tuples", reply);
      expect(reply.text).toBe("");
    },

    async patch(deltas) {
      const reply = await send(
        "PATCH",
        `${write}/admin/relation-tuples`,
        deltas.map((d) => ({ action: d.action, relation_tuple: d.tuple })),
      );
      if (reply.status !== 204) throw restError("PATCH /admin/relation-tuples", reply);
      expect(reply.text).toBe("");
      return { snaptoken: undefined, snaptokens: [] };
    },

    async check(tuple, options = {}) {
      // GET and POST of the mirror-status route must agree, and the /openapi route (always 200) too.
      const depth = options.maxDepth === undefined ? "" : `max-depth=${options.maxDepth}`;
      const params = queryParams(tuple);
      if (depth !== "") params.set("max-depth", String(options.maxDepth));
      const viaGet = await checkOnce("GET /relation-tuples/check", await send("GET", `${read}/relation-tuples/check?${params.toString()}`));
      const viaPost = await checkOnce(
        "POST /relation-tuples/check",
        await send("POST", `${read}/relation-tuples/check${depth === "" ? "" : `?${depth}`}`, tuple),
      );
      const openapi = await send("GET", `${read}/relation-tuples/check/openapi?${params.toString()}`);
      if (openapi.status !== 200) throw restError("GET /relation-tuples/check/openapi", openapi);
      expect(openapi.json).toEqual({ allowed: viaGet });
      expect(viaPost, "GET and POST check agree").toBe(viaGet);
      return { allowed: viaGet, snaptoken: undefined };
    },

    async batchCheck(tuples, maxDepth) {
      const reply = await send("POST", `${read}/relation-tuples/batch/check${maxDepth === undefined ? "" : `?max-depth=${maxDepth}`}`, { tuples });
      if (reply.status !== 200) throw restError("POST /relation-tuples/batch/check", reply);
      expectJson("batch check", reply);
      const body = reply.json as { results: { allowed: boolean; error?: string }[] };
      expect(Object.keys(body)).toEqual(["results"]);
      return body.results.map((r) => {
        // Keto omits `error` when empty (`omitempty`).
        if (r.error !== undefined) expect(r.error).not.toBe("");
        return { allowed: r.allowed, error: r.error ?? "" };
      });
    },

    async expand(set, depth) {
      const params = new URLSearchParams({ namespace: set.namespace, object: set.object, relation: set.relation, "max-depth": String(depth) });
      const reply = await send("GET", `${read}/relation-tuples/expand?${params.toString()}`);
      if (reply.status !== 200) throw restError("GET /relation-tuples/expand", reply);
      expectJson("expand", reply);
      return sortTree(restTree(reply.json as ExpandedPermissionTree));
    },

    async list(query, pageSize, pageToken) {
      const params = queryParams(query);
      if (pageSize !== undefined) params.set("page_size", String(pageSize));
      if (pageToken !== undefined && pageToken !== "") params.set("page_token", pageToken);
      const reply = await send("GET", `${read}/relation-tuples?${params.toString()}`);
      if (reply.status !== 200) throw restError("GET /relation-tuples", reply);
      expectJson("list", reply);
      const body = reply.json as { relation_tuples: Tuple[]; next_page_token: string };
      expect(Object.keys(body).sort()).toEqual(["next_page_token", "relation_tuples"]);
      expect(typeof body.next_page_token).toBe("string");
      return { tuples: body.relation_tuples, nextPageToken: body.next_page_token };
    },

    async listNamespaces() {
      const reply = await send("GET", `${read}/namespaces`);
      if (reply.status !== 200) throw restError("GET /namespaces", reply);
      expectJson("namespaces", reply);
      const body = reply.json as { namespaces: { name: string }[] };
      for (const n of body.namespaces) expect(Object.keys(n)).toEqual(["name"]);
      return body.namespaces.map((n) => n.name);
    },

    close() {},
  };
}

/** A REST (or SDK) expand node; every node's tuple has empty namespace/object/relation and only a subject. */
function restTree(t: ExpandedPermissionTree): Tree {
  expect(t.tuple).toBeDefined();
  const tuple = t.tuple as Relationship;
  expect({ namespace: tuple.namespace, object: tuple.object, relation: tuple.relation }).toEqual({ namespace: "", object: "", relation: "" });
  // Keto omits empty `children`.
  if (t.children !== undefined) expect(t.children.length).toBeGreaterThan(0);
  return { type: t.type, subject: subjectString(tuple), children: (t.children ?? []).map(restTree) };
}

// ---------------------------------------------------------------------------------------------------------
// Ory's SDK

interface AxiosLikeError {
  isAxiosError?: boolean;
  message: string;
  response?: { status: number; data: unknown };
}

async function sdkCall<T>(what: string, call: () => Promise<{ data: T; status: number }>, expectedStatus: number): Promise<T> {
  let response: { data: T; status: number };
  try {
    response = await call();
  } catch (err) {
    const e = err as AxiosLikeError;
    if (e.isAxiosError === true && e.response !== undefined) {
      throw new ClientError(`${what}: HTTP ${e.response.status}: ${JSON.stringify(e.response.data)}`, e.response.status, undefined, e.response.data);
    }
    throw err;
  }
  expect(response.status, what).toBe(expectedStatus);
  return response.data;
}

function sdkSubject(q: RelationQuery): { subjectId?: string; subjectSetNamespace?: string; subjectSetObject?: string; subjectSetRelation?: string } {
  if (q.subject_id !== undefined) return { subjectId: q.subject_id };
  if (q.subject_set !== undefined) {
    return { subjectSetNamespace: q.subject_set.namespace, subjectSetObject: q.subject_set.object, subjectSetRelation: q.subject_set.relation };
  }
  return {};
}

function sdkQuery(q: RelationQuery): { namespace?: string; object?: string; relation?: string } {
  return {
    ...(q.namespace === undefined ? {} : { namespace: q.namespace }),
    ...(q.object === undefined ? {} : { object: q.object }),
    ...(q.relation === undefined ? {} : { relation: q.relation }),
    ...sdkSubject(q),
  };
}

/** `@ory/keto-client` (Ory's generated axios SDK), read APIs on the read port, write APIs on the write port. */
export function sdkClient(ports: Ports): KetoClient {
  const readConfig = new Configuration({ basePath: `http://127.0.0.1:${ports.read}` });
  const writeConfig = new Configuration({ basePath: `http://127.0.0.1:${ports.write}` });
  const permissions = new PermissionApi(readConfig);
  const reads = new RelationshipApi(readConfig);
  const writes = new RelationshipApi(writeConfig);

  return {
    name: "sdk",
    protocol: "http",

    async createTuple(tuple) {
      const created = await sdkCall("createRelationship", () => writes.createRelationship({ createRelationshipBody: tuple }), 201);
      expect(created).toEqual(tuple);
      return { snaptoken: undefined, snaptokens: [] };
    },

    async deleteTuples(query) {
      await sdkCall("deleteRelationships", () => writes.deleteRelationships(sdkQuery(query)), 204);
    },

    async patch(deltas) {
      await sdkCall(
        "patchRelationships",
        () => writes.patchRelationships({ relationshipPatch: deltas.map((d) => ({ action: d.action, relation_tuple: d.tuple })) }),
        204,
      );
      return { snaptoken: undefined, snaptokens: [] };
    },

    async check(tuple, options = {}) {
      // Keto's own SDK e2e client uses CheckPermission, the always-200 `/openapi` route.
      const result = await sdkCall(
        "checkPermission",
        () =>
          permissions.checkPermission({
            namespace: tuple.namespace,
            object: tuple.object,
            relation: tuple.relation,
            ...sdkSubject(tuple),
            ...(options.maxDepth === undefined ? {} : { maxDepth: options.maxDepth }),
          }),
        200,
      );
      // And the POST form of the same route.
      const posted = await sdkCall(
        "postCheckPermission",
        () => permissions.postCheckPermission({ postCheckPermissionBody: tuple, ...(options.maxDepth === undefined ? {} : { maxDepth: options.maxDepth }) }),
        200,
      );
      expect(posted.allowed).toBe(result.allowed);
      return { allowed: result.allowed, snaptoken: undefined };
    },

    async batchCheck(tuples, maxDepth) {
      const result = await sdkCall(
        "batchCheckPermission",
        () => permissions.batchCheckPermission({ batchCheckPermissionBody: { tuples: [...tuples] }, ...(maxDepth === undefined ? {} : { maxDepth }) }),
        200,
      );
      return result.results.map((r) => ({ allowed: r.allowed, error: r.error ?? "" }));
    },

    async expand(set, depth) {
      const tree = await sdkCall("expandPermissions", () => permissions.expandPermissions({ ...set, maxDepth: depth }), 200);
      return sortTree(restTree(tree));
    },

    async list(query, pageSize, pageToken) {
      const page = await sdkCall(
        "getRelationships",
        () =>
          reads.getRelationships({
            ...sdkQuery(query),
            ...(pageSize === undefined ? {} : { pageSize }),
            ...(pageToken === undefined || pageToken === "" ? {} : { pageToken }),
          }),
        200,
      );
      return { tuples: (page.relation_tuples ?? []).map(cleanTuple), nextPageToken: page.next_page_token ?? "" };
    },

    async listNamespaces() {
      const result = await sdkCall("listRelationshipNamespaces", () => reads.listRelationshipNamespaces(), 200);
      return (result.namespaces ?? []).map((n) => n.name ?? "");
    },

    close() {},
  };
}

/** Every client, by name. */
export const clientFactories: Record<ClientName, (ports: Ports) => KetoClient> = {
  grpc: grpcClient,
  connect: connectClient,
  rest: restClient,
  sdk: sdkClient,
};
