/** `gatehouse.authz.v1.RelationshipService` over a `PermissionEngine`: read, write, delete and Watch. */
import { create } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { InvalidArgumentError } from "../../common/errors.js";
import type { PermissionEngine } from "../../engine/permission-engine.js";
import type { Revision, TupleChange, TupleWrite } from "../../engine/store/tuple-store.js";
import { RelationshipUpdate_Operation } from "../../proto/gen/gatehouse/authz/v1/relationship_pb.js";
import {
  DeleteRelationshipsResponseSchema,
  ReadRelationshipsResponseSchema,
  RelationshipChangeSchema,
  RelationshipChange_Operation,
  RelationshipService,
  WatchResponseSchema,
  WriteRelationshipsResponseSchema,
  type RelationshipChange,
  type WatchRequest,
  type WatchResponse,
} from "../../proto/gen/gatehouse/authz/v1/relationship_service_pb.js";
import {
  consistencyFromProto,
  filterFromProto,
  isEmptyFilter,
  preconditionFromProto,
  relationshipFromProto,
  relationshipToProto,
  revisionFromProto,
  snaptokenOf,
} from "./convert.js";
import { withFieldNames, type FieldRule } from "./field-names.js";

/** Options of `createRelationshipService`. */
export interface RelationshipServiceOptions {
  /** How long an idle Watch waits before sending a heartbeat, in milliseconds. */
  watchHeartbeatMillis: number;
  /** The most changes Watch reads from the changelog per call (a revision is never split). */
  watchPageSize: number;
}

// The engine and the store name the fields of their own vocabulary; these rename them to the request's.
const writeRules: readonly FieldRule[] = [
  { from: /^(tuples|writes)\[(\d+)\]\.tuple\b/, to: "updates[$2].relationship" },
  { from: /^tuples\[(\d+)\]/, to: "updates[$1].relationship" },
  { from: /^writes\[(\d+)\]\.op$/, to: "updates[$1].operation" },
  { from: /^writes\b/, to: "updates" },
];
const filterRules: readonly FieldRule[] = [{ from: /^(namespace|object|relation|subject)\b/, to: "filter.$1" }];
// A start older than the changelog keeps is the store's error about its `after_revision`.
const watchRules: readonly FieldRule[] = [{ from: /^after_revision$/, to: "start" }];

function operationOf(operation: RelationshipUpdate_Operation, field: string): TupleWrite["op"] {
  switch (operation) {
    case RelationshipUpdate_Operation.TOUCH:
      return "touch";
    case RelationshipUpdate_Operation.CREATE:
      return "create";
    case RelationshipUpdate_Operation.DELETE:
      return "delete";
    default:
      throw new InvalidArgumentError(`${field} must be OPERATION_TOUCH, OPERATION_CREATE or OPERATION_DELETE`, {
        details: { field },
      });
  }
}

function changeToProto(change: TupleChange): RelationshipChange {
  return create(RelationshipChangeSchema, {
    operation: change.op === "insert" ? RelationshipChange_Operation.INSERT : RelationshipChange_Operation.DELETE,
    relationship: relationshipToProto(change.tuple),
    revision: snaptokenOf(change.revision),
  });
}

/**
 * Resolves on the first of: the engine's revision advancing, `millis` passing, `signal` aborting. Subscribing
 * happens at the call, so callers subscribe before reading the changelog and miss no notification.
 */
function nextWake(engine: PermissionEngine, millis: number, signal: AbortSignal): { woken: Promise<"revision" | "timeout" | "abort">; cancel: () => void } {
  let cancel = (): void => {};
  const woken = new Promise<"revision" | "timeout" | "abort">((resolve) => {
    const unsubscribe = engine.onRevision(() => done("revision"));
    const timer = setTimeout(() => done("timeout"), millis);
    const onAbort = () => done("abort");
    signal.addEventListener("abort", onAbort, { once: true });
    function done(why: "revision" | "timeout" | "abort"): void {
      cancel();
      resolve(why);
    }
    cancel = () => {
      unsubscribe();
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    };
    if (signal.aborted) done("abort");
  });
  return { woken, cancel: () => cancel() };
}

/** The RelationshipService implementation. */
export function createRelationshipService(
  engine: PermissionEngine,
  options: RelationshipServiceOptions,
): ServiceImpl<typeof RelationshipService> {
  /** The revision Watch starts after: the token's, or the store's head ("from now on"). */
  async function watchStart(request: WatchRequest): Promise<Revision> {
    // Catching up makes "now" the store's head, not this node's possibly older snapshot, and proves a token
    // that is still ahead of it names a revision no write has produced.
    await engine.catchUp();
    if (request.start === undefined) return engine.revision;
    const start = revisionFromProto(request.start, "start");
    if (start > engine.revision) {
      throw new InvalidArgumentError(
        `start: the snaptoken names revision ${start}, ahead of the store's head ${engine.revision}`,
        { details: { field: "start" }, reason: "snaptoken_ahead" },
      );
    }
    return start;
  }

  return {
    async readRelationships(request) {
      const filter = filterFromProto(request.filter, "filter");
      const consistency = consistencyFromProto(request.consistency);
      const page = await withFieldNames(filterRules, () =>
        engine.read(
          filter,
          {
            ...(request.pageSize === 0 ? {} : { pageSize: request.pageSize }),
            ...(request.pageToken === "" ? {} : { pageToken: request.pageToken }),
          },
          { consistency },
        ),
      );
      return create(ReadRelationshipsResponseSchema, {
        relationships: page.tuples.map(relationshipToProto),
        nextPageToken: page.nextPageToken ?? "",
        readAt: snaptokenOf(page.revision),
      });
    },

    async writeRelationships(request) {
      const writes: TupleWrite[] = request.updates.map((update, i) => ({
        op: operationOf(update.operation, `updates[${i}].operation`),
        tuple: relationshipFromProto(update.relationship, `updates[${i}].relationship`),
      }));
      const preconditions = request.preconditions.map((p, i) => preconditionFromProto(p, `preconditions[${i}]`));
      const result = await withFieldNames(writeRules, () => engine.write(writes, { preconditions }));
      return create(WriteRelationshipsResponseSchema, { writtenAt: snaptokenOf(result.revision) });
    },

    async deleteRelationships(request) {
      const filter = filterFromProto(request.filter, "filter");
      if (isEmptyFilter(filter)) {
        throw new InvalidArgumentError("filter: set at least one field; an empty filter would delete every relationship", {
          details: { field: "filter" },
          reason: "empty_filter",
        });
      }
      const preconditions = request.preconditions.map((p, i) => preconditionFromProto(p, `preconditions[${i}]`));
      const result = await withFieldNames(filterRules, () => engine.deleteByFilter(filter, { preconditions }));
      return create(DeleteRelationshipsResponseSchema, {
        deletedAt: snaptokenOf(result.revision),
        deletedCount: BigInt(result.deleted),
      });
    },

    /**
     * Streams the changelog after the start revision, one message per changelog page with matching changes,
     * then waits for new revisions. When nothing was sent for `watchHeartbeatMillis` (idle, or every change
     * filtered out), a heartbeat advances `changes_through` to the revision read up to. Every wake reads the
     * store, and the heartbeat timer guarantees one, so writes of other nodes are picked up too.
     */
    async *watch(request: WatchRequest, context: HandlerContext): AsyncGenerator<WatchResponse> {
      const namespaces = new Set(request.namespaces);
      const heartbeat = options.watchHeartbeatMillis;
      let after = await watchStart(request);
      let lastSent = Date.now();
      while (!context.signal.aborted) {
        // Subscribe before reading, so that a revision committed during the read still wakes us.
        const wake = nextWake(engine, Math.max(0, lastSent + heartbeat - Date.now()), context.signal);
        try {
          for (;;) {
            const page = await withFieldNames(watchRules, () => engine.changes(after, options.watchPageSize));
            const changes = namespaces.size === 0 ? page.changes : page.changes.filter((c) => namespaces.has(c.tuple.namespace));
            if (page.untilRevision > after) after = page.untilRevision;
            if (context.signal.aborted) return;
            if (changes.length > 0) {
              yield create(WatchResponseSchema, { changes: changes.map(changeToProto), changesThrough: snaptokenOf(after) });
              lastSent = Date.now();
            }
            if (!page.more) break;
          }
          if (Date.now() - lastSent >= heartbeat) {
            yield create(WatchResponseSchema, { changesThrough: snaptokenOf(after) });
            lastSent = Date.now();
          } else {
            await wake.woken;
          }
        } finally {
          wake.cancel();
        }
      }
    },
  };
}
