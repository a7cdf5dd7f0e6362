/**
 * Test harness: the three services over an engine on a memory store, called through Connect's in-memory
 * router transport. A tiny local interceptor stands in for the plane server's: it maps `GatehouseError`s to
 * `ConnectError`s with `grpcCodeOf` and carries the field and reason in response metadata for assertions.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport, type Client, type Interceptor } from "@connectrpc/connect";
import { GatehouseError, grpcCodeOf } from "../../common/errors.js";
import { openPermissionEngine, type PermissionEngine } from "../../engine/permission-engine.js";
import { createMemoryStore } from "../../engine/store/index.js";
import { parseSubject, parseTuple } from "../../engine/tuple.js";
import { PermissionService } from "../../proto/gen/gatehouse/authz/v1/permission_service_pb.js";
import { ConsistencySchema, RelationshipUpdate_Operation, type Consistency } from "../../proto/gen/gatehouse/authz/v1/relationship_pb.js";
import { RelationshipService } from "../../proto/gen/gatehouse/authz/v1/relationship_service_pb.js";
import { SchemaService } from "../../proto/gen/gatehouse/authz/v1/schema_service_pb.js";
import { relationshipToProto, subjectToProto } from "./convert.js";
import { createAuthzServices, type AuthzServicesOptions } from "./index.js";

/** The model every test starts from. */
export const model = `model
  schema 1.1
type user
type group
  relations
    define member: [user, group#member]
type doc
  relations
    define viewer: [user, group#member]
    define blocked: [user]
    define public: [user:*]
    define can_view: viewer but not blocked
    define can_read: viewer or public`;

const mapErrors: Interceptor = (next) => async (request) => {
  try {
    const response = await next(request);
    if (!response.stream) return response;
    return { ...response, message: mapStream(response.message) };
  } catch (error) {
    throw toConnect(error);
  }
};

async function* mapStream<T>(messages: AsyncIterable<T>): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (error) {
    throw toConnect(error);
  }
}

function toConnect(error: unknown): unknown {
  if (!(error instanceof GatehouseError)) return error;
  const metadata = new Headers();
  if (typeof error.details.field === "string") metadata.set("gatehouse-field", error.details.field);
  if (error.reason !== undefined) metadata.set("gatehouse-reason", error.reason);
  return new ConnectError(error.message, grpcCodeOf(error) as Code, metadata);
}

/** What a failed call reported. */
export interface RpcFailure {
  code: Code;
  message: string;
  field: string | null;
  reason: string | null;
}

/** Awaits a call that must fail and returns its code, field and reason. */
export async function failure(call: Promise<unknown> | (() => Promise<unknown>)): Promise<RpcFailure> {
  try {
    await (typeof call === "function" ? call() : call);
  } catch (error) {
    const e = ConnectError.from(error);
    return { code: e.code, message: e.rawMessage, field: e.metadata.get("gatehouse-field"), reason: e.metadata.get("gatehouse-reason") };
  }
  throw new Error("expected the call to fail");
}

/** Collects a server stream. */
export async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of stream) items.push(item);
  return items;
}

/** A relationship message from `ns:obj#rel@subject`. */
export const rel = (text: string) => relationshipToProto(parseTuple(text));
/** A subject message from `user:anne`, `group:eng#member` or `anne`. */
export const subj = (text: string) => subjectToProto(parseSubject(text));
/** A TOUCH update of `ns:obj#rel@subject`. */
export const touch = (text: string) => ({ operation: RelationshipUpdate_Operation.TOUCH, relationship: rel(text) });
/** An at_exact_snapshot consistency. */
export const exact = (token: string): Consistency =>
  create(ConsistencySchema, { requirement: { case: "atExactSnapshot", value: { token } } });
/** An at_least_as_fresh consistency. */
export const fresh = (token: string): Consistency =>
  create(ConsistencySchema, { requirement: { case: "atLeastAsFresh", value: { token } } });

/** The harness of one test. */
export interface Harness {
  engine: PermissionEngine;
  permission: Client<typeof PermissionService>;
  relationship: Client<typeof RelationshipService>;
  schema: Client<typeof SchemaService>;
  close(): Promise<void>;
}

/** Starts the services over a fresh memory store, with `model` written unless `withSchema` is false. */
export async function startHarness(options: AuthzServicesOptions & { withSchema?: boolean } = {}): Promise<Harness> {
  const store = createMemoryStore();
  const engine = await openPermissionEngine({ store, quantizationMs: 0 });
  if (options.withSchema !== false) await engine.writeSchema(model);
  const services = createAuthzServices(engine, options);
  const transport = createRouterTransport(
    (router) => {
      router.service(services.permission.service, services.permission.impl);
      router.service(services.relationship.service, services.relationship.impl);
      router.service(services.schema.service, services.schema.impl);
    },
    { router: { interceptors: [mapErrors] } },
  );
  return {
    engine,
    permission: createClient(PermissionService, transport),
    relationship: createClient(RelationshipService, transport),
    schema: createClient(SchemaService, transport),
    close: () => store.close(),
  };
}
