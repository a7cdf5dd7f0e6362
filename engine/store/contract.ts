/**
 * The shared contract suite every `TupleStore` must pass. A test file calls `describeTupleStoreContract`
 * with a factory; each test gets a fresh, empty store, so the suite can assert exact revisions and listings.
 */
import { expectError } from "./contract-helpers.js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { GatehouseError } from "../../common/errors.js";
import type { RelationTuple, Subject } from "../tuple.js";
import { formatTuple, parseTuple } from "../tuple.js";
import type { ReadOptions, Revision, TupleChange, TupleFilter, TupleStore, TupleWrite } from "./tuple-store.js";

/** Registers the contract tests for one store implementation. */
export function describeTupleStoreContract(
  name: string,
  /** Opens a fresh, empty store (called before each test). */
  open: () => Promise<TupleStore>,
  /** Disposes of a store after each test; default `store.close()`. */
  close: (store: TupleStore) => Promise<void> = (store) => store.close(),
): void {
  describe(`TupleStore contract: ${name}`, () => {
    let store: TupleStore;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await close(store);
    });

    const touch = (text: string): TupleWrite => ({ op: "touch", tuple: parseTuple(text) });
    const create = (text: string): TupleWrite => ({ op: "create", tuple: parseTuple(text) });
    const del = (text: string): TupleWrite => ({ op: "delete", tuple: parseTuple(text) });
    const id = (value: string): Subject => ({ kind: "id", id: value });
    const set = (namespace: string, object: string, relation = ""): Subject => ({ kind: "set", namespace, object, relation });

    async function readAll(filter: TupleFilter = {}, options: ReadOptions = {}): Promise<string[]> {
      const out: string[] = [];
      let pageToken: string | undefined;
      for (let i = 0; i < 10_000; i++) {
        const page = await store.read(filter, pageToken === undefined ? options : { ...options, pageToken });
        out.push(...page.tuples.map(formatTuple));
        pageToken = page.nextPageToken;
        if (pageToken === undefined) return out;
      }
      throw new Error("pagination did not terminate");
    }

    const formatChange = (c: TupleChange): string => `${c.revision} ${c.op} ${formatTuple(c.tuple)}`;
    const sorted = (items: readonly string[]): string[] => [...items].sort();

    describe("revisions", () => {
      it("starts empty at revision 0", async () => {
        expect(await store.headRevision()).toBe(0);
        expect(await readAll()).toEqual([]);
        expect(await store.changes(0)).toEqual({ changes: [], untilRevision: 0, more: false, schemaRevision: 0 });
        expect(await store.readSchema()).toBeUndefined();
      });

      it("gives each write a new, strictly greater revision and moves the head", async () => {
        const r1 = (await store.write([touch("doc:1#viewer@anne")])).revision;
        const r2 = (await store.write([touch("doc:2#viewer@anne")])).revision;
        const r3 = (await store.deleteByFilter({ object: "1" })).revision;
        const r4 = (await store.writeSchema("class User implements Namespace {}", "opl")).revision;
        expect([r1, r2, r3, r4]).toEqual([1, 2, 3, 4]);
        expect(await store.headRevision()).toBe(4);
      });

      it("returns the head for an empty batch without bumping it", async () => {
        await store.write([touch("doc:1#viewer@anne")]);
        expect(await store.write([])).toEqual({ revision: 1 });
        expect(await store.headRevision()).toBe(1);
      });

      it("still gives a no-op batch its own revision but logs nothing for it", async () => {
        await store.write([touch("doc:1#viewer@anne")]);
        const { revision } = await store.write([touch("doc:1#viewer@anne"), del("doc:9#viewer@nobody")]);
        expect(revision).toBe(2);
        const log = await store.changes(1);
        expect(log).toEqual({ changes: [], untilRevision: 2, more: false, schemaRevision: 0 });
      });
    });

    describe("atomic batches", () => {
      it("rejects a batch whose create finds a live tuple, naming it, and applies nothing", async () => {
        await store.write([touch("doc:1#viewer@anne")]);
        const err = await expectError(
          store.write([touch("doc:2#viewer@bob"), create("doc:1#viewer@anne"), del("doc:1#viewer@anne")]),
          "already_exists",
          "writes[1].tuple",
        );
        expect(err.message).toContain("doc:1#viewer@anne");
        expect(err.details["tuple"]).toBe("doc:1#viewer@anne");
        expect(await store.headRevision()).toBe(1);
        expect(await readAll()).toEqual(["doc:1#viewer@anne"]);
        expect((await store.changes(1)).changes).toEqual([]);
        // The rolled-back batch did not burn a revision.
        expect((await store.write([touch("doc:3#viewer@carl")])).revision).toBe(2);
      });

      it("creates new tuples, and re-creates deleted ones", async () => {
        await store.write([create("doc:1#viewer@anne")]);
        await store.write([del("doc:1#viewer@anne")]);
        await store.write([create("doc:1#viewer@anne")]);
        expect(await readAll()).toEqual(["doc:1#viewer@anne"]);
      });

      it("treats a second create of the same tuple in one batch as a conflict", async () => {
        await expectError(store.write([create("doc:1#viewer@anne"), create("doc:1#viewer@anne")]), "already_exists");
        expect(await store.headRevision()).toBe(0);
        // …but a create after a delete of the same tuple in the batch is fine.
        await store.write([touch("doc:1#viewer@anne")]);
        await store.write([del("doc:1#viewer@anne"), create("doc:1#viewer@anne")]);
        expect(await readAll()).toEqual(["doc:1#viewer@anne"]);
      });

      it("checks must_match / must_not_match preconditions and applies nothing when one fails", async () => {
        await store.write([touch("doc:1#owner@user:anne")]);
        await expectError(
          store.write([touch("doc:2#viewer@bob")], {
            preconditions: [{ kind: "must_match", filter: { namespace: "doc", object: "1", subject: set("user", "bob") } }],
          }),
          "precondition_failed",
          "preconditions[0]",
        );
        await expectError(
          store.write([touch("doc:2#viewer@bob")], {
            preconditions: [
              { kind: "must_match", filter: { object: "1" } },
              { kind: "must_not_match", filter: { relation: "owner", subjectNamespace: "user" } },
            ],
          }),
          "precondition_failed",
          "preconditions[1]",
        );
        expect(await store.headRevision()).toBe(1);
        expect(await readAll()).toEqual(["doc:1#owner@user:anne"]);
        const ok = await store.write([touch("doc:2#viewer@bob")], {
          preconditions: [
            { kind: "must_match", filter: { object: "1", subject: set("user", "anne") } },
            { kind: "must_not_match", filter: { object: "2" } },
          ],
        });
        expect(ok.revision).toBe(2);
        expect(await readAll()).toEqual(["doc:1#owner@user:anne", "doc:2#viewer@bob"]);
      });

      it("checks preconditions of a delete by filter", async () => {
        await store.write([touch("doc:1#viewer@anne"), touch("doc:1#owner@anne")]);
        await expectError(
          store.deleteByFilter({ relation: "viewer" }, { preconditions: [{ kind: "must_not_match", filter: { relation: "owner" } }] }),
          "precondition_failed",
        );
        expect(await store.headRevision()).toBe(1);
        expect(await readAll()).toHaveLength(2);
      });

      it("makes touch idempotent", async () => {
        await store.write([touch("doc:1#viewer@anne"), touch("doc:1#viewer@anne")]);
        await store.write([touch("doc:1#viewer@anne")]);
        expect(await readAll()).toEqual(["doc:1#viewer@anne"]);
        expect((await store.changes(0)).changes.map(formatChange)).toEqual(["1 insert doc:1#viewer@anne"]);
      });

      it("treats deleting a missing tuple as a no-op", async () => {
        await store.write([touch("doc:1#viewer@anne")]);
        await store.write([del("doc:1#viewer@bob"), del("doc:1#viewer@user:anne")]);
        expect(await readAll()).toEqual(["doc:1#viewer@anne"]);
        expect((await store.changes(1)).changes).toEqual([]);
      });

      it("lets the later change to a tuple in a batch win, storing only the net effect", async () => {
        await store.write([touch("doc:1#viewer@anne"), del("doc:1#viewer@anne")]);
        expect(await readAll()).toEqual([]);
        await store.write([touch("doc:2#viewer@anne")]); // r2
        await store.write([del("doc:2#viewer@anne"), touch("doc:2#viewer@anne")]); // r3: stays live, unlogged
        await store.write([touch("doc:3#viewer@anne"), del("doc:3#viewer@anne"), touch("doc:3#viewer@anne")]); // r4
        await store.write([del("doc:2#viewer@anne"), touch("doc:2#viewer@anne"), del("doc:2#viewer@anne")]); // r5
        expect(await readAll()).toEqual(["doc:3#viewer@anne"]);
        expect((await store.changes(0)).changes.map(formatChange)).toEqual([
          "2 insert doc:2#viewer@anne",
          "4 insert doc:3#viewer@anne",
          "5 delete doc:2#viewer@anne",
        ]);
        // The delete-then-touch at r3 kept the original version: it is visible at r2 and r3 alike.
        expect(await readAll({}, { revision: 2 })).toEqual(["doc:2#viewer@anne"]);
      });
    });

    // A fixed data set for the filter tests: bare ids, typed objects and subject sets side by side.
    const seed = [
      "doc:1#viewer@anne",
      "doc:1#viewer@user:anne",
      "doc:1#viewer@group:eng#member",
      "doc:1#editor@user:bob",
      "doc:2#viewer@user:anne",
      "doc:2#viewer@group:eng#member",
      "folder:1#viewer@anne",
      "folder:1#parent@doc:1",
    ];
    const filterCases: Array<[string, TupleFilter, string[]]> = [
      ["everything", {}, seed],
      ["namespace", { namespace: "doc" }, seed.filter((t) => t.startsWith("doc:"))],
      ["namespace + object", { namespace: "doc", object: "1" }, seed.slice(0, 4)],
      ["object alone", { object: "2" }, ["doc:2#viewer@user:anne", "doc:2#viewer@group:eng#member"]],
      ["relation", { relation: "editor" }, ["doc:1#editor@user:bob"]],
      ["bare subject id", { subject: id("anne") }, ["doc:1#viewer@anne", "folder:1#viewer@anne"]],
      ["typed subject", { subject: set("user", "anne") }, ["doc:1#viewer@user:anne", "doc:2#viewer@user:anne"]],
      ["subject set", { subject: set("group", "eng", "member") }, ["doc:1#viewer@group:eng#member", "doc:2#viewer@group:eng#member"]],
      ["subjectNamespace", { subjectNamespace: "user" }, ["doc:1#viewer@user:anne", "doc:1#editor@user:bob", "doc:2#viewer@user:anne"]],
      ["subjectRelation", { subjectRelation: "member" }, ["doc:1#viewer@group:eng#member", "doc:2#viewer@group:eng#member"]],
      [
        "empty subjectRelation (typed objects, never bare ids)",
        { subjectRelation: "" },
        ["doc:1#viewer@user:anne", "doc:1#editor@user:bob", "doc:2#viewer@user:anne", "folder:1#parent@doc:1"],
      ],
      ["empty subjectNamespace (never bare ids)", { subjectNamespace: "" }, []],
      [
        "several fields",
        { namespace: "doc", relation: "viewer", subjectNamespace: "group", subjectRelation: "member" },
        ["doc:1#viewer@group:eng#member", "doc:2#viewer@group:eng#member"],
      ],
      ["no match", { namespace: "doc", subject: id("bob") }, []],
    ];

    describe("read filters", () => {
      it.each(filterCases)("filters by %s", async (_label, filter, expected) => {
        await store.write(seed.map(touch));
        expect(sorted(await readAll(filter))).toEqual(sorted(expected));
      });

      it("returns tuples with the right subject kinds", async () => {
        await store.write(seed.map(touch));
        const page = await store.read({ namespace: "doc", object: "1", relation: "viewer" });
        const bySubject = new Map(page.tuples.map((t) => [formatTuple(t), t.subject]));
        expect(bySubject.get("doc:1#viewer@anne")).toEqual(id("anne"));
        expect(bySubject.get("doc:1#viewer@user:anne")).toEqual(set("user", "anne", ""));
        expect(bySubject.get("doc:1#viewer@group:eng#member")).toEqual(set("group", "eng", "member"));
      });
    });

    describe("delete by filter", () => {
      it.each(filterCases)("deletes by %s and reports the count", async (_label, filter, expected) => {
        await store.write(seed.map(touch));
        const result = await store.deleteByFilter(filter);
        expect(result).toEqual({ revision: 2, deleted: expected.length });
        expect(sorted(await readAll())).toEqual(sorted(seed.filter((t) => !expected.includes(t))));
        const log = await store.changes(1);
        expect(log.changes.every((c) => c.op === "delete" && c.revision === 2)).toBe(true);
        expect(sorted(log.changes.map((c) => formatTuple(c.tuple)))).toEqual(sorted(expected));
        // History is kept: the deleted tuples are still visible at the previous revision.
        expect(sorted(await readAll({}, { revision: 1 }))).toEqual(sorted(seed));
      });
    });

    describe("reads at a revision", () => {
      it("sees exactly the writes up to that revision", async () => {
        await store.write([touch("doc:a#r@x"), touch("doc:b#r@x")]); // r1
        await store.write([del("doc:a#r@x"), touch("doc:c#r@x")]); // r2
        await store.write([touch("doc:a#r@x")]); // r3
        await store.deleteByFilter({ object: "b" }); // r4
        expect(await readAll({}, { revision: 0 })).toEqual([]);
        expect(await readAll({}, { revision: 1 })).toEqual(["doc:a#r@x", "doc:b#r@x"]);
        expect(await readAll({}, { revision: 2 })).toEqual(["doc:b#r@x", "doc:c#r@x"]);
        expect(await readAll({}, { revision: 3 })).toEqual(["doc:a#r@x", "doc:b#r@x", "doc:c#r@x"]);
        expect(await readAll({}, { revision: 4 })).toEqual(["doc:a#r@x", "doc:c#r@x"]);
        expect((await store.read({})).revision).toBe(4);
        expect((await store.read({}, { revision: 2 })).revision).toBe(2);
      });

      it("scans every tuple live at a revision in batches", async () => {
        await store.write([touch("doc:a#r@x"), touch("doc:b#r@x"), touch("doc:c#r@x")]); // r1
        await store.write([del("doc:b#r@x"), touch("doc:d#r@x"), touch("doc:e#r@x")]); // r2
        const scanned = async (revision: number, batch: number): Promise<{ sizes: number[]; tuples: string[] }> => {
          const sizes: number[] = [];
          const tuples: string[] = [];
          for await (const page of store.scan(revision, batch)) {
            sizes.push(page.length);
            tuples.push(...page.map(formatTuple));
          }
          return { sizes, tuples: tuples.sort() };
        };
        expect(await scanned(1, 2)).toEqual({ sizes: [2, 1], tuples: ["doc:a#r@x", "doc:b#r@x", "doc:c#r@x"] });
        expect(await scanned(2, 2)).toEqual({ sizes: [2, 2], tuples: ["doc:a#r@x", "doc:c#r@x", "doc:d#r@x", "doc:e#r@x"] });
        expect(await scanned(0, 2)).toEqual({ sizes: [], tuples: [] });
      });

      it("ends a scan the consumer leaves early, and the store keeps working", async () => {
        await store.write([touch("doc:a#r@x"), touch("doc:b#r@x"), touch("doc:c#r@x")]);
        for await (const page of store.scan(1, 1)) {
          expect(page).toHaveLength(1);
          break;
        }
        await store.write([touch("doc:d#r@x")]);
        expect(await readAll({})).toHaveLength(4);
      });

      it("refuses a revision ahead of the head or not a revision", async () => {
        await store.write([touch("doc:a#r@x")]);
        await expectError(store.read({}, { revision: 2 }), "invalid_argument", "revision");
        await expectError(store.read({}, { revision: -1 }), "invalid_argument", "revision");
        await expectError(store.read({}, { revision: 1.5 }), "invalid_argument", "revision");
      });
    });

    describe("pagination", () => {
      const many = (n: number, ns = "doc"): string[] =>
        Array.from({ length: n }, (_, i) => `${ns}:o${String(i).padStart(4, "0")}#viewer@u${i % 7}`);

      it("lists in (namespace, object, relation, subject) order", async () => {
        const tuples = ["b:1#r@x", "a:2#r@x", "a:1#s@x", "a:1#r@user:abc", "a:1#r@y", "a:1#r@x", "a:1#r@group:g#m"];
        await store.write(tuples.map(touch));
        // Bare ids (no subject namespace) come before subject sets of the same relation.
        expect(await readAll({}, { pageSize: 2 })).toEqual([
          "a:1#r@x",
          "a:1#r@y",
          "a:1#r@group:g#m",
          "a:1#r@user:abc",
          "a:1#s@x",
          "a:2#r@x",
          "b:1#r@x",
        ]);
      });

      it("pages through many tuples without gaps or duplicates", async () => {
        const all = many(250);
        await store.write(all.map(touch));
        const first = await store.read({ namespace: "doc" });
        expect(first.tuples).toHaveLength(100); // the default page size
        const second = await store.read({ namespace: "doc" }, { pageToken: first.nextPageToken as string });
        const third = await store.read({ namespace: "doc" }, { pageToken: second.nextPageToken as string });
        expect(second.tuples).toHaveLength(100);
        expect(third.tuples).toHaveLength(50);
        expect(third.nextPageToken).toBeUndefined();
        const listed = [...first.tuples, ...second.tuples, ...third.tuples].map(formatTuple);
        expect(listed).toEqual([...all].sort());
        expect(new Set([first.revision, second.revision, third.revision])).toEqual(new Set([1]));
      });

      it("gives no token when the last page is exactly full", async () => {
        await store.write(many(20).map(touch));
        const first = await store.read({}, { pageSize: 10 });
        expect(first.nextPageToken).toBeDefined();
        const second = await store.read({}, { pageSize: 10, pageToken: first.nextPageToken as string });
        expect(second.tuples).toHaveLength(10);
        expect(second.nextPageToken).toBeUndefined();
      });

      it("keeps a listing at its revision while writes happen between pages", async () => {
        const all = many(30);
        await store.write(all.map(touch));
        const filter: TupleFilter = { namespace: "doc", relation: "viewer" };
        const seen: string[] = [];
        let page = await store.read(filter, { pageSize: 7 });
        seen.push(...page.tuples.map(formatTuple));
        let round = 0;
        while (page.nextPageToken !== undefined) {
          round++;
          // Delete tuples not yet listed, add ones sorting before, among and after them.
          await store.write([
            del(all[29 - round] as string),
            touch(`doc:o0000a#viewer@late${round}`),
            touch(`doc:o0025a#viewer@late${round}`),
            touch(`doc:zz${round}#viewer@late`),
          ]);
          await store.deleteByFilter({ object: `o00${String(10 + round)}` });
          page = await store.read(filter, { pageSize: 7, pageToken: page.nextPageToken });
          expect(page.revision).toBe(1);
          seen.push(...page.tuples.map(formatTuple));
        }
        expect(seen).toEqual([...all].sort());
        expect(await store.headRevision()).toBe(1 + 2 * round);
      });

      it("accepts page sizes from 1 to 1,000 and treats 0 as the default", async () => {
        await store.write(many(3).map(touch));
        expect((await store.read({}, { pageSize: 1 })).tuples).toHaveLength(1);
        expect((await store.read({}, { pageSize: 1000 })).tuples).toHaveLength(3);
        expect((await store.read({}, { pageSize: 0 })).tuples).toHaveLength(3);
        await expectError(store.read({}, { pageSize: 1001 }), "invalid_argument", "page_size");
        await expectError(store.read({}, { pageSize: -1 }), "invalid_argument", "page_size");
        await expectError(store.read({}, { pageSize: 2.5 }), "invalid_argument", "page_size");
      });

      it("refuses tampered, foreign-filter and garbage page tokens", async () => {
        await store.write(many(5).map(touch));
        const filter: TupleFilter = { namespace: "doc" };
        const token = (await store.read(filter, { pageSize: 2 })).nextPageToken as string;
        expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
        const [payload, signature] = token.split(".") as [string, string];
        // Re-sign nothing: change the payload (a different revision/key) and keep the old signature.
        const decoded = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Record<string, unknown>;
        const forged = Buffer.from(JSON.stringify({ ...decoded, r: 0 })).toString("base64url");
        const flip = (s: string): string => (s[0] === "A" ? "B" : "A") + s.slice(1);
        const bad = [
          `${forged}.${signature}`,
          `${payload}.${flip(signature)}`,
          `${flip(payload)}.${signature}`,
          `${payload}.`,
          "not-a-token",
          "a.b.c",
          Buffer.from("garbage").toString("base64url"),
        ];
        for (const pageToken of bad) {
          await expectError(store.read(filter, { pageSize: 2, pageToken }), "invalid_argument", "page_token");
        }
        const foreign = await expectError(
          store.read({ namespace: "folder" }, { pageSize: 2, pageToken: token }),
          "invalid_argument",
          "page_token",
        );
        expect(foreign.message).toContain("different filter");
        await expectError(store.read({ ...filter, relation: "viewer" }, { pageToken: token }), "invalid_argument", "page_token");
        // The genuine token still works, also with an equal filter written differently.
        const next = await store.read({ relation: undefined, namespace: "doc" } as unknown as TupleFilter, { pageSize: 2, pageToken: token });
        expect(next.tuples).toHaveLength(2);
      });

      it("refuses a token together with a different explicit revision", async () => {
        await store.write(many(3).map(touch));
        await store.write([touch("doc:x#viewer@y")]);
        const token = (await store.read({}, { pageSize: 1, revision: 1 })).nextPageToken as string;
        expect((await store.read({}, { pageSize: 1, revision: 1, pageToken: token })).tuples).toHaveLength(1);
        await expectError(store.read({}, { revision: 2, pageToken: token }), "invalid_argument", "page_token");
      });
    });

    describe("changelog", () => {
      it("lists inserts and deletes in revision order, deletes first within a revision", async () => {
        await store.write([touch("doc:b#r@x"), touch("doc:a#r@x")]); // r1
        await store.write([touch("doc:c#r@x"), del("doc:a#r@x")]); // r2
        await store.writeSchema("model\n  schema 1.1\ntype user\n", "fga"); // r3, no tuple changes
        await store.deleteByFilter({ object: "b" }); // r4
        const log = await store.changes(0);
        expect(log.changes.map(formatChange)).toEqual([
          "1 insert doc:a#r@x",
          "1 insert doc:b#r@x",
          "2 delete doc:a#r@x",
          "2 insert doc:c#r@x",
          "4 delete doc:b#r@x",
        ]);
        expect(log.untilRevision).toBe(4);
        expect(log.more).toBe(false);
        expect((await store.changes(2)).changes.map(formatChange)).toEqual(["4 delete doc:b#r@x"]);
        expect(await store.changes(4)).toEqual({ changes: [], untilRevision: 4, more: false, schemaRevision: 3 });
      });

      it("limits a page without splitting a revision", async () => {
        await store.write([touch("doc:1#r@a"), touch("doc:1#r@b"), touch("doc:1#r@c")]); // r1: 3
        await store.write([touch("doc:2#r@a"), touch("doc:2#r@b")]); // r2: 2
        await store.write([touch("doc:3#r@a"), touch("doc:3#r@b"), touch("doc:3#r@c")]); // r3: 3
        const p1 = await store.changes(0, 4);
        expect(p1.changes.map((c) => c.revision)).toEqual([1, 1, 1]);
        expect([p1.untilRevision, p1.more]).toEqual([1, true]);
        const p2 = await store.changes(p1.untilRevision, 4);
        expect(p2.changes.map((c) => c.revision)).toEqual([2, 2]);
        expect([p2.untilRevision, p2.more]).toEqual([2, true]);
        const p3 = await store.changes(p2.untilRevision, 4);
        expect(p3.changes.map((c) => c.revision)).toEqual([3, 3, 3]);
        expect([p3.untilRevision, p3.more]).toEqual([3, false]);
        const exact = await store.changes(0, 5);
        expect(exact.changes).toHaveLength(5);
        expect([exact.untilRevision, exact.more]).toEqual([2, true]);
      });

      it("returns a revision larger than the limit whole", async () => {
        await store.write(["a", "b", "c", "d", "e"].map((s) => touch(`doc:1#r@${s}`))); // r1: 5
        await store.write([touch("doc:2#r@a")]); // r2
        await store.write([touch("doc:2#r@a")]); // r3: no changes
        const p1 = await store.changes(0, 2);
        expect(p1.changes).toHaveLength(5);
        expect([p1.untilRevision, p1.more]).toEqual([1, true]);
        const p2 = await store.changes(1, 1);
        expect(p2.changes.map(formatChange)).toEqual(["2 insert doc:2#r@a"]);
        expect([p2.untilRevision, p2.more]).toEqual([3, false]);
        await store.write(["a", "b", "c"].map((s) => touch(`doc:4#r@${s}`))); // r4: 3, the last revision
        const p3 = await store.changes(3, 1);
        expect(p3.changes).toHaveLength(3);
        expect([p3.untilRevision, p3.more]).toEqual([4, false]);
      });

      it("records a delete and re-insert of the same tuple", async () => {
        await store.write([touch("doc:1#viewer@anne")]);
        await store.write([del("doc:1#viewer@anne")]);
        await store.write([touch("doc:1#viewer@anne")]);
        expect((await store.changes(0)).changes.map(formatChange)).toEqual([
          "1 insert doc:1#viewer@anne",
          "2 delete doc:1#viewer@anne",
          "3 insert doc:1#viewer@anne",
        ]);
        expect(await readAll({}, { revision: 2 })).toEqual([]);
        expect(await readAll({}, { revision: 3 })).toEqual(["doc:1#viewer@anne"]);
      });

      it("validates its arguments", async () => {
        await store.write([touch("doc:1#viewer@anne")]);
        await expectError(store.changes(0, 0), "invalid_argument", "limit");
        await expectError(store.changes(0, 1.5), "invalid_argument", "limit");
        await expectError(store.changes(2), "invalid_argument", "after_revision");
        await expectError(store.changes(-1), "invalid_argument", "after_revision");
      });

      it("replays to exactly the state read at every revision", async () => {
        // A deterministic pseudo-random history over a small universe, so batches collide often.
        let seed = 42;
        const random = (n: number): number => {
          seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
          return seed % n;
        };
        const universe = Array.from({ length: 12 }, (_, i) => `doc:${i % 4}#viewer@${i % 3 === 0 ? `u${i}` : `user:u${i}`}`);
        for (let b = 0; b < 25; b++) {
          const batch: TupleWrite[] = [];
          for (let i = 0, n = 1 + random(5); i < n; i++) {
            const tuple = universe[random(universe.length)] as string;
            batch.push(random(3) === 0 ? del(tuple) : touch(tuple));
          }
          if (random(6) === 0) await store.deleteByFilter({ object: String(random(4)) });
          else await store.write(batch);
        }
        const head = await store.headRevision();
        const replayed = new Set<string>();
        const atRevision = new Map<Revision, string[]>([[0, []]]);
        let after = 0;
        let guard = 0;
        for (;;) {
          const page = await store.changes(after, 3);
          expect(page.untilRevision).toBeGreaterThan(after);
          // Each revision is reported completely within one page, so replaying revision by revision gives
          // the exact state at the end of each.
          for (let r = after + 1; r <= page.untilRevision; r++) {
            for (const c of page.changes.filter((x) => x.revision === r)) {
              const text = formatTuple(c.tuple);
              if (c.op === "insert") {
                expect(replayed.has(text), `insert of live ${text}`).toBe(false);
                replayed.add(text);
              } else {
                expect(replayed.delete(text), `delete of missing ${text}`).toBe(true);
              }
            }
            atRevision.set(r, sorted([...replayed]));
          }
          expect(page.changes.every((c) => c.revision > after && c.revision <= page.untilRevision)).toBe(true);
          after = page.untilRevision;
          if (!page.more) break;
          if (++guard > 1_000) throw new Error("changelog did not terminate");
        }
        expect(after).toBe(head);
        for (const [revision, expected] of atRevision) {
          expect(sorted(await readAll({}, { revision })), `state at revision ${revision}`).toEqual(expected);
        }
        expect(sorted(await readAll())).toEqual(sorted([...replayed]));
      });
    });

    describe("schemas", () => {
      it("stores schemas under new revisions and returns the latest", async () => {
        await store.write([touch("doc:1#viewer@anne")]);
        const first = await store.writeSchema("class Doc implements Namespace {}", "opl");
        expect(first.revision).toBe(2);
        expect(await store.readSchema()).toEqual({ text: "class Doc implements Namespace {}", language: "opl", revision: 2 });
        const text = "model\n  schema 1.1\n\ntype user\ntype doc\n  relations\n    define viewer: [user]\n";
        const second = await store.writeSchema(text, "fga");
        expect(second.revision).toBe(3);
        expect(await store.readSchema()).toEqual({ text, language: "fga", revision: 3 });
        expect(await store.headRevision()).toBe(3);
        await expectError(store.writeSchema("x", "yaml" as "opl"), "invalid_argument", "language");
        expect(await store.headRevision()).toBe(3);
      });
    });

    describe("changelog retention", () => {
      it("reports the latest schema revision with each changelog page", async () => {
        await store.write([touch("doc:1#viewer@anne")]);
        expect((await store.changes(0)).schemaRevision).toBe(0);
        await store.writeSchema("class Doc implements Namespace {}", "opl");
        await store.write([touch("doc:2#viewer@anne")]);
        const page = await store.changes(2);
        expect(page.schemaRevision).toBe(2);
        expect(page.changes.map(formatChange)).toEqual(["3 insert doc:2#viewer@anne"]);
      });

      it("keeps everything inside the retention window", async () => {
        await store.write([touch("doc:1#viewer@anne")]);
        await store.write([del("doc:1#viewer@anne")]);
        expect(await store.collectGarbage(3_600_000)).toEqual({ horizon: 0, removedVersions: 0 });
        expect((await store.changes(0)).changes.map(formatChange)).toEqual([
          "1 insert doc:1#viewer@anne",
          "2 delete doc:1#viewer@anne",
        ]);
        expect(await readAll({}, { revision: 1 })).toEqual(["doc:1#viewer@anne"]);
      });

      it("collects deleted versions older than the retention, moves the horizon and refuses reads before it", async () => {
        await store.write([touch("doc:1#viewer@anne"), touch("doc:2#viewer@bob")]);
        await store.write([del("doc:1#viewer@anne")]);
        await store.write([touch("doc:3#viewer@carl")]);
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(await store.collectGarbage(10)).toEqual({ horizon: 3, removedVersions: 1 });
        expect(await store.changelogHorizon()).toBe(3);
        // Live tuples and reads at or after the horizon are untouched.
        expect(sorted(await readAll())).toEqual(["doc:2#viewer@bob", "doc:3#viewer@carl"]);
        const scanned: string[] = [];
        for await (const batch of store.scan(3)) scanned.push(...batch.map(formatTuple));
        expect(sorted(scanned)).toEqual(["doc:2#viewer@bob", "doc:3#viewer@carl"]);
        const err = await expectError(store.changes(2), "invalid_argument", "after_revision");
        expect(err.reason).toBe("revision_expired");
        expect(err.message).toContain("horizon 3");
        await expectError(store.read({}, { revision: 2 }), "invalid_argument", "revision");
        // The changelog after the horizon keeps working, and a larger retention never lowers the horizon.
        await store.write([touch("doc:4#viewer@dana")]);
        expect((await store.changes(3)).changes.map(formatChange)).toEqual(["4 insert doc:4#viewer@dana"]);
        expect((await store.collectGarbage(3_600_000)).horizon).toBe(3);
        await expectError(store.collectGarbage(-1), "invalid_argument", "retentionMillis");
      });
    });

    describe("identifiers", () => {
      it("stores empty strings as ids, keeping them apart from missing fields", async () => {
        const tuples: RelationTuple[] = [
          { namespace: "doc", object: "", relation: "viewer", subject: id("") },
          { namespace: "doc", object: "", relation: "", subject: set("group", "", "") },
          { namespace: "doc", object: "x", relation: "viewer", subject: set("group", "", "member") },
        ];
        await store.write(tuples.map((tuple) => ({ op: "create", tuple })));
        const all = (await store.read({})).tuples;
        expect(sorted(all.map((t) => JSON.stringify(t)))).toEqual(sorted(tuples.map((t) => JSON.stringify(t))));
        expect((await store.read({ object: "" })).tuples).toHaveLength(2);
        expect((await store.read({ relation: "" })).tuples).toEqual([tuples[1]]);
        expect((await store.read({ subject: id("") })).tuples).toEqual([tuples[0]]);
        expect((await store.read({ subject: set("group", "") })).tuples).toEqual([tuples[1]]);
        await expectError(store.write([{ op: "create", tuple: tuples[0] as RelationTuple }]), "already_exists");
      });

      it("stores unicode ids exactly and pages through them", async () => {
        const names = ["ドキュメント", "naïve", "👩‍💻", "𝒳", "\uffee", "Ωmega", "дом", "a b/c?d#e"];
        const tuples: RelationTuple[] = names.map((n) => ({
          namespace: "doc",
          object: n,
          relation: "viewer",
          subject: set("user", `${n}-user`),
        }));
        await store.write(tuples.map((tuple) => ({ op: "touch", tuple })));
        for (const t of tuples) {
          expect((await store.read({ object: t.object })).tuples).toEqual([t]);
          expect((await store.read({ subject: t.subject })).tuples).toEqual([t]);
        }
        const listed = await readAll({}, { pageSize: 1 });
        expect(sorted(listed)).toEqual(sorted(tuples.map(formatTuple)));
      });

      it("refuses what it cannot store: NUL characters and subject sets without a namespace", async () => {
        await expectError(store.write([touch("doc:a\u0000b#viewer@anne")]), "invalid_argument", "writes[0].tuple.object");
        await expectError(
          store.write([touch("doc:1#viewer@anne"), { op: "touch", tuple: { namespace: "doc", object: "1", relation: "r", subject: set("", "x") } }]),
          "invalid_argument",
          "writes[1].tuple.subject.namespace",
        );
        await expectError(store.read({ namespace: "a\u0000" }), "invalid_argument", "filter.namespace");
        expect(await store.headRevision()).toBe(0);
      });

      it("is not affected by later changes to the caller's objects", async () => {
        const tuple = { namespace: "doc", object: "1", relation: "viewer", subject: { kind: "id", id: "anne" } } as const;
        const mutable = JSON.parse(JSON.stringify(tuple)) as { object: string; subject: { id: string } };
        await store.write([{ op: "touch", tuple: mutable as unknown as RelationTuple }]);
        mutable.object = "2";
        mutable.subject.id = "mallory";
        expect(await readAll()).toEqual(["doc:1#viewer@anne"]);
      });
    });

    describe("scale and concurrency", () => {
      it("serialises 20 concurrent writers into 20 consecutive revisions, losing nothing", async () => {
        await Promise.all(Array.from({ length: 20 }, () => store.read({})));
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => store.write([touch(`doc:${i}#viewer@anne`), touch(`doc:${i}#editor@bob`)])),
        );
        const revisions = results.map((r) => r.revision).sort((a, b) => a - b);
        expect(revisions).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
        expect(await readAll()).toHaveLength(40);
        const log = await store.changes(0);
        for (let r = 1; r <= 20; r++) {
          const objects = new Set(log.changes.filter((c) => c.revision === r).map((c) => c.tuple.object));
          expect(objects.size, `revision ${r} holds exactly one writer's batch`).toBe(1);
        }
      });

      it("lets exactly one of 10 concurrent creates of the same tuple win", async () => {
        // Open pooled connections first, so the writers really overlap instead of queueing on connects.
        await Promise.all(Array.from({ length: 10 }, () => store.read({})));
        const outcomes = await Promise.allSettled(
          Array.from({ length: 10 }, () => store.write([create("doc:1#owner@user:anne")])),
        );
        expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
        for (const o of outcomes) {
          if (o.status === "rejected") expect((o.reason as GatehouseError).code).toBe("already_exists");
        }
        expect(await store.headRevision()).toBe(1);
      });

      it("writes and deletes a 2,000-tuple batch under one revision", async () => {
        const tuples = Array.from({ length: 2_000 }, (_, i) => `doc:${i % 50}#viewer@user:u${i}`);
        const { revision } = await store.write(tuples.map(touch));
        expect(revision).toBe(1);
        const first = await store.read({}, { pageSize: 1000 });
        const second = await store.read({}, { pageSize: 1000, pageToken: first.nextPageToken as string });
        expect(first.tuples.length + second.tuples.length).toBe(2_000);
        expect(second.nextPageToken).toBeUndefined();
        const log = await store.changes(0);
        expect(log.changes).toHaveLength(2_000); // one revision, returned whole despite the default limit
        expect(log.more).toBe(false);
        const removed = await store.write(tuples.slice(0, 1_500).map(del));
        expect(removed.revision).toBe(2);
        expect(await readAll({}, { pageSize: 1000 })).toHaveLength(500);
        expect((await store.deleteByFilter({ subjectNamespace: "user" })).deleted).toBe(500);
      });
    });

    describe("lifecycle", () => {
      it("refuses calls after close", async () => {
        await store.close();
        await expectError(store.headRevision(), "unavailable");
        await expectError(store.write([touch("doc:1#viewer@anne")]), "unavailable");
      });
    });
  });
}
