/**
 * What the bench process and its load generator processes say to each other: one JSON object per line,
 * commands on the generator's stdin, replies on its stdout. Also the conversion of the plain dataset shapes
 * into the API's protobuf messages, shared by both sides.
 */
import { create } from "@bufbuild/protobuf";
import {
  BatchCheckRequestSchema,
  CheckRequestSchema,
  type BatchCheckRequest,
  type CheckRequest,
} from "../../proto/gen/gatehouse/authz/v1/permission_service_pb.js";
import { RelationshipSchema, SubjectSchema, type Relationship, type Subject } from "../../proto/gen/gatehouse/authz/v1/relationship_pb.js";
import type { PlainRelationship, PlainSubject } from "./dataset.js";

/** The wire protocols measured: gRPC (h2c, served by grpc-js) and Connect (HTTP/1.1, served by connect-node). */
export type Protocol = "grpc" | "connect";

/** The measured calls: the no-op on the same stack, a single Check, and a BatchCheck of `batchSize` items. */
export type Rpc = "noop" | "check" | "batch";

/** Sent once, before any run. */
export interface SetupCommand {
  readonly type: "setup";
  readonly host: string;
  readonly port: number;
  readonly checks: readonly PlainRelationship[];
  readonly batchSize: number;
  /** gRPC connections (grpc-js channels) this process spreads its calls over. */
  readonly channels: number;
}

/** One measurement. */
export interface RunCommand {
  readonly type: "run";
  readonly id: number;
  readonly protocol: Protocol;
  readonly rpc: Rpc;
  /**
   * Closed loop: calls in flight at all times. Open loop (with `rate`): the most calls in flight before new
   * ones wait (a safety cap; at a sustainable rate it is never reached).
   */
  readonly concurrency: number;
  readonly warmupSeconds: number;
  readonly seconds: number;
  /** Open loop: calls per second started on a fixed schedule, whatever the answers' pace. */
  readonly rate?: number;
}

export interface ExitCommand {
  readonly type: "exit";
}

export type LoadgenCommand = SetupCommand | RunCommand | ExitCommand;

/** The outcome of one `RunCommand` in one load generator process. */
export interface RunResult {
  readonly type: "result";
  readonly id: number;
  /** Calls answered successfully within the measured window. */
  readonly calls: number;
  readonly errors: number;
  readonly firstError?: string;
  /** The measured window, in seconds. */
  readonly seconds: number;
  /** Latencies of the successful calls in microseconds: an HDR histogram, compressed and base64-encoded. */
  readonly histogram: string;
  /**
   * Open loop only: how late calls were started against their schedule, in microseconds (p99). Large values
   * mean this process could not keep the pace (its timers or its CPU), so the rate was not really offered.
   */
  readonly scheduleLagP99Micros?: number;
  /** CPU time this process used in the window, in seconds (user + system). */
  readonly cpuSeconds: number;
}

export type LoadgenReply = { readonly type: "ready" } | RunResult | { readonly type: "error"; readonly message: string };

/** HDR histogram settings shared by the generators and the merge in the bench process. */
export const histogramSettings = {
  lowestDiscernibleValue: 1,
  highestTrackableValue: 60_000_000,
  numberOfSignificantValueDigits: 3,
} as const;

export function subjectToProto(subject: PlainSubject): Subject {
  if ("id" in subject) return create(SubjectSchema, { ref: { case: "id", value: subject.id } });
  const set = { namespace: subject.namespace, object: subject.object, relation: subject.relation ?? "" };
  return create(SubjectSchema, { ref: { case: "set", value: set } });
}

export function relationshipToProto(r: PlainRelationship): Relationship {
  return create(RelationshipSchema, {
    namespace: r.namespace,
    object: r.object,
    relation: r.relation,
    subject: subjectToProto(r.subject),
  });
}

export function checkRequestOf(r: PlainRelationship): CheckRequest {
  return create(CheckRequestSchema, { relationship: relationshipToProto(r) });
}

/**
 * BatchCheck requests of `size` items each, cutting the check list into consecutive windows that wrap
 * around, so every batch is distinct and together they cover the list.
 */
export function batchRequestsOf(checks: readonly PlainRelationship[], size: number): BatchCheckRequest[] {
  const count = Math.max(1, Math.ceil(checks.length / size));
  const batches: BatchCheckRequest[] = [];
  for (let b = 0; b < count; b++) {
    const items = [];
    for (let i = 0; i < size; i++) {
      items.push({ relationship: relationshipToProto(checks[(b * size + i) % checks.length] as PlainRelationship) });
    }
    batches.push(create(BatchCheckRequestSchema, { items }));
  }
  return batches;
}
