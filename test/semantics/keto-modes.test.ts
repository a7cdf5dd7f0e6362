/**
 * Keto's two OPL modes. Non-strict (Keto's default): a write needs only a known namespace, an undeclared
 * relation is a plain relation, tuples under a permit count, and every stored subject set is followed.
 * Strict: only what the OPL declares counts.
 */
import { describe, expect, it } from "vitest";
import { InvalidArgumentError, NotFoundError } from "../../common/errors.js";
import { openPermissionEngine, type PermissionEngine } from "../../engine/permission-engine.js";
import { createMemoryStore } from "../../engine/store/index.js";
import { parseSubject, parseTuple } from "../../engine/tuple.js";

const opl = `class User implements Namespace {}
class Group implements Namespace {
  related: { members: User[] }
}
class Doc implements Namespace {
  related: { viewers: User[] }
  permits = {
    view: (ctx: Context): boolean => this.related.viewers.includes(ctx.subject),
  }
}`;

async function engine(oplStrict: boolean): Promise<PermissionEngine> {
  const e = await openPermissionEngine({ store: createMemoryStore(), oplStrict, quantizationMs: 0 });
  await e.writeSchema(opl);
  return e;
}

const q = (tuple: string) => {
  const t = parseTuple(tuple);
  return { namespace: t.namespace, object: t.object, relation: t.relation, subject: t.subject };
};

describe("Keto non-strict mode (the default)", () => {
  it("counts tuples stored under a permit", async () => {
    const e = await engine(false);
    await e.write([{ op: "touch", tuple: parseTuple("Doc:1#view@User:anne") }]);
    expect((await e.check(q("Doc:1#view@User:anne"))).allowed).toBe(true);
    expect((await e.check(q("Doc:1#viewers@User:anne"))).allowed).toBe(false);
  });

  it("stores and checks a relation the OPL does not declare, as a plain relation", async () => {
    const e = await engine(false);
    await e.write([{ op: "touch", tuple: parseTuple("Doc:1#owners@john") }]);
    expect((await e.check(q("Doc:1#owners@john"))).allowed).toBe(true);
    expect((await e.check(q("Doc:1#owners@jane"))).allowed).toBe(false);
    const found = await e.lookupResources({ namespace: "Doc", relation: "owners", subject: parseSubject("john") });
    expect(found.objects).toEqual(["1"]);
  });

  it("follows every stored subject set, declared or not", async () => {
    const e = await engine(false);
    await e.write([
      { op: "touch", tuple: parseTuple("Doc:1#viewers@Group:eng#members") },
      { op: "touch", tuple: parseTuple("Group:eng#members@User:bob") },
      { op: "touch", tuple: parseTuple("Group:eng#admins@User:cy") },
      { op: "touch", tuple: parseTuple("Doc:2#viewers@Group:eng#admins") },
    ]);
    expect((await e.check(q("Doc:1#view@User:bob"))).allowed).toBe(true);
    expect((await e.check(q("Doc:2#view@User:cy"))).allowed).toBe(true);
    expect((await e.check(q("Doc:2#view@User:bob"))).allowed).toBe(false);
    const found = await e.lookupResources({ namespace: "Doc", relation: "view", subject: parseSubject("User:cy") });
    expect(found.objects).toEqual(["2"]);
  });

  it("still rejects an unknown namespace", async () => {
    const e = await engine(false);
    await expect(e.write([{ op: "touch", tuple: parseTuple("Folder:1#viewers@User:anne") }])).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(e.check(q("Folder:1#viewers@User:anne"))).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe("Keto strict mode", () => {
  it("rejects writes under permits, undeclared relations and undeclared subject types", async () => {
    const e = await engine(true);
    for (const t of ["Doc:1#view@User:anne", "Doc:1#owners@john", "Doc:1#viewers@Group:eng#members"]) {
      await expect(e.write([{ op: "touch", tuple: parseTuple(t) }]), t).rejects.toBeInstanceOf(InvalidArgumentError);
    }
    await expect(e.check(q("Doc:1#owners@john"))).rejects.toBeInstanceOf(NotFoundError);
  });

  it("evaluates declared relations and permits as written", async () => {
    const e = await engine(true);
    await e.write([{ op: "touch", tuple: parseTuple("Doc:1#viewers@User:anne") }]);
    expect((await e.check(q("Doc:1#view@User:anne"))).allowed).toBe(true);
    expect((await e.check(q("Doc:1#view@User:bob"))).allowed).toBe(false);
  });
});
