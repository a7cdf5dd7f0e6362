import { describe, expect, it } from "vitest";
import { InvalidArgumentError, NotFoundError } from "../../../common/errors.js";
import {
  createIdentitySchemaRegistry,
  DEFAULT_SCHEMA_ID,
  defaultIdentitySchema,
  normalizeIdentifier,
  type TraitValidationResult,
} from "./identity-schemas.js";
import { MessageId } from "./ui.js";

/** Kratos's quickstart-style schema plus a username and a phone number. */
const customerSchema = {
  $id: "https://example.com/customer.schema.json",
  $schema: "http://json-schema.org/draft-07/schema#",
  title: "Customer",
  type: "object",
  properties: {
    traits: {
      type: "object",
      properties: {
        email: {
          type: "string",
          format: "email",
          title: "E-Mail",
          minLength: 3,
          "ory.sh/kratos": {
            credentials: { password: { identifier: true } },
            verification: { via: "email" },
            recovery: { via: "email" },
          },
        },
        username: {
          type: "string",
          title: "Username",
          pattern: "^[A-Za-z0-9_]+$",
          maxLength: 32,
          "ory.sh/kratos": { credentials: { password: { identifier: true } } },
        },
        phone: {
          type: "string",
          format: "tel",
          title: "Phone",
          "ory.sh/kratos": { verification: { via: "sms" } },
        },
        age: { type: "integer", title: "Age", minimum: 13 },
        newsletter: { type: "boolean", title: "Newsletter" },
        plan: { type: "string", title: "Plan", enum: ["free", "pro"] },
        address: {
          type: "object",
          properties: {
            city: { type: "string", title: "City" },
            zip: { type: "string", title: "ZIP" },
          },
          required: ["city"],
        },
        backup_emails: {
          type: "array",
          items: {
            type: "string",
            format: "email",
            "ory.sh/kratos": { credentials: { password: { identifier: true } }, recovery: { via: "email" } },
          },
        },
      },
      required: ["email", "username"],
      additionalProperties: false,
    },
  },
};

function errorsOf(result: TraitValidationResult) {
  expect(result.ok).toBe(false);
  return result.ok ? [] : result.errors;
}

describe("IdentitySchemaRegistry: loading", () => {
  it("uses the built-in default schema when none is configured", () => {
    const registry = createIdentitySchemaRegistry();
    expect(registry.defaultId).toBe(DEFAULT_SCHEMA_ID);
    expect(registry.default.id).toBe("default");
    expect(registry.default.schema).toBe(defaultIdentitySchema);
    expect(registry.list().map((s) => s.id)).toEqual(["default"]);
    expect(registry.default.fields.map((f) => f.path)).toEqual(["email", "name.first", "name.last"]);
    const email = registry.default.fields[0]!;
    expect(email).toMatchObject({
      name: "traits.email",
      type: "string",
      format: "email",
      title: "E-Mail",
      required: true,
      extension: { passwordIdentifier: true, verificationVia: "email", recoveryVia: "email" },
    });
  });

  it("loads configured schemas and looks them up by id", () => {
    const registry = createIdentitySchemaRegistry({
      schemas: [
        { id: "customer", schema: customerSchema },
        { id: "default", schema: defaultIdentitySchema },
      ],
      defaultSchemaId: "customer",
    });
    expect(registry.list().map((s) => s.id)).toEqual(["customer", "default"]);
    expect(registry.default.id).toBe("customer");
    expect(registry.get("default")?.id).toBe("default");
    expect(registry.get("nope")).toBeUndefined();
    expect(registry.has("customer")).toBe(true);
    expect(() => registry.validateTraits("nope", {})).toThrow(NotFoundError);
  });

  it("keeps schemas with the same $id apart", () => {
    const registry = createIdentitySchemaRegistry({
      schemas: [
        { id: "a", schema: customerSchema },
        { id: "b", schema: customerSchema },
      ],
      defaultSchemaId: "a",
    });
    expect(registry.validateTraits("b", { email: "a@example.com", username: "abc" })).toEqual({ ok: true });
  });

  it("rejects a schema that does not compile, naming the schema and the reason", () => {
    const bad = { type: "object", properties: { traits: { type: "objekt" } } };
    let err: unknown;
    try {
      createIdentitySchemaRegistry({ schemas: [{ id: "broken", schema: bad }], defaultSchemaId: "broken" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as InvalidArgumentError).message).toMatch(/identity schema "broken" is invalid: .*type/);
    expect((err as InvalidArgumentError).details["schema_id"]).toBe("broken");
  });

  it("rejects remote $refs, schemas without traits, bad extensions and bad configuration", () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ type: "object", properties: { traits: { $ref: "https://example.com/x.json" } } }, /"r"|can't resolve|x\.json/i],
      [{ type: "object", properties: { name: { type: "string" } } }, /properties\.traits/],
      [{ type: "object", properties: { traits: { type: "string" } } }, /must be an object schema/],
      [
        {
          type: "object",
          properties: { traits: { type: "object", properties: { e: { type: "string", "ory.sh/kratos": { verification: { via: "pigeon" } } } } } },
        },
        /verification\.via must be "email" or "sms"/,
      ],
      [
        {
          type: "object",
          properties: {
            traits: {
              type: "object",
              properties: { n: { type: "number", "ory.sh/kratos": { credentials: { password: { identifier: true } } } } },
            },
          },
        },
        /must be a string/,
      ],
      ["not an object", /must be a JSON object/],
    ];
    for (const [schema, reason] of cases) {
      expect(() => createIdentitySchemaRegistry({ schemas: [{ id: "x", schema }], defaultSchemaId: "x" })).toThrow(reason);
    }
    expect(() =>
      createIdentitySchemaRegistry({ schemas: [{ id: "a", schema: customerSchema }], defaultSchemaId: "b" }),
    ).toThrow(/default identity schema "b"/);
    expect(() =>
      createIdentitySchemaRegistry({
        schemas: [
          { id: "a", schema: customerSchema },
          { id: "a", schema: customerSchema },
        ],
        defaultSchemaId: "a",
      }),
    ).toThrow(/configured twice/);
  });

  it("rejects a schema in a draft it does not know", () => {
    const schema = { ...defaultIdentitySchema, $schema: "https://json-schema.org/draft/2020-12/schema" };
    expect(() => createIdentitySchemaRegistry({ schemas: [{ id: "new", schema }], defaultSchemaId: "new" })).toThrow(
      /identity schema "new" is invalid/,
    );
  });

  it("follows local $refs when finding traits", () => {
    const schema = {
      $schema: "http://json-schema.org/draft-07/schema#",
      definitions: {
        email: {
          type: "string",
          format: "email",
          title: "Email",
          "ory.sh/kratos": { credentials: { password: { identifier: true } } },
        },
        traits: { type: "object", properties: { email: { $ref: "#/definitions/email" } }, required: ["email"] },
      },
      type: "object",
      properties: { traits: { $ref: "#/definitions/traits" } },
    };
    const registry = createIdentitySchemaRegistry({ schemas: [{ id: "ref", schema }], defaultSchemaId: "ref" });
    expect(registry.default.fields).toHaveLength(1);
    expect(registry.passwordIdentifiers("ref", { email: " A@B.example " })).toEqual(["a@b.example"]);
    expect(registry.validateTraits("ref", { email: "nope" }).ok).toBe(false);
  });
});

describe("IdentitySchemaRegistry: validateTraits", () => {
  const registry = createIdentitySchemaRegistry({
    schemas: [{ id: "customer", schema: customerSchema }, { id: "default", schema: defaultIdentitySchema }],
    defaultSchemaId: "default",
  });

  it("accepts valid traits", () => {
    expect(registry.validateTraits("default", { email: "ada@example.com", name: { first: "Ada" } })).toEqual({ ok: true });
    expect(
      registry.validateTraits("customer", {
        email: "ada@example.com",
        username: "ada_l",
        phone: "+4917612345678",
        age: 36,
        newsletter: true,
        plan: "pro",
        address: { city: "London" },
        backup_emails: ["b@example.com"],
      }),
    ).toEqual({ ok: true });
  });

  it("reports a missing required trait on its own node with 4000002", () => {
    const errors = errorsOf(registry.validateTraits("default", {}));
    expect(errors).toEqual([
      {
        field: "traits.email",
        message: { id: 4000002, text: "Property email is missing.", type: "error", context: { property: "email" } },
      },
    ]);
    const nested = errorsOf(registry.validateTraits("customer", { email: "a@b.co", username: "x", address: {} }));
    expect(nested.map((e) => [e.field, e.message.id])).toEqual([["traits.address.city", 4000002]]);
  });

  it("reports missing or non-object traits on `traits`", () => {
    const missing = errorsOf(registry.validateTraits("default", undefined));
    expect(missing.map((e) => [e.field, e.message.id])).toEqual([["traits", MessageId.ValidationRequired]]);
    const wrong = errorsOf(registry.validateTraits("default", "ada@example.com"));
    expect(wrong.map((e) => [e.field, e.message.id])).toEqual([["traits", MessageId.ValidationWrongType]]);
    expect(wrong[0]!.message.text).toBe("The value must be of type object, but it is of type string.");
  });

  it("explains format, length, type, pattern, range and enum violations in English", () => {
    const errors = errorsOf(
      registry.validateTraits("customer", {
        email: "no",
        username: "bad name!",
        phone: "12345",
        age: 9,
        newsletter: "yes",
        plan: "gold",
      }),
    );
    const byField = new Map(errors.map((e) => [`${e.field}:${e.message.id}`, e.message]));
    expect(byField.get("traits.email:4000001")?.text).toBe('"no" is not a valid email address.');
    expect(byField.get("traits.email:4000001")?.context).toEqual({ reason: '"no" is not a valid email address.' });
    expect(byField.get("traits.email:4000003")).toEqual({
      id: 4000003,
      text: "The value must be at least 3 characters long, but it has 2.",
      type: "error",
      context: { min_length: 3, actual_length: 2 },
    });
    expect(byField.get("traits.username:4000004")?.text).toBe('The value does not match the pattern "^[A-Za-z0-9_]+$".');
    expect(byField.get("traits.phone:4000001")?.text).toMatch(/not a valid phone number/);
    expect(byField.get("traits.age:4000018")?.text).toBe("The value must be at least 13, but it is 9.");
    expect(byField.get("traits.newsletter:4000026")?.context).toEqual({ allowed_types: ["boolean"], actual_type: "string" });
    expect(byField.get("traits.plan:4000001")?.text).toBe('The value must be one of: "free", "pro".');
    for (const e of errors) expect(e.message.type).toBe("error");
  });

  it("rejects unknown traits when additionalProperties is false", () => {
    const errors = errorsOf(registry.validateTraits("default", { email: "a@b.co", role: "admin" }));
    expect(errors).toEqual([
      {
        field: "traits",
        message: {
          id: 4000001,
          text: "Property role is not allowed.",
          type: "error",
          context: { reason: "Property role is not allowed." },
        },
      },
    ]);
  });

  it("counts string length in characters, not UTF-16 units", () => {
    const schema = {
      type: "object",
      properties: { traits: { type: "object", properties: { nick: { type: "string", maxLength: 2 } } } },
    };
    const r = createIdentitySchemaRegistry({ schemas: [{ id: "n", schema }], defaultSchemaId: "n" });
    expect(r.validateTraits("n", { nick: "😀😀" })).toEqual({ ok: true });
    const errors = errorsOf(r.validateTraits("n", { nick: "😀😀😀" }));
    expect(errors[0]!.message).toMatchObject({ id: 4000017, context: { max_length: 2, actual_length: 3 } });
  });

  it("does not modify the traits it validates", () => {
    const traits = { email: "ada@example.com", name: { first: "Ada" } };
    const copy = structuredClone(traits);
    registry.validateTraits("default", traits);
    expect(traits).toEqual(copy);
  });
});

describe("IdentitySchemaRegistry: identifiers and addresses", () => {
  const registry = createIdentitySchemaRegistry({
    schemas: [{ id: "customer", schema: customerSchema }],
    defaultSchemaId: "customer",
  });

  it("collects password identifiers, trimmed and lower-cased, from strings and arrays", () => {
    expect(
      registry.passwordIdentifiers("customer", {
        email: "  Ada@Example.COM ",
        username: "Ada_L",
        backup_emails: ["ADA@example.com", "b@example.com", 7],
      }),
    ).toEqual(["ada@example.com", "ada_l", "b@example.com"]);
    expect(registry.passwordIdentifiers("customer", { email: "   " })).toEqual([]);
    expect(registry.passwordIdentifiers("customer", null)).toEqual([]);
    expect(normalizeIdentifier("  MiXeD@Example.com ")).toBe("mixed@example.com");
  });

  it("derives verifiable and recovery addresses", () => {
    expect(
      registry.addresses("customer", {
        email: "Ada@Example.com",
        username: "ada",
        phone: " +4917612345678 ",
        backup_emails: ["ada@example.com", "Spare@Example.com"],
      }),
    ).toEqual({
      verifiable: [
        { value: "ada@example.com", via: "email" },
        { value: "+4917612345678", via: "sms" },
      ],
      recovery: [
        { value: "ada@example.com", via: "email" },
        { value: "spare@example.com", via: "email" },
      ],
    });
    expect(registry.addresses("customer", {})).toEqual({ verifiable: [], recovery: [] });
  });

  it("reads the default schema's extension", () => {
    const r = createIdentitySchemaRegistry();
    expect(r.passwordIdentifiers("default", { email: "X@Y.example" })).toEqual(["x@y.example"]);
    expect(r.addresses("default", { email: "X@Y.example" })).toEqual({
      verifiable: [{ value: "x@y.example", via: "email" }],
      recovery: [{ value: "x@y.example", via: "email" }],
    });
  });
});

describe("IdentitySchemaRegistry: traitNodes", () => {
  it("builds the default schema's nodes like Kratos's password registration form", () => {
    const r = createIdentitySchemaRegistry();
    expect(r.traitNodes("default")).toEqual([
      {
        type: "input",
        group: "password",
        attributes: {
          name: "traits.email",
          type: "email",
          required: true,
          autocomplete: "email",
          maxlength: 320,
          disabled: false,
          node_type: "input",
        },
        messages: [],
        meta: { label: { id: 1070002, text: "E-Mail", type: "info", context: { title: "E-Mail" } } },
      },
      {
        type: "input",
        group: "password",
        attributes: { name: "traits.name.first", type: "text", maxlength: 256, disabled: false, node_type: "input" },
        messages: [],
        meta: { label: { id: 1070002, text: "First Name", type: "info", context: { title: "First Name" } } },
      },
      {
        type: "input",
        group: "password",
        attributes: { name: "traits.name.last", type: "text", maxlength: 256, disabled: false, node_type: "input" },
        messages: [],
        meta: { label: { id: 1070002, text: "Last Name", type: "info", context: { title: "Last Name" } } },
      },
    ]);
  });

  it("maps types, formats and enums, fills values, and honours the group option", () => {
    const r = createIdentitySchemaRegistry({ schemas: [{ id: "c", schema: customerSchema }], defaultSchemaId: "c" });
    const nodes = r.traitNodes("c", { email: "a@b.co", age: 40, newsletter: false, address: { city: "Paris" } }, { group: "profile" });
    const attrs = new Map(nodes.map((n) => [n.attributes.name, n.attributes]));
    expect([...attrs.keys()]).toEqual([
      "traits.email",
      "traits.username",
      "traits.phone",
      "traits.age",
      "traits.newsletter",
      "traits.plan",
      "traits.address.city",
      "traits.address.zip",
    ]);
    expect(nodes.every((n) => n.group === "profile")).toBe(true);
    expect(attrs.get("traits.email")).toMatchObject({ type: "email", value: "a@b.co", required: true, autocomplete: "email" });
    expect(attrs.get("traits.username")).toMatchObject({ type: "text", required: true, pattern: "^[A-Za-z0-9_]+$", maxlength: 32 });
    expect(attrs.get("traits.phone")).toMatchObject({ type: "tel", autocomplete: "tel" });
    expect(attrs.get("traits.phone")?.required).toBeUndefined();
    expect(attrs.get("traits.age")).toMatchObject({ type: "number", value: 40 });
    expect(attrs.get("traits.newsletter")).toMatchObject({ type: "checkbox", value: false });
    expect(attrs.get("traits.plan")?.options).toEqual([{ value: "free" }, { value: "pro" }]);
    // `city` is required inside `address`, but `address` itself is optional
    expect(attrs.get("traits.address.city")).toMatchObject({ value: "Paris" });
    expect(attrs.get("traits.address.city")?.required).toBeUndefined();
    expect(attrs.get("traits.address.zip")?.value).toBeUndefined();
  });

  it("labels an untitled trait with its path", () => {
    const schema = { type: "object", properties: { traits: { type: "object", properties: { nick: { type: "string" } } } } };
    const r = createIdentitySchemaRegistry({ schemas: [{ id: "n", schema }], defaultSchemaId: "n" });
    expect(r.traitNodes("n")[0]!.meta.label?.text).toBe("nick");
  });
});
