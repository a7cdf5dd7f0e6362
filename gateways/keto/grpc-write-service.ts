/** Keto's `WriteService` (TransactRelationTuples, DeleteRelationTuples) over the engine. */
import type { ServiceImpl } from "@connectrpc/connect";
import { InvalidArgumentError } from "../../common/errors.js";
import { encodeSnaptoken } from "../../engine/snaptoken.js";
import type { TupleWrite } from "../../engine/store/tuple-store.js";
import { RelationTupleDelta_Action, WriteService } from "../../proto/gen/ory/keto/relation_tuples/v1alpha2/write_service_pb.js";
import { filterFromLegacyQuery, filterFromRelationQuery, tupleFromProto } from "./grpc-convert.js";
import { deleteMatching, transact } from "./keto-operations.js";
import type { ResolvedKetoOptions } from "./options.js";

const deltaField = (i: number): string => `relation_tuple_deltas[${i}].relation_tuple`;

/**
 * WriteService. All deltas are one transaction, so they share one revision: `snaptokens` holds that
 * revision's token once per delta, in request order (Keto returns a list but never filled it, Q2).
 * ACTION_UNSPECIFIED deltas are skipped but keep their slot.
 */
export function createWriteService(o: ResolvedKetoOptions): ServiceImpl<typeof WriteService> {
  return {
    async transactRelationTuples(request) {
      const writes: TupleWrite[] = [];
      const fields: string[] = [];
      request.relationTupleDeltas.forEach((delta, i) => {
        if (delta.action === RelationTupleDelta_Action.UNSPECIFIED) return;
        if (delta.action !== RelationTupleDelta_Action.INSERT && delta.action !== RelationTupleDelta_Action.DELETE) {
          throw new InvalidArgumentError(`relation_tuple_deltas[${i}].action: unknown action ${String(delta.action)}`, {
            details: { field: `relation_tuple_deltas[${i}].action` },
          });
        }
        const tuple = tupleFromProto(delta.relationTuple, deltaField(i));
        writes.push({ op: delta.action === RelationTupleDelta_Action.INSERT ? "touch" : "delete", tuple });
        fields.push(deltaField(i));
      });
      const revision = await transact(o, writes, (i) => fields[i] ?? "relation_tuple_deltas");
      const token = encodeSnaptoken(revision);
      return { snaptokens: request.relationTupleDeltas.map(() => token) };
    },

    async deleteRelationTuples(request) {
      const filter =
        request.relationQuery !== undefined
          ? filterFromRelationQuery(request.relationQuery)
          : request.query !== undefined
            ? filterFromLegacyQuery(request.query)
            : undefined;
      // No query at all is a mistake, not "delete everything"; an explicit empty relation_query still is.
      if (filter === undefined) {
        throw new InvalidArgumentError("relation_query: is missing", { details: { field: "relation_query" } });
      }
      await deleteMatching(o, filter);
      return {};
    },
  };
}
