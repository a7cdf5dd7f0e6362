/**
 * The `gatehouse.authz.v1` API: PermissionService, RelationshipService and SchemaService as Connect service
 * implementations over one `PermissionEngine`, ready to register on the plane server (`router.service(
 * s.service, s.impl)` for each). Errors are thrown as `GatehouseError`s; the server's interceptor maps them.
 */
import type { DescService } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type { PermissionEngine } from "../../engine/permission-engine.js";
import { PermissionService } from "../../proto/gen/gatehouse/authz/v1/permission_service_pb.js";
import { RelationshipService } from "../../proto/gen/gatehouse/authz/v1/relationship_service_pb.js";
import { SchemaService } from "../../proto/gen/gatehouse/authz/v1/schema_service_pb.js";
import { createPermissionService } from "./permission-service.js";
import { createRelationshipService } from "./relationship-service.js";
import { createSchemaService } from "./schema-service.js";

export { createPermissionService, type PermissionServiceOptions } from "./permission-service.js";
export { createRelationshipService, type RelationshipServiceOptions } from "./relationship-service.js";
export { createSchemaService } from "./schema-service.js";

/** A service descriptor with its implementation. */
export interface ServiceRegistration<S extends DescService> {
  readonly service: S;
  readonly impl: ServiceImpl<S>;
}

/** Options of `createAuthzServices`; every field has a default. */
export interface AuthzServicesOptions {
  /** The most items one BatchCheck may hold (default 1,000). */
  maxBatchCheckItems?: number;
  /** How long an idle Watch waits before a heartbeat, in milliseconds (default 5,000). */
  watchHeartbeatMillis?: number;
  /** Changes Watch reads from the changelog per call (default 1,000; a revision is never split). */
  watchPageSize?: number;
  /** Objects or subjects a streaming lookup fetches from the engine per page (default 100). */
  lookupPageSize?: number;
}

/** The three services of the authorization API. */
export interface AuthzServices {
  readonly permission: ServiceRegistration<typeof PermissionService>;
  readonly relationship: ServiceRegistration<typeof RelationshipService>;
  readonly schema: ServiceRegistration<typeof SchemaService>;
}

function positive(value: number | undefined, fallback: number, name: string): number {
  const resolved = value ?? fallback;
  if (!Number.isSafeInteger(resolved) || resolved < 1) throw new RangeError(`${name} must be a positive integer, got ${resolved}`);
  return resolved;
}

/** Creates the PermissionService, RelationshipService and SchemaService implementations over `engine`. */
export function createAuthzServices(engine: PermissionEngine, options: AuthzServicesOptions = {}): AuthzServices {
  return {
    permission: {
      service: PermissionService,
      impl: createPermissionService(engine, {
        maxBatchCheckItems: positive(options.maxBatchCheckItems, 1000, "maxBatchCheckItems"),
        lookupPageSize: positive(options.lookupPageSize, 100, "lookupPageSize"),
      }),
    },
    relationship: {
      service: RelationshipService,
      impl: createRelationshipService(engine, {
        watchHeartbeatMillis: positive(options.watchHeartbeatMillis, 5000, "watchHeartbeatMillis"),
        watchPageSize: positive(options.watchPageSize, 1000, "watchPageSize"),
      }),
    },
    schema: {
      service: SchemaService,
      impl: createSchemaService(engine),
    },
  };
}
