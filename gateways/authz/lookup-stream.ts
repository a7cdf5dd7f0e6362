/**
 * Streams a paginated engine lookup one item at a time, giving every item a cursor that resumes right after
 * it. The engine's cursors only exist at page boundaries, so an item cursor is the engine cursor of the page
 * the item came from plus how many of that page's items were already sent (and the page size, so that the
 * same page is fetched again even if the server's page size changes). At `at_exact_snapshot` of the
 * stream's revision a page is deterministic, so resumption is exact; at a newer revision the page start is
 * still keyed by id, and only the offset within one page may shift with the data.
 */
import { InvalidArgumentError } from "../../common/errors.js";
import type { LookupPage, ReadAt } from "../../engine/permission-engine.js";
import type { Revision } from "../../engine/store/tuple-store.js";

/** One page as the engine's lookups return it. */
export interface LookupPageResult<T> {
  readonly items: readonly T[];
  readonly nextCursor: string | undefined;
  readonly revision: Revision;
}

/** One streamed item with the cursor that resumes after it. */
export interface LookupItem<T> {
  readonly item: T;
  readonly cursor: string;
  readonly revision: Revision;
}

/** Options of `streamLookup`. */
export interface StreamLookupOptions {
  /** The request's consistency, depth and contextual tuples; later pages pin the first page's revision. */
  readonly at: ReadAt;
  /** The request's `cursor` (`""` = from the start). */
  readonly cursor: string;
  /** The most items to stream; 0 = all. */
  readonly limit: number;
  /** Items fetched from the engine per call. */
  readonly pageSize: number;
  /** Aborted when the client goes away; the stream then ends without fetching more. */
  readonly signal: AbortSignal;
}

interface Position {
  /** The engine cursor of the page (`""` = the first page). */
  readonly page: string;
  /** How many items of that page precede the position. */
  readonly skip: number;
  /** The page size the page was fetched with. */
  readonly size: number;
}

const CURSOR_VERSION = "l1";

function encodePosition(position: Position): string {
  return Buffer.from(JSON.stringify([CURSOR_VERSION, position.page, position.skip, position.size]), "utf8").toString("base64url");
}

function decodePosition(cursor: string, pageSize: number): Position {
  if (cursor === "") return { page: "", skip: 0, size: pageSize };
  const bad = () =>
    new InvalidArgumentError("cursor: not a cursor returned by this lookup", { details: { field: "cursor" }, reason: "invalid_cursor" });
  let parsed: unknown;
  try {
    parsed = /^[A-Za-z0-9_-]+$/.test(cursor) ? JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) : undefined;
  } catch {
    throw bad();
  }
  if (!Array.isArray(parsed) || parsed.length !== 4) throw bad();
  const [version, page, skip, size] = parsed as unknown[];
  if (version !== CURSOR_VERSION || typeof page !== "string") throw bad();
  if (!Number.isSafeInteger(skip) || (skip as number) < 0) throw bad();
  if (!Number.isSafeInteger(size) || (size as number) < 1) throw bad();
  return { page, skip: skip as number, size: size as number };
}

/**
 * Pages through `fetch` from the request's cursor, yielding each item with its cursor, until the engine has
 * no more, `limit` items were sent, or `signal` aborts. The first page uses the request's consistency; every
 * later page reads `at_exact_snapshot` of the first page's revision, so one stream is one state.
 */
export async function* streamLookup<T>(
  fetch: (page: LookupPage, at: ReadAt) => Promise<LookupPageResult<T>>,
  options: StreamLookupOptions,
): AsyncGenerator<LookupItem<T>> {
  let position = decodePosition(options.cursor, options.pageSize);
  let at = options.at;
  let sent = 0;
  for (;;) {
    if (options.signal.aborted) return;
    const result = await fetch({ pageSize: position.size, ...(position.page === "" ? {} : { cursor: position.page }) }, at);
    at = { ...at, consistency: { kind: "at_exact_snapshot", revision: result.revision } };
    for (let i = position.skip; i < result.items.length; i++) {
      if (options.signal.aborted) return;
      const last = i === result.items.length - 1;
      // The last item of a page resumes at the next page's own cursor: cleaner, and keyed by id.
      const cursor =
        last && result.nextCursor !== undefined
          ? encodePosition({ page: result.nextCursor, skip: 0, size: position.size })
          : encodePosition({ page: position.page, skip: i + 1, size: position.size });
      yield { item: result.items[i] as T, cursor, revision: result.revision };
      sent++;
      if (options.limit > 0 && sent >= options.limit) return;
    }
    if (result.nextCursor === undefined) return;
    position = { page: result.nextCursor, skip: 0, size: position.size };
  }
}
