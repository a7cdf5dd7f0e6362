import { describe, expect, it } from "vitest";
import {
  AlreadyExistsError,
  InvalidArgumentError,
  LimitExceededError,
  NotFoundError,
  PreconditionFailedError,
  UnavailableError,
  grpcCodeOf,
  httpStatusOf,
  oryErrorBodyOf,
  toGatehouseError,
} from "./errors.js";

describe("error model", () => {
  it("maps each kind to its gRPC code and HTTP status", () => {
    const cases = [
      [new InvalidArgumentError("x"), 3, 400],
      [new NotFoundError("x"), 5, 404],
      [new AlreadyExistsError("x"), 6, 409],
      [new PreconditionFailedError("x"), 9, 412],
      [new LimitExceededError("x"), 8, 422],
      [new UnavailableError("x"), 14, 503],
    ] as const;
    for (const [err, grpc, http] of cases) {
      expect(grpcCodeOf(err)).toBe(grpc);
      expect(httpStatusOf(err)).toBe(http);
    }
  });

  it("renders Ory's error envelope with reason and details", () => {
    const err = new InvalidArgumentError("tuples[2].relation: unknown relation", {
      reason: "invalid_tuple",
      details: { field: "tuples[2].relation" },
    });
    expect(oryErrorBodyOf(err)).toEqual({
      error: {
        code: 400,
        status: "Bad Request",
        message: "tuples[2].relation: unknown relation",
        reason: "invalid_tuple",
        details: { field: "tuples[2].relation" },
      },
    });
  });

  it("hides the text of unexpected errors but keeps the cause", () => {
    const cause = new Error("password=hunter2 in connection string");
    const err = toGatehouseError(cause);
    expect(err.code).toBe("internal");
    expect(err.message).toBe("internal error");
    expect(err.cause).toBe(cause);
    expect(JSON.stringify(oryErrorBodyOf(err))).not.toContain("hunter2");
  });

  it("passes Gatehouse errors through unchanged", () => {
    const err = new NotFoundError("namespace missing");
    expect(toGatehouseError(err)).toBe(err);
  });
});
