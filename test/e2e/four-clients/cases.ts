/**
 * One table of end-to-end cases, modelled on Ory Keto's own (`internal/e2e/testcases_test.go`,
 * `transaction_cases_test.go`; reference authz.md §3.1), run unchanged through every `KetoClient`.
 *
 * Each case names the namespaces it uses; the runner empties them before the case, so cases are independent
 * of each other and of the order clients run in. Expectations are Keto's; where transports differ in Keto
 * (Q1: an unknown namespace in a check), the case branches on `client.protocol`.
 */
import { expect } from "vitest";
import { ClientError, subjectString, type KetoClient, type Protocol, type RelationQuery, type Tuple } from "./clients.js";

/** The OPL schema the server runs with. Empty classes: Keto's non-strict mode makes every relation a plain one. */
export const schemaNamespaces = [
  "User",
  "Group",
  "EmptyNs",
  "Created",
  "EmptyIds",
  "SubjectSets",
  "TypedSubjects",
  "Expanded",
  "Paged",
  "Deleted",
  "DeletedByQuery",
  "BulkA",
  "BulkB",
  "Batch1",
  "Batch2",
  "Depth",
  "Snap",
] as const;

export const schema = schemaNamespaces.map((n) => `class ${n} implements Namespace {}`).join("\n") + "\n";

/** One row of the table. */
export interface Case {
  name: string;
  /** Emptied before the case runs. */
  namespaces: readonly string[];
  /** Only for these protocols (default: all). */
  protocols?: readonly Protocol[];
  run(client: KetoClient): Promise<void>;
}

type ErrorKind = "not_found" | "invalid_argument";
const HTTP_STATUS: Record<ErrorKind, number> = { not_found: 404, invalid_argument: 400 };
const GRPC_CODE: Record<ErrorKind, number> = { not_found: 5, invalid_argument: 3 };

/** Asserts the call fails the way Keto fails it: the HTTP status, or the gRPC code; returns the error. */
export async function expectFailure(client: KetoClient, call: Promise<unknown>, kind: ErrorKind): Promise<ClientError> {
  const err = await call.then(
    (value) => new Error(`expected ${kind}, got ${JSON.stringify(value)}`),
    (e: unknown) => e,
  );
  if (!(err instanceof ClientError)) throw err;
  if (client.protocol === "http") expect(err.status, err.message).toBe(HTTP_STATUS[kind]);
  else expect(err.code, err.message).toBe(GRPC_CODE[kind]);
  return err;
}

const byKey = (t: Tuple): string => `${t.namespace}:${t.object}#${t.relation}@${subjectString(t)}`;
const sorted = (ts: readonly Tuple[]): Tuple[] => [...ts].sort((a, b) => (byKey(a) < byKey(b) ? -1 : byKey(a) > byKey(b) ? 1 : 0));

/** Every tuple matching `query`, following page tokens. */
async function listAll(client: KetoClient, query: RelationQuery, pageSize?: number): Promise<{ tuples: Tuple[]; pages: number }> {
  const tuples: Tuple[] = [];
  let token = "";
  let pages = 0;
  do {
    const page = await client.list(query, pageSize, token);
    tuples.push(...page.tuples);
    token = page.nextPageToken;
    pages++;
    if (pages > 1000) throw new Error("pagination does not end");
  } while (token !== "");
  return { tuples, pages };
}

const tuple = (namespace: string, object: string, relation: string, subject: string | { namespace: string; object: string; relation: string }): Tuple =>
  typeof subject === "string" ? { namespace, object, relation, subject_id: subject } : { namespace, object, relation, subject_set: subject };

export const cases: readonly Case[] = [
  {
    name: "lists the namespaces of the schema",
    namespaces: [],
    async run(c) {
      const names = await c.listNamespaces();
      expect([...names].sort()).toEqual([...schemaNamespaces].sort());
    },
  },
  {
    name: "gets an empty namespace",
    namespaces: ["EmptyNs"],
    async run(c) {
      expect(await c.list({ namespace: "EmptyNs" })).toEqual({ tuples: [], nextPageToken: "" });
    },
  },
  {
    name: "creates a tuple and uses it then (list, check, batch check; others denied)",
    namespaces: ["Created"],
    async run(c) {
      const t = tuple("Created", `object for client ${c.name}`, "access", "client");
      await c.createTuple(t);
      expect(await c.list({ namespace: "Created" })).toEqual({ tuples: [t], nextPageToken: "" });
      expect((await c.check(t)).allowed).toBe(true);
      expect(await c.batchCheck([t])).toEqual([{ allowed: true, error: "" }]);
      expect((await c.check({ ...t, subject_id: "someone else" })).allowed).toBe(false);
      expect((await c.check({ ...t, relation: "other" })).allowed).toBe(false);
    },
  },
  {
    name: "creates tuples with empty IDs",
    namespaces: ["EmptyIds"],
    async run(c) {
      const ts = [tuple("EmptyIds", "", "access", ""), tuple("EmptyIds", "", "access", { namespace: "EmptyIds", object: "", relation: "access" })];
      for (const t of ts) {
        await c.createTuple(t);
        expect((await c.check(t)).allowed).toBe(true);
        expect(await c.batchCheck([t])).toEqual([{ allowed: true, error: "" }]);
      }
      expect(sorted((await c.list({ namespace: "EmptyIds" })).tuples)).toEqual(sorted(ts));
    },
  },
  {
    name: "checks subject set relations (a self-referencing set, and membership through a set)",
    namespaces: ["SubjectSets", "Group"],
    async run(c) {
      const self = tuple("SubjectSets", `obj for client ${c.name}`, "check", { namespace: "SubjectSets", object: `obj for client ${c.name}`, relation: "check" });
      await c.createTuple(self);
      expect((await c.check(self)).allowed).toBe(true);
      expect(await c.batchCheck([self])).toEqual([{ allowed: true, error: "" }]);

      await c.createTuple(tuple("Group", "devs", "member", "alice"));
      await c.createTuple(tuple("SubjectSets", "readme", "view", { namespace: "Group", object: "devs", relation: "member" }));
      expect((await c.check(tuple("SubjectSets", "readme", "view", "alice"))).allowed).toBe(true);
      expect((await c.check(tuple("SubjectSets", "readme", "view", "bob"))).allowed).toBe(false);
      // The subject set itself is a subject of the tuple.
      expect((await c.check(tuple("SubjectSets", "readme", "view", { namespace: "Group", object: "devs", relation: "member" }))).allowed).toBe(true);
    },
  },
  {
    name: "subject sets with an empty relation are subjects of their own, distinct from subject ids",
    namespaces: ["TypedSubjects", "User"],
    async run(c) {
      const anne = { namespace: "User", object: "anne", relation: "" };
      const t = tuple("TypedSubjects", "doc", "owner", anne);
      await c.createTuple(t);
      expect((await c.list({ namespace: "TypedSubjects", subject_set: anne })).tuples).toEqual([t]);
      expect((await c.list({ namespace: "TypedSubjects", subject_id: "anne" })).tuples).toEqual([]);
      expect((await c.check(t)).allowed).toBe(true);
      expect((await c.check(tuple("TypedSubjects", "doc", "owner", "anne"))).allowed).toBe(false);
      await c.deleteTuples({ namespace: "TypedSubjects", subject_set: anne });
      expect((await c.list({ namespace: "TypedSubjects" })).tuples).toEqual([]);
    },
  },
  {
    name: "expands a subject set into a two-level tree, cut at the requested depth",
    namespaces: ["Expanded"],
    async run(c) {
      const root = { namespace: "Expanded", object: `tree for client ${c.name}`, relation: "access" };
      const owners = { namespace: "Expanded", object: `tree for client ${c.name}`, relation: "owner" };
      await c.patch([
        { action: "insert", tuple: tuple(root.namespace, root.object, "access", "s1") },
        { action: "insert", tuple: tuple(root.namespace, root.object, "access", "s2") },
        { action: "insert", tuple: tuple(root.namespace, root.object, "access", owners) },
        { action: "insert", tuple: tuple(root.namespace, root.object, "owner", "maureen") },
      ]);
      const s = subjectString;
      expect(await c.expand(root, 100)).toEqual({
        type: "union",
        subject: s({ subject_set: root }),
        children: [
          { type: "union", subject: s({ subject_set: owners }), children: [{ type: "leaf", subject: "maureen", children: [] }] },
          { type: "leaf", subject: "s1", children: [] },
          { type: "leaf", subject: "s2", children: [] },
        ],
      });
      // Keto's BuildTree: a subject set reached with one level left is a leaf naming it.
      expect(await c.expand(root, 2)).toEqual({
        type: "union",
        subject: s({ subject_set: root }),
        children: [
          { type: "leaf", subject: s({ subject_set: owners }), children: [] },
          { type: "leaf", subject: "s1", children: [] },
          { type: "leaf", subject: "s2", children: [] },
        ],
      });
    },
  },
  {
    name: "gets results paginated (page size 1 and 3)",
    namespaces: ["Paged"],
    async run(c) {
      const relation = `some unique relation ${c.name}`;
      const ts = Array.from({ length: 10 }, (_, i) => tuple("Paged", `o${i}`, relation, `s${i}`));
      await c.patch(ts.map((t) => ({ action: "insert", tuple: t })));

      const query = { namespace: "Paged", relation };
      let token = "";
      const seen: Tuple[] = [];
      for (let page = 1; page <= 10; page++) {
        const p = await c.list(query, 1, token);
        expect(p.tuples).toHaveLength(1);
        seen.push(...p.tuples);
        token = p.nextPageToken;
        // Keto: an empty token means the last page; there is no trailing empty page.
        if (page < 10) expect(token).not.toBe("");
        else expect(token).toBe("");
      }
      expect(sorted(seen)).toEqual(sorted(ts));

      const bigger = await listAll(c, query, 3);
      expect(bigger.pages).toBe(4);
      expect(sorted(bigger.tuples)).toEqual(sorted(ts));
    },
  },
  {
    name: "deletes a tuple (subject id and subject set; by its full query and by patch)",
    namespaces: ["Deleted"],
    async run(c) {
      for (const t of [tuple("Deleted", "o", "rel", "s"), tuple("Deleted", "o", "rel", { namespace: "Deleted", object: "so", relation: "rel" })]) {
        await c.createTuple(t);
        expect((await c.list({ namespace: "Deleted" })).tuples).toEqual([t]);
        await c.deleteTuples(t);
        expect((await c.list({ namespace: "Deleted" })).tuples).toEqual([]);
        expect((await c.check(t)).allowed).toBe(false);

        await c.createTuple(t);
        await c.patch([{ action: "delete", tuple: t }]);
        expect((await c.list({ namespace: "Deleted" })).tuples).toEqual([]);
      }
    },
  },
  {
    name: "deletes tuples based on a relation query, leaving the rest",
    namespaces: ["DeletedByQuery"],
    async run(c) {
      const ts = [tuple("DeletedByQuery", "o1", "rel", "s1"), tuple("DeletedByQuery", "o2", "rel", "s2")];
      const kept = tuple("DeletedByQuery", "o1", "other", "s1");
      for (const t of [...ts, kept]) await c.createTuple(t);
      const q = { namespace: "DeletedByQuery", relation: "rel" };
      expect(sorted((await c.list(q)).tuples)).toEqual(sorted(ts));
      await c.deleteTuples(q);
      expect((await c.list(q)).tuples).toEqual([]);
      expect((await c.list({ namespace: "DeletedByQuery" })).tuples).toEqual([kept]);
    },
  },
  {
    name: "large inserts and deletes (300 tuples in one transaction)",
    namespaces: ["BulkA", "BulkB"],
    async run(c) {
      const ts: Tuple[] = [];
      for (let i = 0; i < 150; i++) {
        ts.push(tuple("BulkA", `o${i}`, "rela", { namespace: "BulkB", object: `o${i}`, relation: "relx" }));
        ts.push(tuple("BulkA", `o${i}`, "relb", "sid"));
      }
      await c.patch(ts.map((t) => ({ action: "insert", tuple: t })));
      const all = await listAll(c, { namespace: "BulkA" }, 100);
      expect(all.pages).toBe(3);
      expect(sorted(all.tuples)).toEqual(sorted(ts));
      // Keto caps the page size at 500 and defaults to 100.
      expect((await c.list({ namespace: "BulkA" }, 1000)).tuples).toHaveLength(300);
      expect((await c.list({ namespace: "BulkA" })).tuples).toHaveLength(100);

      await c.patch(ts.map((t) => ({ action: "delete", tuple: t })));
      expect(await c.list({ namespace: "BulkA" })).toEqual({ tuples: [], nextPageToken: "" });
    },
  },
  {
    name: "batch check: allowed, allowed via subject set, unknown namespace as an item error, denied; empty batch",
    namespaces: ["Batch1", "Batch2"],
    async run(c) {
      const obj1 = `obj for client ${c.name}`;
      const viaSet = tuple("Batch1", obj1, "check", { namespace: "Batch1", object: obj1, relation: "check" });
      const single = tuple("Batch2", `another obj for client ${c.name}`, "access", "sub1");
      await c.createTuple(viaSet);
      await c.createTuple(single);
      const results = await c.batchCheck([viaSet, single, tuple("unknown-namespace", obj1, "check", "sub1"), tuple("Batch1", obj1, "check", "unknown-sub")]);
      expect(results).toHaveLength(4);
      expect(results[0]).toEqual({ allowed: true, error: "" });
      expect(results[1]).toEqual({ allowed: true, error: "" });
      expect(results[2]?.allowed).toBe(false);
      expect(results[2]?.error).not.toBe("");
      expect(results[3]).toEqual({ allowed: false, error: "" });
      expect(await c.batchCheck([])).toEqual([]);
    },
  },
  {
    name: "batch check: an unknown namespace item carries Keto's not-found message",
    namespaces: [],
    async run(c) {
      const [result] = await c.batchCheck([tuple("unknown-namespace", "o", "r", "s")]);
      // Keto's e2e: assert.Contains(errorMessage, "The requested resource could not be found"): the item error is
      // herodot.ErrNotFound's Error(), i.e. its message, not the reason.
      expect(result?.error).toContain("The requested resource could not be found");
    },
  },
  {
    name: "batch check: more than 10 tuples is a bad request",
    namespaces: [],
    async run(c) {
      const ts = Array.from({ length: 11 }, () => tuple("namespace-name", "obj", "rel", "sub"));
      const err = await expectFailure(c, c.batchCheck(ts), "invalid_argument");
      expect(err.message).toContain("batch exceeds max size of 10");
    },
  },
  {
    name: "unknown namespace: list is not found; REST check denies, gRPC check fails",
    namespaces: [],
    async run(c) {
      await expectFailure(c, c.list({ namespace: "unknown namespace" }), "not_found");
      const t = tuple("unknown namespace", "o", "r", "s");
      if (c.protocol === "http") expect((await c.check(t)).allowed).toBe(false);
      else await expectFailure(c, c.check(t), "not_found");
    },
  },
  {
    name: "unknown namespace: the REST error body is herodot's not-found",
    namespaces: [],
    protocols: ["http"],
    async run(c) {
      const err = await expectFailure(c, c.list({ namespace: "unknown namespace" }), "not_found");
      // Keto's REST e2e compares error.code, error.status and error.message with herodot.ErrNotFound.
      // With OPL namespaces Keto's manager answers herodot.ErrNotFound.WithReasonf("Unknown namespace with name %q.", name)
      // (`internal/driver/config/namespace_memory.go`, embedded by `opl_config_namespace_watcher.go`).
      expect(err.body).toMatchObject({
        error: {
          code: 404,
          status: "Not Found",
          message: "The requested resource could not be found",
          reason: 'Unknown namespace with name "unknown namespace".',
        },
      });
    },
  },
  {
    name: "respects max depth: a two-hop chain needs depth 2",
    namespaces: ["Depth"],
    async run(c) {
      await c.createTuple(tuple("Depth", "a", "member", { namespace: "Depth", object: "b", relation: "member" }));
      await c.createTuple(tuple("Depth", "b", "member", "u"));
      const t = tuple("Depth", "a", "member", "u");
      expect((await c.check(t, { maxDepth: 1 })).allowed).toBe(false);
      expect((await c.check(t, { maxDepth: 2 })).allowed).toBe(true);
      // <= 0 means the global limit.
      expect((await c.check(t, { maxDepth: 0 })).allowed).toBe(true);
      expect(await c.batchCheck([t], 1)).toEqual([{ allowed: false, error: "" }]);
      expect(await c.batchCheck([t], 2)).toEqual([{ allowed: true, error: "" }]);
    },
  },
  {
    name: "snaptokens: a write's snaptoken passed to check sees the write; Keto's placeholder token is accepted",
    namespaces: ["Snap"],
    protocols: ["rpc"],
    async run(c) {
      const t1 = tuple("Snap", "doc", "viewer", "ann");
      const t2 = tuple("Snap", "doc", "viewer", "bob");
      const written = await c.patch([
        { action: "insert", tuple: t1 },
        { action: "insert", tuple: t2 },
      ]);
      // One snaptoken per delta (Keto: `repeated string snaptokens`).
      expect(written.snaptokens).toHaveLength(2);
      expect(written.snaptoken).toBeTruthy();
      const checked = await c.check(t1, { snaptoken: written.snaptoken ?? "" });
      expect(checked.allowed).toBe(true);
      expect(checked.snaptoken).toBeTruthy();
      // Keto fills every snaptoken with "not yet implemented"; clients echo it back.
      expect((await c.check(t2, { snaptoken: "not yet implemented" })).allowed).toBe(true);
      const deleted = await c.patch([{ action: "delete", tuple: t1 }]);
      expect((await c.check(t1, { snaptoken: deleted.snaptoken ?? "" })).allowed).toBe(false);
    },
  },
];
