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

/** Candidates confirmed per batch at first; the batch doubles while the page is not full. */
const FIRST_BATCH_MIN = 16;
const BATCH_MAX = 4096;

/**
 * `paginate` for an evaluator that confirms many ids at once (the worker pool). Answers are consumed in id
 * order, so the page, its cursor and any error are exactly `paginate`'s; a batch may confirm a few ids past
 * the end of the page, whose answers (and errors) are ignored.
 */
export async function paginateBatched(
  candidates: Iterable<string>,
  page: PageOptions | undefined,
  confirm: (ids: readonly string[]) => Promise<ReadonlyArray<boolean | Error>>,
): Promise<IdPage> {
  const pageSize = resolvePageSize(page);
  const after = decodeCursor(page?.cursor);
  const sorted = [...new Set(candidates)].sort().filter((id) => after === undefined || id > after);
  const ids: string[] = [];
  let batch = Math.min(BATCH_MAX, Math.max(FIRST_BATCH_MIN, Number.isFinite(pageSize) ? pageSize + 1 : BATCH_MAX));
  for (let start = 0; start < sorted.length; start += batch, batch = Math.min(BATCH_MAX, batch * 2)) {
    const slice = sorted.slice(start, start + batch);
    const answers = await confirm(slice);
    for (let i = 0; i < slice.length; i++) {
      const answer = answers[i];
      if (answer instanceof Error) throw answer;
      if (answer !== true) continue;
      if (ids.length === pageSize) return { ids, nextCursor: encodeCursor(ids[ids.length - 1] as string) };
      ids.push(slice[i] as string);
    }
  }
  return { ids, nextCursor: undefined };
}
