import { Code } from "@connectrpc/connect";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SchemaDiagnostic_Severity, SchemaLanguage } from "../../proto/gen/gatehouse/authz/v1/schema_pb.js";
import { failure, model, rel, startHarness, type Harness } from "./test-support.js";

let h: Harness;
beforeEach(async () => {
  h = await startHarness({ withSchema: false });
});
afterEach(async () => {
  await h.close();
});

const opl = `import { Namespace, Context } from "@ory/keto-namespace-types"
class User implements Namespace {}
class Doc implements Namespace {
  related: { viewers: User[] }
  permits = { view: (ctx: Context): boolean => this.related.viewers.includes(ctx.subject) }
}`;

describe("SchemaService", () => {
  it("reads NOT_FOUND before any schema, then the text and language as written", async () => {
    expect(await failure(h.schema.readSchema({}))).toMatchObject({ code: Code.NotFound, reason: "no_schema" });
    const written = await h.schema.writeSchema({ text: model });
    const read = await h.schema.readSchema({});
    expect(read).toMatchObject({ text: model, language: SchemaLanguage.FGA });
    expect(read.readAt?.token).toBe(written.writtenAt?.token);
    await h.schema.writeSchema({ text: opl, language: SchemaLanguage.OPL });
    expect(await h.schema.readSchema({})).toMatchObject({ text: opl, language: SchemaLanguage.OPL });
    expect((await h.permission.check({ relationship: rel("Doc:1#view@User:a") })).allowed).toBe(false);
  });

  it("returns warnings with a successful write", async () => {
    const mixed = `class User implements Namespace {}
class Doc implements Namespace {
  related: { a: User[]; b: User[]; c: User[] }
  permits = { p: (ctx) => this.related.a.includes(ctx.subject) || this.related.b.includes(ctx.subject) && this.related.c.includes(ctx.subject) }
}`;
    const res = await h.schema.writeSchema({ text: mixed });
    expect(res.warnings).toEqual([
      expect.objectContaining({ severity: SchemaDiagnostic_Severity.WARNING, construct: "precedence", start: expect.objectContaining({ line: 4 }) }),
    ]);
    const validated = await h.schema.validateSchema({ text: mixed });
    expect(validated).toMatchObject({ valid: true, diagnostics: [expect.objectContaining({ construct: "precedence" })] });
    expect((await h.schema.writeSchema({ text: model })).warnings).toEqual([]);
  });

  it("rejects an invalid schema naming the text, and stores nothing", async () => {
    await h.schema.writeSchema({ text: model });
    const bad = `model\n  schema 1.1\ntype doc\n  relations\n    define viewer: [person]`;
    expect(await failure(h.schema.writeSchema({ text: bad }))).toMatchObject({
      code: Code.InvalidArgument,
      field: "text",
      reason: "invalid_schema",
    });
    expect((await h.schema.readSchema({})).text).toBe(model);
    expect(await failure(h.schema.writeSchema({ text: model, language: 9 as SchemaLanguage }))).toMatchObject({ field: "language" });
  });

  it("validates without storing and never fails for an invalid schema", async () => {
    const bad = `model\n  schema 1.1\ntype doc\n  relations\n    define viewer: [person]`;
    const res = await h.schema.validateSchema({ text: bad });
    expect(res.valid).toBe(false);
    expect(res.language).toBe(SchemaLanguage.FGA);
    expect(res.diagnostics[0]).toMatchObject({ severity: SchemaDiagnostic_Severity.ERROR, start: { line: 5, column: 21 } });
    expect(res.diagnostics[0]?.construct).not.toBe("");
    const good = await h.schema.validateSchema({ text: opl });
    expect(good).toMatchObject({ valid: true, language: SchemaLanguage.OPL });
    expect(await failure(h.schema.readSchema({}))).toMatchObject({ code: Code.NotFound });
  });
});
