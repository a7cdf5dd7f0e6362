import { describe, expect, it } from "vitest";
import { parseTuple } from "../tuple.js";
import { describeTupleStoreContract } from "./contract.js";
import { createMemoryStore } from "./memory-store.js";

describeTupleStoreContract("memory", async () => createMemoryStore());

describe("memory store", () => {
  it("refuses page tokens issued by another memory store (random per-store secret)", async () => {
    const a = createMemoryStore();
    const b = createMemoryStore();
    const tuples = ["doc:1#viewer@anne", "doc:2#viewer@anne"].map((t) => ({ op: "touch" as const, tuple: parseTuple(t) }));
    await a.write(tuples);
    await b.write(tuples);
    const token = (await a.read({}, { pageSize: 1 })).nextPageToken as string;
    await expect(b.read({}, { pageSize: 1, pageToken: token })).rejects.toMatchObject({
      code: "invalid_argument",
      details: { field: "page_token" },
    });
  });

  it("shares tokens between stores configured with the same paginationSecret", async () => {
    const a = createMemoryStore({ paginationSecret: "s3cret" });
    const b = createMemoryStore({ paginationSecret: "s3cret" });
    const tuples = ["doc:1#viewer@anne", "doc:2#viewer@anne"].map((t) => ({ op: "touch" as const, tuple: parseTuple(t) }));
    await a.write(tuples);
    await b.write(tuples);
    const token = (await a.read({}, { pageSize: 1 })).nextPageToken as string;
    const page = await b.read({}, { pageSize: 1, pageToken: token });
    expect(page.tuples.map((t) => t.object)).toEqual(["2"]);
  });

  it("orders astral characters after U+FFxx, as UTF-8 byte order (PostgreSQL's C collation) does", async () => {
    const store = createMemoryStore();
    await store.write(["doc:\uffee#r@x", "doc:𝒳#r@x", "doc:z#r@x"].map((t) => ({ op: "touch" as const, tuple: parseTuple(t) })));
    expect((await store.read({})).tuples.map((t) => t.object)).toEqual(["z", "\uffee", "𝒳"]);
  });
});
