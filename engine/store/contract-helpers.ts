/** Helpers the store contract suites (tuples, identities, OAuth2) share. */
import { expect } from "vitest";
import { GatehouseError, type ErrorCode } from "../../common/errors.js";

/** Awaits `promise`, expecting it to fail with a `GatehouseError` of `code` (and, if given, naming `field`). */
export async function expectError(promise: Promise<unknown>, code: ErrorCode, field?: string): Promise<GatehouseError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected a ${code} error`).toBeInstanceOf(GatehouseError);
  const err = caught as GatehouseError;
  expect(err.code, err.message).toBe(code);
  if (field !== undefined) expect(err.details.field).toBe(field);
  return err;
}

/** Every page of a listing, checking each page's size. */
export async function allPages<T>(
  list: (pageToken: string | undefined) => Promise<{ readonly items: readonly T[]; readonly nextPageToken?: string | undefined }>,
  pageSize: number,
): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let pageToken: string | undefined;
  for (let pages = 1; pages <= 1_000; pages++) {
    const page = await list(pageToken);
    expect(page.items.length).toBeLessThanOrEqual(pageSize);
    items.push(...page.items);
    pageToken = page.nextPageToken;
    if (pageToken === undefined) return { items, pages };
    expect(page.items.length, "a page followed by a token is full").toBe(pageSize);
  }
  throw new Error("pagination did not terminate");
}

/**
 * Changes the first character of a token's signature (its last character may carry only padding bits,
 * which decoding ignores, so changing that one would not always alter the signature).
 */
export function tamper(token: string): string {
  const dot = token.indexOf(".");
  const replacement = token[dot + 1] === "A" ? "B" : "A";
  return `${token.slice(0, dot + 1)}${replacement}${token.slice(dot + 2)}`;
}
