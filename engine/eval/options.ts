/** Options shared by the evaluator's entry points, with their defaults and validation in one place. */
import { InvalidArgumentError } from "../../common/errors.js";

/** Options of every evaluation. */
export interface EvalOptions {
  /**
   * How many userset nodes one resolution path may visit (Keto's `max-depth`): the requested userset counts
   * one, and each hop through a stored subject set or a tuple-to-userset one more; computed usersets on the
   * same object are free. Running out is a `LimitExceededError` (`max_depth_exceeded`), never a deny.
   * Default 25 (OpenFGA's).
   */
  maxDepth?: number;
}

/** Pagination of the lookups. */
export interface PageOptions {
  /** Results per page. Default 100; `0` means everything in one page. */
  pageSize?: number;
  /** The `nextCursor` of the previous page. */
  cursor?: string;
}

/** The default `maxDepth`. */
export const DEFAULT_MAX_DEPTH = 25;

/** The default lookup page size. */
export const DEFAULT_PAGE_SIZE = 100;

/** `maxDepth` with its default, rejecting values that are not positive integers. */
export function resolveMaxDepth(options: EvalOptions | undefined): number {
  const depth = options?.maxDepth ?? DEFAULT_MAX_DEPTH;
  if (!Number.isSafeInteger(depth) || depth < 1) {
    throw new InvalidArgumentError(`maxDepth: ${depth} is not a positive integer`, { details: { field: "maxDepth" } });
  }
  return depth;
}

/** `pageSize` with its default; `Infinity` for "all". */
export function resolvePageSize(options: PageOptions | undefined): number {
  const size = options?.pageSize ?? DEFAULT_PAGE_SIZE;
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new InvalidArgumentError(`pageSize: ${size} is not a non-negative integer`, { details: { field: "pageSize" } });
  }
  return size === 0 ? Number.POSITIVE_INFINITY : size;
}

/** Encodes the last id of a page as an opaque cursor (base64url, so any id survives a URL). */
export function encodeCursor(lastId: string): string {
  return Buffer.from(`c1:${lastId}`, "utf8").toString("base64url");
}

/** Decodes a cursor to the last id of the previous page; `undefined` when there is none. */
export function decodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined || cursor === "") return undefined;
  const text = /^[A-Za-z0-9_-]*$/.test(cursor) ? Buffer.from(cursor, "base64url").toString("utf8") : "";
  if (!text.startsWith("c1:")) {
    throw new InvalidArgumentError("cursor: not a cursor returned by this lookup", { details: { field: "cursor" } });
  }
  return text.slice(3);
}
