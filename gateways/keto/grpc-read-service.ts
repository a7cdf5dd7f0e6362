/** Keto's `ReadService` (ListRelationTuples) over the engine's paginated reads. */
import type { ServiceImpl } from "@connectrpc/connect";
import { ReadService } from "../../proto/gen/ory/keto/relation_tuples/v1alpha2/read_service_pb.js";
import { consistencyFromProto, filterFromLegacyQuery, filterFromRelationQuery, tupleToProto } from "./grpc-convert.js";
import { listTuples } from "./keto-operations.js";
import type { ResolvedKetoOptions } from "./options.js";

/**
 * ReadService: `relation_query` wins over the deprecated `query`; page size 100 by default, at most 500;
 * an unknown namespace is NOT_FOUND. `expand_mask` is ignored (Keto ignores it too).
 */
export function createReadService(o: ResolvedKetoOptions): ServiceImpl<typeof ReadService> {
  return {
    async listRelationTuples(request) {
      const filter =
        request.relationQuery !== undefined
          ? filterFromRelationQuery(request.relationQuery)
          : request.query !== undefined
            ? filterFromLegacyQuery(request.query)
            : {};
      const page = await listTuples(o, filter, request.pageSize, request.pageToken, consistencyFromProto(false, request.snaptoken));
      return { relationTuples: page.tuples.map(tupleToProto), nextPageToken: page.nextPageToken };
    },
  };
}
