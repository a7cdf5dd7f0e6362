import { describe, expect, it } from "vitest";
import { LimitExceededError } from "../../common/errors.js";
import { paginate, paginateBatched } from "./paginate.js";

const ids = Array.from({ length: 500 }, (_, i) => `o${String(i).padStart(3, "0")}`);
const accept = (id: string): boolean => Number(id.slice(1)) % 3 !== 0;

describe("paginateBatched", () => {
  it("gives exactly paginate's pages and cursors, whatever the batch boundaries", async () => {
    for (const pageSize of [1, 7, 100, 0]) {
      let cursor: string | undefined;
      let cursorBatched: string | undefined;
      do {
        const page = paginate(ids, { pageSize, ...(cursor === undefined ? {} : { cursor }) }, accept);
        const batched = await paginateBatched(ids, { pageSize, ...(cursorBatched === undefined ? {} : { cursor: cursorBatched }) }, async (some) =>
          some.map(accept),
        );
        expect(batched).toEqual(page);
        cursor = page.nextCursor;
        cursorBatched = batched.nextCursor;
      } while (cursor !== undefined);
    }
  });

  it("throws the error of a candidate it reaches and ignores errors past a full page", async () => {
    const failAt = (bad: string) => async (some: readonly string[]) =>
      some.map((id) => (id === bad ? new LimitExceededError("max depth", { reason: "max_depth_exceeded" }) : true));
    await expect(paginateBatched(ids, { pageSize: 10 }, failAt("o005"))).rejects.toBeInstanceOf(LimitExceededError);
    // o015 is confirmed in the same batch as the page (batches hold at least 16), but the page is full first.
    expect((await paginateBatched(ids, { pageSize: 10 }, failAt("o015"))).ids).toHaveLength(10);
  });
});
