/**
 * The store-independent half of `read` and `changes`: validating page sizes, limits and revisions, resolving
 * page tokens, building the next token, and cutting changelog pages on revision boundaries.
 */
import { InvalidArgumentError } from "../../common/errors.js";
import type { PageTokenCodec } from "./page-token.js";
import type { TupleKey } from "./tuple-key.js";
import { tupleFromKey } from "./tuple-key.js";
import type { ReadOptions, ReadResult, Revision, TupleChange, TupleFilter } from "./tuple-store.js";
import { validateFilter } from "./write-plan.js";

/** Tuples per page when the caller does not say. */
export const DEFAULT_PAGE_SIZE = 100;
/** The largest page a read serves. */
export const MAX_PAGE_SIZE = 1_000;
/** Changes per changelog page when the caller does not say. */
export const DEFAULT_CHANGES_LIMIT = 1_000;
/** The largest changelog page a caller may ask for (a single bigger revision is still returned whole). */
export const MAX_CHANGES_LIMIT = 10_000;

/** What a store must fetch for one page. */
export interface ReadPlan {
  readonly revision: Revision;
  /** Fetch tuples strictly after this key; absent on the first page. */
  readonly after: TupleKey | undefined;
  readonly pageSize: number;
}

/** The page size to use; 0 or absent means the default (protobuf's zero value). */
export function resolvePageSize(pageSize: number | undefined): number {
  if (pageSize === undefined || pageSize === 0) return DEFAULT_PAGE_SIZE;
  if (!Number.isSafeInteger(pageSize) || pageSize < 0 || pageSize > MAX_PAGE_SIZE) {
    throw new InvalidArgumentError(`page_size must be an integer between 1 and ${MAX_PAGE_SIZE}, got ${pageSize}`, {
      details: { field: "page_size" },
    });
  }
  return pageSize;
}

function checkRevisionValue(value: number, field: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidArgumentError(`${field} must be a non-negative integer, got ${value}`, { details: { field } });
  }
}

/**
 * Validates a read and resolves its revision: the token's, else `options.revision`, else the head revision.
 * A revision beyond the head is refused: later writes would otherwise show up in the middle of a listing.
 */
export async function planRead(
  filter: TupleFilter,
  options: ReadOptions,
  codec: PageTokenCodec,
  headRevision: () => Promise<Revision>,
): Promise<ReadPlan> {
  validateFilter(filter, "filter");
  const pageSize = resolvePageSize(options.pageSize);
  if (options.revision !== undefined) checkRevisionValue(options.revision, "revision");
  if (options.pageToken !== undefined && options.pageToken !== "") {
    const cursor = codec.decode(options.pageToken, filter);
    if (options.revision !== undefined && options.revision !== cursor.revision) {
      throw new InvalidArgumentError(
        `page_token: the token continues a listing at revision ${cursor.revision}, not ${options.revision}`,
        { details: { field: "page_token" } },
      );
    }
    return { revision: cursor.revision, after: cursor.after, pageSize };
  }
  const head = await headRevision();
  if (options.revision !== undefined && options.revision > head) {
    throw new InvalidArgumentError(`revision ${options.revision} is ahead of the head revision ${head}`, {
      details: { field: "revision" },
    });
  }
  return { revision: options.revision ?? head, after: undefined, pageSize };
}

/** Builds a page from up to `pageSize + 1` keys in listing order (the extra key only signals "more"). */
export function finishPage(keys: readonly TupleKey[], plan: ReadPlan, codec: PageTokenCodec, filter: TupleFilter): ReadResult {
  const page = keys.slice(0, plan.pageSize);
  const last = page[page.length - 1];
  const nextPageToken =
    keys.length > plan.pageSize && last !== undefined ? codec.encode({ revision: plan.revision, after: last }, filter) : undefined;
  return { tuples: page.map(tupleFromKey), nextPageToken, revision: plan.revision };
}

/**
 * Refuses a read or changelog position older than the store's horizon: the history it needs was garbage
 * collected, so any answer would be silently incomplete.
 */
export function checkNotExpired(revision: Revision, horizon: Revision, field: string): void {
  if (revision < horizon) {
    throw new InvalidArgumentError(
      `${field}: revision ${revision} is older than the changelog horizon ${horizon} (history before it was garbage collected); start again from a newer snaptoken`,
      { reason: "revision_expired", details: { field, horizon } },
    );
  }
}

/** Validates `changes` arguments against the head revision; returns the limit to use. */
export function resolveChangesArgs(afterRevision: Revision, limit: number | undefined, head: Revision): number {
  checkRevisionValue(afterRevision, "after_revision");
  if (afterRevision > head) {
    throw new InvalidArgumentError(`after_revision ${afterRevision} is ahead of the head revision ${head}`, {
      details: { field: "after_revision" },
    });
  }
  if (limit === undefined) return DEFAULT_CHANGES_LIMIT;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_CHANGES_LIMIT) {
    throw new InvalidArgumentError(`limit must be an integer between 1 and ${MAX_CHANGES_LIMIT}, got ${limit}`, {
      details: { field: "limit" },
    });
  }
  return limit;
}

/** How a fetched changelog window (in revision order, at most `limit + 1` entries) ends. */
export type ChangesCut =
  /** Everything up to the head fits. */
  | { readonly kind: "complete"; readonly changes: readonly TupleChange[] }
  /** Whole revisions up to `untilRevision` fit; more follow. */
  | { readonly kind: "partial"; readonly changes: readonly TupleChange[]; readonly untilRevision: Revision }
  /** The first revision alone exceeds the limit: the caller must return that revision whole. */
  | { readonly kind: "oversized"; readonly revision: Revision };

/** Cuts a fetched window on a revision boundary so no revision is ever split across pages. */
export function cutChanges(fetched: readonly TupleChange[], limit: number): ChangesCut {
  const boundary = fetched[limit];
  if (boundary === undefined) return { kind: "complete", changes: fetched };
  const first = fetched[0] as TupleChange;
  if (first.revision === boundary.revision) return { kind: "oversized", revision: first.revision };
  const changes = fetched.slice(0, limit).filter((c) => c.revision < boundary.revision);
  // Revisions between the last kept change and the boundary have no changes, so they are covered too.
  return { kind: "partial", changes, untilRevision: boundary.revision - 1 };
}
