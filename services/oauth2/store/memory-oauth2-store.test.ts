import { describe, expect, it } from "vitest";
import { describeOAuth2StoreContract, testClient } from "./contract.js";
import { createMemoryOAuth2Store } from "./memory-oauth2-store.js";

describeOAuth2StoreContract("memory", async () => createMemoryOAuth2Store());


describe("memory OAuth2 store", () => {
  it("refuses page tokens issued by another memory store (random per-store secret)", async () => {
    const a = createMemoryOAuth2Store();
    const b = createMemoryOAuth2Store();
    for (const s of [a, b]) for (const id of ["1", "2"]) await s.createClient(testClient(id));
    const token = (await a.listClients({ pageSize: 1 })).nextPageToken as string;
    expect((await a.listClients({ pageSize: 1, pageToken: token })).items.map((c) => c.client_id)).toEqual(["2"]);
    await expect(b.listClients({ pageSize: 1, pageToken: token })).rejects.toMatchObject({
      code: "invalid_argument",
      details: { field: "page_token" },
    });
  });

  it("shares tokens between stores configured with the same paginationSecret", async () => {
    const a = createMemoryOAuth2Store({ paginationSecret: "s3cret" });
    const b = createMemoryOAuth2Store({ paginationSecret: "s3cret" });
    for (const s of [a, b]) for (const id of ["1", "2"]) await s.createClient(testClient(id));
    const token = (await a.listClients({ pageSize: 1 })).nextPageToken as string;
    expect((await b.listClients({ pageSize: 1, pageToken: token })).items.map((c) => c.client_id)).toEqual(["2"]);
  });

  it("orders client ids in code point order, as the SQL stores (C collation) do", async () => {
    const store = createMemoryOAuth2Store();
    for (const id of ["\u{1F600}", "\uFF21", "b", "B", "a"]) await store.createClient(testClient(id));
    expect((await store.listClients()).items.map((c) => c.client_id)).toEqual(["B", "a", "b", "\uFF21", "\u{1F600}"]);
  });
});
