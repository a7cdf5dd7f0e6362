/** Keto's `CheckService` (Check, BatchCheck) over the engine. */
import type { ServiceImpl } from "@connectrpc/connect";
import { GatehouseError } from "../../common/errors.js";
import { encodeSnaptoken } from "../../engine/snaptoken.js";
import type { RelationTuple } from "../../engine/tuple.js";
import { CheckService, type CheckRequest } from "../../proto/gen/ory/keto/relation_tuples/v1alpha2/check_service_pb.js";
import { consistencyFromProto, subjectFromProto, tupleFromProto } from "./grpc-convert.js";
import { assertBatchSize, batchCheckAt, checkAt, pinRevision } from "./keto-operations.js";
import type { ResolvedKetoOptions } from "./options.js";

/** The tuple of a CheckRequest: `tuple` (field 8) when set, else the deprecated fields 1–4. */
function checkedTuple(request: CheckRequest): RelationTuple {
  if (request.tuple !== undefined) return tupleFromProto(request.tuple, "tuple");
  return {
    namespace: request.namespace,
    object: request.object,
    relation: request.relation,
    subject: subjectFromProto(request.subject, "subject"),
  };
}

/**
 * CheckService. Unlike Keto (Q2) the snaptokens are real: each answer carries the revision it was
 * evaluated at, and a request snaptoken is honoured as at_least_as_fresh. An unknown namespace fails the
 * call, as Keto's gRPC Check does (Q1).
 */
export function createCheckService(o: ResolvedKetoOptions): ServiceImpl<typeof CheckService> {
  return {
    async check(request) {
      const tuple = checkedTuple(request);
      const revision = await pinRevision(o, consistencyFromProto(request.latest, request.snaptoken));
      const allowed = await checkAt(o, tuple, request.maxDepth, revision, "error");
      return { allowed, snaptoken: encodeSnaptoken(revision) };
    },

    async batchCheck(request) {
      assertBatchSize(o, request.tuples.length);
      const revision = await pinRevision(o, consistencyFromProto(request.latest, request.snaptoken));
      const items = request.tuples.map((t, i): RelationTuple | GatehouseError => {
        try {
          return tupleFromProto(t, `tuples[${i}]`);
        } catch (err) {
          if (err instanceof GatehouseError) return err;
          throw err;
        }
      });
      const snaptoken = encodeSnaptoken(revision);
      const results = await batchCheckAt(o, items, request.maxDepth, revision, "error");
      return { results: results.map((r) => ({ allowed: r.allowed, error: r.error, snaptoken })) };
    },
  };
}
