/**
 * Writes many relationship updates: one atomic WriteRelationships when they fit in a batch, else one per
 * batch, in order. The batch limit (default 1,000 updates, about 100 KB of request) keeps each request well
 * under gRPC's 4 MB message limit and each store transaction short; atomicity then holds per batch only,
 * and a failure reports how much was already written.
 */
import { create } from "@bufbuild/protobuf";
import {
  RelationshipUpdateSchema,
  type Relationship,
  type RelationshipUpdate_Operation,
} from "../../proto/gen/gatehouse/authz/v1/relationship_pb.js";
import { RelationshipService } from "../../proto/gen/gatehouse/authz/v1/relationship_service_pb.js";
import type { Connection } from "./connection.js";
import { RequestError } from "./errors.js";

/** Updates per WriteRelationships request unless `--batch-size` says otherwise. */
export const DEFAULT_BATCH_SIZE = 1000;

/** What a batched write did. */
export interface WriteOutcome {
  /** Updates sent (and committed). */
  count: number;
  /** Requests made. */
  requests: number;
  /** The snaptoken of the last batch: it covers every batch (revisions only grow). */
  snaptoken: string;
}

/** Applies `operation` to every relationship, `batchSize` per request. */
export async function writeInBatches(
  connection: Connection,
  operation: RelationshipUpdate_Operation,
  relationships: readonly Relationship[],
  batchSize: number,
): Promise<WriteOutcome> {
  const client = connection.client(RelationshipService);
  let snaptoken = "";
  let done = 0;
  let requests = 0;
  while (done < relationships.length) {
    const batch = relationships.slice(done, done + batchSize);
    try {
      const response = await client.writeRelationships({
        updates: batch.map((relationship) => create(RelationshipUpdateSchema, { operation, relationship })),
      });
      snaptoken = response.writtenAt?.token ?? "";
    } catch (err) {
      if (requests === 0) throw err;
      throw new RequestError(
        `${connection.failure(err).message}\n(batch ${requests + 1} failed; the ${done} updates of the first ${requests} batches were written, snaptoken ${snaptoken})`,
        { cause: err },
      );
    }
    done += batch.length;
    requests += 1;
  }
  return { count: done, requests, snaptoken };
}
