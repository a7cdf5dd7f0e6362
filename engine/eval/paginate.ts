/** Keyset pagination over sorted candidate ids, confirming each with a predicate. */
import { decodeCursor, encodeCursor, resolvePageSize, type PageOptions } from "./options.js";

/** One page of ids and the cursor of the next one. */
export interface IdPage {
  readonly ids: string[];
  readonly nextCursor: string | undefined;
}

/**
 * Sorts the candidates, skips those up to the cursor, and keeps the ones `accept` confirms until the page is
 * full. It confirms one more beyond a full page, so a cursor is returned only when another result exists.
 */
export function paginate(candidates: Iterable<string>, page: PageOptions | undefined, accept: (id: string) => boolean): IdPage {
  const pageSize = resolvePageSize(page);
  const after = decodeCursor(page?.cursor);
  const sorted = [...new Set(candidates)].sort();
  const ids: string[] = [];
  for (const id of sorted) {
    if (after !== undefined && id <= after) continue;
    if (!accept(id)) continue;
    if (ids.length === pageSize) {
      return { ids, nextCursor: encodeCursor(ids[ids.length - 1] as string) };
    }
    ids.push(id);
  }
  return { ids, nextCursor: undefined };
}
