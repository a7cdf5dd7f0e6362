/** `gatehouse.authz.v1.PermissionService` over a `PermissionEngine`. */
import { create } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { GatehouseError, InvalidArgumentError, grpcCodeOf } from "../../common/errors.js";
import type { CheckRequest, PermissionEngine, ReadAt } from "../../engine/permission-engine.js";
import type { Revision } from "../../engine/store/tuple-store.js";
import type { RelationTuple } from "../../engine/tuple.js";
import {
  BatchCheckResponseSchema,
  BatchCheckResultSchema,
  CheckResponseSchema,
  ExpandResponseSchema,
  ItemErrorSchema,
  LookupResourcesResponseSchema,
  LookupSubjectsResponseSchema,
  PermissionService,
  type BatchCheckResult,
  type LookupResourcesRequest,
  type LookupSubjectsRequest,
} from "../../proto/gen/gatehouse/authz/v1/permission_service_pb.js";
import {
  expandTreeToProto,
  readAtFromProto,
  relationshipFromProto,
  snaptokenOf,
  subjectFromProto,
  subjectToProto,
} from "./convert.js";
import { contextualRule, relationshipRules, renameErrorField, withFieldNames, type FieldRule } from "./field-names.js";
import { streamLookup } from "./lookup-stream.js";

/** Options of `createPermissionService`. */
export interface PermissionServiceOptions {
  /** The most items one BatchCheck may hold. */
  maxBatchCheckItems: number;
  /** Objects or subjects fetched from the engine per page while streaming a lookup. */
  lookupPageSize: number;
}

function required(value: string, field: string): string {
  if (value === "") throw new InvalidArgumentError(`${field} is required`, { details: { field }, reason: "missing_field" });
  return value;
}

function checkRequestOf(tuple: RelationTuple): CheckRequest {
  return { namespace: tuple.namespace, object: tuple.object, relation: tuple.relation, subject: tuple.subject };
}

// Failures that belong to one BatchCheck item (what it names, how deep it goes); anything else (a bad
// snaptoken, an invalid contextual relationship, no schema) fails the whole request.
const itemReasons = new Set(["max_depth_exceeded", "namespace_not_found", "relation_not_found"]);

function isItemFailure(error: unknown): error is GatehouseError {
  if (!(error instanceof GatehouseError)) return false;
  if (error.reason !== undefined && itemReasons.has(error.reason)) return true;
  const field = error.details.field;
  return typeof field === "string" && /^(namespace|object|relation|subject)\b/.test(field);
}

// Every decided item is one of two messages; sharing them saves two allocations per item of a large batch
// (responses are only serialized, never mutated).
const ALLOWED = create(BatchCheckResultSchema, { result: { case: "allowed", value: true } });
const DENIED = create(BatchCheckResultSchema, { result: { case: "allowed", value: false } });

function itemError(error: GatehouseError): BatchCheckResult {
  return create(BatchCheckResultSchema, {
    result: {
      case: "error",
      value: create(ItemErrorSchema, { code: grpcCodeOf(error), message: error.message, reason: error.reason ?? "" }),
    },
  });
}

const lookupSubjectsRules: readonly FieldRule[] = [
  contextualRule,
  { from: /^subjectNamespace$/, to: "subject_namespace" },
  { from: /^subjectRelation$/, to: "subject_relation" },
];

/** The PermissionService implementation: Check, BatchCheck, Expand and the two streaming lookups. */
export function createPermissionService(
  engine: PermissionEngine,
  options: PermissionServiceOptions,
): ServiceImpl<typeof PermissionService> {
  /**
   * Checks every item at one revision in one engine call, so the items leave for the evaluator together.
   * A failure of one item is that item's result; anything else fails the request.
   */
  async function batchCheck(items: readonly RelationTuple[], requested: ReadAt) {
    const { results, revision } = await engine.checkMany(items.map(checkRequestOf), requested);
    const converted = results.map((result, i): BatchCheckResult => {
      if (typeof result === "boolean") return result ? ALLOWED : DENIED;
      if (!isItemFailure(result)) throw renameErrorField(result, [contextualRule]);
      return itemError(renameErrorField(result, relationshipRules(`items[${i}].relationship.`)) as GatehouseError);
    });
    return { results: converted, revision };
  }

  return {
    async check(request) {
      const tuple = relationshipFromProto(request.relationship, "relationship");
      const at = readAtFromProto(request);
      const result = await withFieldNames(relationshipRules("relationship."), () => engine.check(checkRequestOf(tuple), at));
      return create(CheckResponseSchema, { allowed: result.allowed, checkedAt: snaptokenOf(result.revision) });
    },

    async batchCheck(request) {
      if (request.items.length > options.maxBatchCheckItems) {
        throw new InvalidArgumentError(
          `items: ${request.items.length} items exceed the limit of ${options.maxBatchCheckItems} per BatchCheck`,
          { details: { field: "items", limit: options.maxBatchCheckItems }, reason: "too_many_items" },
        );
      }
      const items = request.items.map((item, i) => relationshipFromProto(item.relationship, `items[${i}].relationship`));
      const at = readAtFromProto(request);
      // No item, no evaluation: there is no revision to report, so `checked_at` stays unset.
      if (items.length === 0) return create(BatchCheckResponseSchema, {});
      const { results, revision } = await withFieldNames([contextualRule], () => batchCheck(items, at));
      return create(BatchCheckResponseSchema, { results, checkedAt: snaptokenOf(revision) });
    },

    async expand(request) {
      const namespace = required(request.namespace, "namespace");
      const relation = required(request.relation, "relation");
      const at = readAtFromProto(request);
      const result = await withFieldNames([contextualRule], () =>
        engine.expand(
          { namespace, object: request.object, relation },
          { ...at, ...(request.maxNodes === 0 ? {} : { maxNodes: request.maxNodes }) },
        ),
      );
      return create(ExpandResponseSchema, { tree: expandTreeToProto(result.tree), expandedAt: snaptokenOf(result.revision) });
    },

    async *lookupResources(request: LookupResourcesRequest, context: HandlerContext) {
      const namespace = required(request.namespace, "namespace");
      const relation = required(request.relation, "relation");
      const subject = subjectFromProto(request.subject, "subject");
      const items = streamLookup(
        async (page, at) => {
          const result = await withFieldNames([contextualRule], () =>
            engine.lookupResources({ namespace, relation, subject }, page, at),
          );
          return { items: result.objects, nextCursor: result.nextCursor, revision: result.revision };
        },
        {
          at: readAtFromProto(request),
          cursor: request.cursor,
          limit: request.optionalLimit,
          pageSize: options.lookupPageSize,
          signal: context.signal,
        },
      );
      for await (const { item, cursor, revision } of items) {
        yield create(LookupResourcesResponseSchema, { object: item, cursor, lookedUpAt: snaptokenOf(revision) });
      }
    },

    async *lookupSubjects(request: LookupSubjectsRequest, context: HandlerContext) {
      const namespace = required(request.namespace, "namespace");
      const relation = required(request.relation, "relation");
      const lookup = {
        namespace,
        object: request.object,
        relation,
        subjectNamespace: request.subjectNamespace,
        ...(request.subjectRelation === "" ? {} : { subjectRelation: request.subjectRelation }),
      };
      const items = streamLookup(
        async (page, at) => {
          const withWildcards = request.listWildcardMembers ? { ...page, listWildcardMembers: true } : page;
          const result = await withFieldNames(lookupSubjectsRules, () => engine.lookupSubjects(lookup, withWildcards, at));
          return { items: result.subjects, nextCursor: result.nextCursor, revision: result.revision };
        },
        {
          at: readAtFromProto(request),
          cursor: request.cursor,
          limit: request.optionalLimit,
          pageSize: options.lookupPageSize,
          signal: context.signal,
        },
      );
      for await (const { item, cursor, revision } of items) {
        yield create(LookupSubjectsResponseSchema, { subject: subjectToProto(item), cursor, lookedUpAt: snaptokenOf(revision) });
      }
    },
  };
}
