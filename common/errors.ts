/**
 * The one error model of Gatehouse. Every layer throws a `GatehouseError`; the transports map it to a gRPC
 * code, an HTTP status and an Ory-style JSON body with the functions at the bottom of this file, so the
 * mapping lives in exactly one place.
 */

/** The closed set of failure kinds. Each maps to one gRPC code and one HTTP status. */
export type ErrorCode =
  | "invalid_argument"
  | "not_found"
  | "already_exists"
  | "conflict"
  | "precondition_failed"
  | "limit_exceeded"
  | "unavailable"
  | "deadline_exceeded"
  | "unauthenticated"
  | "permission_denied"
  | "unimplemented"
  | "internal";

/** Extra, machine-readable facts about an error (which field, which tuple, where in a file). */
export interface ErrorDetails {
  /** The request field or option at fault, e.g. `tuples[3].subject`. */
  field?: string;
  /** 1-based line and column of a position in a source text (schemas, files). */
  line?: number;
  column?: number;
  /** Any further facts, serialised as-is into the `details` of the JSON body. */
  [key: string]: unknown;
}

/** Options accepted by every error constructor. */
export interface GatehouseErrorOptions {
  details?: ErrorDetails;
  /** The underlying error; kept for logs, never sent to clients. */
  cause?: unknown;
  /** A short machine-readable reason (Ory's `reason`), e.g. `max_depth_exceeded`. */
  reason?: string;
}

/** Base class of every error Gatehouse raises on purpose. `message` is safe to show to clients. */
export class GatehouseError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails;
  readonly reason: string | undefined;

  constructor(code: ErrorCode, message: string, options: GatehouseErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "GatehouseError";
    this.code = code;
    this.details = options.details ?? {};
    this.reason = options.reason;
  }
}

/** The request is malformed or names something the schema does not allow. */
export class InvalidArgumentError extends GatehouseError {
  constructor(message: string, options?: GatehouseErrorOptions) {
    super("invalid_argument", message, options);
    this.name = "InvalidArgumentError";
  }
}

/** The addressed thing (namespace, tuple, identity, …) does not exist. */
export class NotFoundError extends GatehouseError {
  constructor(message: string, options?: GatehouseErrorOptions) {
    super("not_found", message, options);
    this.name = "NotFoundError";
  }
}

/** A create found the thing already present. */
export class AlreadyExistsError extends GatehouseError {
  constructor(message: string, options?: GatehouseErrorOptions) {
    super("already_exists", message, options);
    this.name = "AlreadyExistsError";
  }
}

/** Concurrent modification or a state clash that a retry may resolve. */
export class ConflictError extends GatehouseError {
  constructor(message: string, options?: GatehouseErrorOptions) {
    super("conflict", message, options);
    this.name = "ConflictError";
  }
}

/** A stated precondition (e.g. "must match filter") did not hold; nothing was changed. */
export class PreconditionFailedError extends GatehouseError {
  constructor(message: string, options?: GatehouseErrorOptions) {
    super("precondition_failed", message, options);
    this.name = "PreconditionFailedError";
  }
}

/** A configured limit was hit (depth, batch size, page size). Never silently turned into a deny. */
export class LimitExceededError extends GatehouseError {
  constructor(message: string, options?: GatehouseErrorOptions) {
    super("limit_exceeded", message, options);
    this.name = "LimitExceededError";
  }
}

/** A dependency (database, peer) is not reachable right now; the call may be retried. */
export class UnavailableError extends GatehouseError {
  constructor(message: string, options?: GatehouseErrorOptions) {
    super("unavailable", message, options);
    this.name = "UnavailableError";
  }
}

/** Something that should not happen; the message sent to clients stays generic. */
export class InternalError extends GatehouseError {
  constructor(message: string, options?: GatehouseErrorOptions) {
    super("internal", message, options);
    this.name = "InternalError";
  }
}

/** Turns anything thrown into a `GatehouseError`, hiding the text of unexpected errors. */
export function toGatehouseError(err: unknown): GatehouseError {
  if (err instanceof GatehouseError) return err;
  return new InternalError("internal error", { cause: err });
}

/** gRPC status codes (google.rpc.Code) by error kind. */
const grpcCodes: Record<ErrorCode, number> = {
  invalid_argument: 3,
  deadline_exceeded: 4,
  not_found: 5,
  already_exists: 6,
  permission_denied: 7,
  limit_exceeded: 8, // RESOURCE_EXHAUSTED
  precondition_failed: 9,
  conflict: 10, // ABORTED
  unimplemented: 12,
  internal: 13,
  unavailable: 14,
  unauthenticated: 16,
};

/** HTTP statuses by error kind, as Ory's herodot uses them. */
const httpStatuses: Record<ErrorCode, number> = {
  invalid_argument: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  conflict: 409,
  already_exists: 409,
  precondition_failed: 412,
  limit_exceeded: 422,
  internal: 500,
  unimplemented: 501,
  unavailable: 503,
  deadline_exceeded: 504,
};

const httpStatusTexts: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  409: "Conflict",
  412: "Precondition Failed",
  422: "Unprocessable Entity",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/** The gRPC status code for an error. */
export function grpcCodeOf(err: GatehouseError): number {
  return grpcCodes[err.code];
}

/** The HTTP status for an error. */
export function httpStatusOf(err: GatehouseError): number {
  return httpStatuses[err.code];
}

/** Ory's (herodot) error envelope: `{"error":{code,status,reason?,message,details?}}`. */
export interface OryErrorBody {
  error: {
    code: number;
    status: string;
    message: string;
    reason?: string;
    details?: ErrorDetails;
  };
}

/** The Ory-style JSON body for an error. Internal errors never leak their cause. */
export function oryErrorBodyOf(err: GatehouseError): OryErrorBody {
  const status = httpStatusOf(err);
  const body: OryErrorBody = {
    error: { code: status, status: httpStatusTexts[status] ?? "Error", message: err.message },
  };
  if (err.reason !== undefined) body.error.reason = err.reason;
  if (Object.keys(err.details).length > 0) body.error.details = err.details;
  return body;
}
