import { describe, expect, it } from "vitest";
import type { IdentityWithCredentials } from "../model.js";
import { describeIdentityStoreContract } from "./contract.js";
import { createMemoryIdentityStore } from "./memory-identity-store.js";

describeIdentityStoreContract("memory", async () => createMemoryIdentityStore());

function entry(id: string): IdentityWithCredentials {
  const t = new Date("2024-01-01T00:00:00.000Z");
  return {
    identity: {
      id,
      schemaId: "default",
      traits: {},
      state: "active",
      stateChangedAt: undefined,
      metadataPublic: undefined,
      metadataAdmin: undefined,
      externalId: undefined,
      verifiableAddresses: [],
      recoveryAddresses: [],
      createdAt: t,
      updatedAt: t,
    },
    credentials: {},
  };
}

describe("memory identity store", () => {
  it("refuses page tokens issued by another memory store (random per-store secret)", async () => {
    const a = createMemoryIdentityStore();
    const b = createMemoryIdentityStore();
    for (const s of [a, b]) for (const id of ["1", "2"]) await s.createIdentity(entry(id));
    const token = (await a.listIdentities({ pageSize: 1 })).nextPageToken as string;
    expect((await a.listIdentities({ pageSize: 1, pageToken: token })).items.map((e) => e.identity.id)).toEqual(["2"]);
    await expect(b.listIdentities({ pageSize: 1, pageToken: token })).rejects.toMatchObject({
      code: "invalid_argument",
      details: { field: "page_token" },
    });
  });

  it("shares tokens between stores configured with the same paginationSecret", async () => {
    const a = createMemoryIdentityStore({ paginationSecret: "s3cret" });
    const b = createMemoryIdentityStore({ paginationSecret: "s3cret" });
    for (const s of [a, b]) for (const id of ["1", "2"]) await s.createIdentity(entry(id));
    const token = (await a.listIdentities({ pageSize: 1 })).nextPageToken as string;
    expect((await b.listIdentities({ pageSize: 1, pageToken: token })).items.map((e) => e.identity.id)).toEqual(["2"]);
  });
});
