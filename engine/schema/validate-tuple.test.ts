import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../common/errors.js";
import { parseTuple } from "../tuple.js";
import { compileSchema } from "./compile.js";
import type { Schema } from "./ir.js";
import { validateTuple } from "./validate-tuple.js";

function schemaOf(text: string, oplStrict = false): Schema {
  const result = compileSchema(text, { oplStrict });
  if (result.schema === undefined) throw new Error(JSON.stringify(result.diagnostics));
  return result.schema;
}

const fga = schemaOf(`model
  schema 1.1
type user
type group
  relations
    define member: [user, group#member]
type doc
  relations
    define viewer: [user, user:*, group#member]
    define owner: [user]
    define can_view: viewer or owner`);

const oplText = `class User implements Namespace {}
class Doc implements Namespace {
  related: { viewers: User[] }
  permits = { view: (ctx) => this.related.viewers.includes(ctx.subject) }
}`;
/** OPL in Keto's strict mode: declared relations and subject types only. */
const opl = schemaOf(oplText, true);
/** OPL in Keto's default non-strict mode. */
const oplNonStrict = schemaOf(oplText);

function rejection(schema: Schema, text: string): InvalidArgumentError {
  try {
    validateTuple(schema, parseTuple(text), "tuples[4]");
  } catch (err) {
    if (err instanceof InvalidArgumentError) return err;
    throw err;
  }
  throw new Error(`${text} was accepted`);
}

describe("validateTuple", () => {
  it("accepts tuples the schema allows", () => {
    for (const t of ["doc:1#viewer@user:anne", "doc:1#viewer@user:*", "doc:1#viewer@group:eng#member", "group:eng#member@group:ops#member"]) {
      expect(() => validateTuple(fga, parseTuple(t))).not.toThrow();
    }
    expect(() => validateTuple(opl, parseTuple("Doc:1#viewers@User:anne"))).not.toThrow();
    // Keto accepts bare subject ids in any relation.
    expect(() => validateTuple(opl, parseTuple("Doc:1#viewers@john"))).not.toThrow();
  });

  it("names the field and the tuple when it rejects", () => {
    const cases: [Schema, string, string, RegExp][] = [
      [fga, "folder:1#viewer@user:anne", "tuples[4].namespace", /unknown namespace "folder"/],
      [fga, "doc:1#editor@user:anne", "tuples[4].relation", /no relation "editor"/],
      [fga, "doc:1#can_view@user:anne", "tuples[4].relation", /is a permission/],
      [fga, "doc:1#owner@user:*", "tuples[4].subject", /user:\* is not allowed in doc#owner \(allowed: user\)/],
      [fga, "doc:1#owner@group:eng#member", "tuples[4].subject", /group#member is not allowed/],
      [fga, "doc:1#viewer@group:eng", "tuples[4].subject", /subject type group is not allowed/],
      [fga, "doc:1#viewer@anne", "tuples[4].subject", /bare subject id/],
      [fga, "doc:1#viewer@team:x", "tuples[4].subject.namespace", /unknown subject namespace "team"/],
      [fga, "doc:1#viewer@group:x#admin", "tuples[4].subject.relation", /no relation "admin"/],
      [fga, "doc:*#viewer@user:anne", "tuples[4].object", /wildcard/],
      [opl, "Doc:1#view@User:anne", "tuples[4].relation", /is a permission/],
    ];
    for (const [schema, text, field, message] of cases) {
      const err = rejection(schema, text);
      expect(err.details.field, text).toBe(field);
      expect(err.message, text).toMatch(message);
      expect(err.message, text).toContain(text);
    }
  });

  it("rejects control characters and overlong ids", () => {
    expect(rejection(fga, "doc:a\u0001b#viewer@user:anne").details.field).toBe("tuples[4].object");
    expect(rejection(fga, `doc:1#viewer@user:${"x".repeat(1025)}`).details.field).toBe("tuples[4].subject.object");
  });

  it("needs only a known namespace in Keto's non-strict mode", () => {
    for (const t of ["Doc:1#view@User:anne", "Doc:1#undeclared@john", "Doc:1#viewers@Group:x#members"]) {
      expect(() => validateTuple(oplNonStrict, parseTuple(t))).not.toThrow();
    }
    expect(rejection(oplNonStrict, "Folder:1#viewers@User:anne").details.field).toBe("tuples[4].namespace");
    expect(rejection(oplNonStrict, "Doc:1#@User:anne").details.field).toBe("tuples[4].relation");
    expect(rejection(oplNonStrict, "Doc:1#viewers@User:a\u0001").details.field).toBe("tuples[4].subject.object");
  });

  it("treats * as an ordinary id in OPL, where Keto has no wildcards", () => {
    expect(() => validateTuple(opl, parseTuple("Doc:*#viewers@User:*"))).not.toThrow();
  });
});
