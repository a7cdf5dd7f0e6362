/**
 * Identity schemas: JSON Schema (draft-07) documents that describe an identity's `traits`, with Kratos's
 * `ory.sh/kratos` extension on trait properties saying which traits are password identifiers and which are
 * verifiable or recovery addresses.
 *
 * The registry compiles every schema once at load (a schema that does not compile is a configuration error),
 * validates traits into Kratos-style field messages, derives credential identifiers and addresses from
 * traits, and turns a schema into the `traits.*` input nodes of a registration or settings form.
 */

import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import ajvFormats from "ajv-formats";
import { InvalidArgumentError, NotFoundError } from "../../../common/errors.js";
import {
  createInputNode,
  textLabelGenerated,
  textValidationConst,
  textValidationGeneric,
  textValidationMaxItems,
  textValidationMaxLength,
  textValidationMinItems,
  textValidationMinLength,
  textValidationMultipleOf,
  textValidationPattern,
  textValidationRange,
  textValidationRequired,
  textValidationUniqueItems,
  textValidationWrongType,
  type UiInputNode,
  type UiNodeGroup,
  type UiNodeInputAutocomplete,
  type UiNodeInputType,
  type UiText,
} from "./ui.js";

// ajv-formats is CommonJS; under NodeNext its default import is `module.exports`, whose `default` is the plugin.
const addFormats = ajvFormats.default;

/** The channel an address is reached through. */
export type AddressChannel = "email" | "sms";

/** The `ory.sh/kratos` extension of one trait, parsed. */
export interface TraitExtension {
  /** `credentials.password.identifier`: the trait's value signs in with a password. */
  readonly passwordIdentifier: boolean;
  /** `credentials.webauthn.identifier`. */
  readonly webauthnIdentifier: boolean;
  /** `credentials.totp.account_name`: shown in authenticator apps. */
  readonly totpAccountName: boolean;
  /** `credentials.passkey.display_name`. */
  readonly passkeyDisplayName: boolean;
  /** `credentials.code.identifier` with its `via`. */
  readonly codeIdentifier: boolean;
  readonly codeVia: AddressChannel | undefined;
  /** `verification.via`: the value becomes a verifiable address. */
  readonly verificationVia: AddressChannel | undefined;
  /** `recovery.via`: the value becomes a recovery address. */
  readonly recoveryVia: AddressChannel | undefined;
}

/** A leaf trait of a schema (nested objects are flattened into dotted paths), in schema order. */
export interface TraitField {
  /** Dotted path below `traits`, e.g. `email` or `name.first`. */
  readonly path: string;
  readonly segments: readonly string[];
  /** The form field and node name, `traits.<path>`. */
  readonly name: string;
  /** The JSON type (the first non-`null` one when the schema lists several); undefined when untyped. */
  readonly type: string | undefined;
  /** For arrays, facts below (`format`, `enum`, extension) come from `items`. */
  readonly isArray: boolean;
  readonly format: string | undefined;
  readonly title: string | undefined;
  /** Required by its parent and every ancestor up to `traits`. */
  readonly required: boolean;
  readonly enum: readonly unknown[] | undefined;
  readonly pattern: string | undefined;
  readonly maxLength: number | undefined;
  readonly extension: TraitExtension;
}

/** One loaded identity schema. */
export interface IdentitySchema {
  readonly id: string;
  /** The schema document as configured; served by `GET /schemas/{id}`. */
  readonly schema: Readonly<Record<string, unknown>>;
  /** Its leaf traits in schema order. */
  readonly fields: readonly TraitField[];
}

/** A schema as configured. */
export interface IdentitySchemaConfig {
  readonly id: string;
  /** The parsed JSON document. */
  readonly schema: unknown;
}

/** Options of `createIdentitySchemaRegistry`. */
export interface IdentitySchemaRegistryOptions {
  /** The schemas; when empty or absent, the built-in `default` schema is the only one. */
  readonly schemas?: readonly IdentitySchemaConfig[];
  /** The schema new identities get when none is named; default `"default"`. Must be among `schemas`. */
  readonly defaultSchemaId?: string;
}

/** One failed constraint: `field` is a node name (`traits.email`), or `traits` for the object itself. */
export interface TraitError {
  readonly field: string;
  readonly message: UiText;
}

/** The outcome of `validateTraits`. */
export type TraitValidationResult = { readonly ok: true } | { readonly ok: false; readonly errors: readonly TraitError[] };

/** An address to create for an identity. */
export interface AddressSpec {
  readonly value: string;
  readonly via: AddressChannel;
}

/** The addresses that traits imply. */
export interface TraitAddresses {
  readonly verifiable: readonly AddressSpec[];
  readonly recovery: readonly AddressSpec[];
}

/** Options of `traitNodes`. */
export interface TraitNodeOptions {
  /** The node group; `password` by default, as in Kratos's password registration form. */
  readonly group?: UiNodeGroup;
}

/** The id of the built-in schema. */
export const DEFAULT_SCHEMA_ID = "default";

/**
 * The built-in schema used when none is configured: an email (password identifier, verified and used for
 * recovery by email) and an optional first and last name.
 */
export const defaultIdentitySchema: Readonly<Record<string, unknown>> = Object.freeze({
  $schema: "http://json-schema.org/draft-07/schema#",
  title: "Person",
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
          maxLength: 320,
          "ory.sh/kratos": {
            credentials: { password: { identifier: true } },
            verification: { via: "email" },
            recovery: { via: "email" },
          },
        },
        name: {
          type: "object",
          properties: {
            first: { type: "string", title: "First Name", maxLength: 256 },
            last: { type: "string", title: "Last Name", maxLength: 256 },
          },
          additionalProperties: false,
        },
      },
      required: ["email"],
      additionalProperties: false,
    },
  },
});

/**
 * Normalises a password identifier, both when it is stored and when a login looks it up: trimmed and
 * lower-cased. Kratos lower-cases every password identifier (usernames too), so sign-in is case-insensitive.
 */
export function normalizeIdentifier(value: string): string {
  return value.trim().toLowerCase();
}

/** Normalises an address for its channel: emails trimmed and lower-cased, phone numbers trimmed. */
export function normalizeAddress(value: string, via: AddressChannel): string {
  return via === "email" ? value.trim().toLowerCase() : value.trim();
}

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

interface LoadedSchema extends IdentitySchema {
  readonly validate: ValidateFunction;
}

/** The identity schemas of a deployment. Immutable once built. */
export class IdentitySchemaRegistry {
  readonly #schemas: ReadonlyMap<string, LoadedSchema>;
  readonly #defaultId: string;

  /** Prefer `createIdentitySchemaRegistry`. Throws `InvalidArgumentError` for a bad configuration. */
  constructor(options: IdentitySchemaRegistryOptions = {}) {
    const configs =
      options.schemas === undefined || options.schemas.length === 0
        ? [{ id: DEFAULT_SCHEMA_ID, schema: defaultIdentitySchema }]
        : options.schemas;
    const schemas = new Map<string, LoadedSchema>();
    for (const [i, config] of configs.entries()) {
      if (typeof config.id !== "string" || config.id === "") {
        throw new InvalidArgumentError("an identity schema needs a non-empty id", {
          details: { field: `schemas[${i}].id` },
        });
      }
      if (schemas.has(config.id)) {
        throw new InvalidArgumentError(`identity schema id "${config.id}" is configured twice`, {
          details: { field: `schemas[${i}].id`, schema_id: config.id },
        });
      }
      schemas.set(config.id, loadSchema(config.id, config.schema));
    }
    const defaultId = options.defaultSchemaId ?? DEFAULT_SCHEMA_ID;
    if (!schemas.has(defaultId)) {
      throw new InvalidArgumentError(`the default identity schema "${defaultId}" is not among the configured schemas`, {
        details: { field: "defaultSchemaId", schema_id: defaultId },
      });
    }
    this.#schemas = schemas;
    this.#defaultId = defaultId;
  }

  /** The default schema. */
  get default(): IdentitySchema {
    return this.#require(this.#defaultId);
  }

  /** The id of the default schema. */
  get defaultId(): string {
    return this.#defaultId;
  }

  /** A schema by id, or undefined. */
  get(id: string): IdentitySchema | undefined {
    return this.#schemas.get(id);
  }

  /** Whether a schema with this id exists. */
  has(id: string): boolean {
    return this.#schemas.has(id);
  }

  /** All schemas in configuration order. */
  list(): readonly IdentitySchema[] {
    return [...this.#schemas.values()];
  }

  /** The schema's leaf traits in schema order. Throws `NotFoundError` for an unknown schema. */
  fields(schemaId: string): readonly TraitField[] {
    return this.#require(schemaId).fields;
  }

  /**
   * Validates traits against a schema (as the `traits` of an identity document). Errors carry the node name
   * they belong to: a missing required trait is reported on `traits.<name>` (4000002), other violations on
   * the offending value's path with Kratos's ids (4000001 for format and anything without a specific id).
   */
  validateTraits(schemaId: string, traits: unknown): TraitValidationResult {
    const schema = this.#require(schemaId);
    // Kratos's schemas rarely list `traits` as required at the top, but an identity always has traits.
    if (traits === undefined) return { ok: false, errors: [{ field: "traits", message: textValidationRequired("traits") }] };
    const instance = { traits };
    if (schema.validate(instance)) return { ok: true };
    const errors = (schema.validate.errors ?? []).map((e) => mapAjvError(e, instance));
    return { ok: false, errors: dedupe(errors) };
  }

  /**
   * The password identifiers that traits yield (traits marked `credentials.password.identifier`, including
   * string items of arrays so marked), normalised with `normalizeIdentifier`, without duplicates or empties.
   */
  passwordIdentifiers(schemaId: string, traits: unknown): string[] {
    const out = new Set<string>();
    for (const field of this.#require(schemaId).fields) {
      if (!field.extension.passwordIdentifier) continue;
      for (const value of scalarValues(traits, field)) {
        const normalized = normalizeIdentifier(value);
        if (normalized !== "") out.add(normalized);
      }
    }
    return [...out];
  }

  /**
   * The verifiable and recovery addresses that traits imply (traits marked `verification.via` or
   * `recovery.via`), normalised with `normalizeAddress`, without duplicates or empties. The caller merges
   * them with the identity's existing addresses (keeping their verification state) and creates the rest.
   */
  addresses(schemaId: string, traits: unknown): TraitAddresses {
    const verifiable = new Map<string, AddressSpec>();
    const recovery = new Map<string, AddressSpec>();
    for (const field of this.#require(schemaId).fields) {
      const { verificationVia, recoveryVia } = field.extension;
      if (verificationVia === undefined && recoveryVia === undefined) continue;
      for (const raw of scalarValues(traits, field)) {
        if (verificationVia !== undefined) {
          const value = normalizeAddress(raw, verificationVia);
          if (value !== "") verifiable.set(`${verificationVia}:${value}`, { value, via: verificationVia });
        }
        if (recoveryVia !== undefined) {
          const value = normalizeAddress(raw, recoveryVia);
          if (value !== "") recovery.set(`${recoveryVia}:${value}`, { value, via: recoveryVia });
        }
      }
    }
    return { verifiable: [...verifiable.values()], recovery: [...recovery.values()] };
  }

  /**
   * The `traits.<path>` input nodes of a schema in schema order, labelled with each trait's `title` (1070002).
   * `values` (a traits object) fills in `value`. Array traits get no node: a form cannot submit them.
   */
  traitNodes(schemaId: string, values?: unknown, options: TraitNodeOptions = {}): UiInputNode[] {
    const group = options.group ?? "password";
    const nodes: UiInputNode[] = [];
    for (const field of this.#require(schemaId).fields) {
      if (field.isArray) continue;
      const value = values === undefined ? undefined : valueAt(values, field.segments);
      const type = inputTypeOf(field);
      const autocomplete = autocompleteOf(type);
      nodes.push(
        createInputNode({
          name: field.name,
          type,
          group,
          ...(value === undefined ? {} : { value }),
          ...(field.required ? { required: true } : {}),
          ...(autocomplete === undefined ? {} : { autocomplete }),
          ...(field.pattern === undefined ? {} : { pattern: field.pattern }),
          ...(field.maxLength === undefined ? {} : { maxlength: field.maxLength }),
          ...(field.enum === undefined ? {} : { options: field.enum.map((v) => ({ value: v })) }),
          label: textLabelGenerated(field.title ?? field.path),
        }),
      );
    }
    return nodes;
  }

  #require(id: string): LoadedSchema {
    const schema = this.#schemas.get(id);
    if (schema === undefined) {
      throw new NotFoundError(`identity schema "${id}" does not exist`, { details: { schema_id: id } });
    }
    return schema;
  }
}

/** Builds the registry; throws `InvalidArgumentError` naming the schema and the reason for a bad schema. */
export function createIdentitySchemaRegistry(options: IdentitySchemaRegistryOptions = {}): IdentitySchemaRegistry {
  return new IdentitySchemaRegistry(options);
}

// ---- loading -----------------------------------------------------------------------------------------------

/** A loose E.164 check for `format: tel`, which ajv-formats does not define (Kratos accepts it). */
const telPattern = /^\+[1-9][0-9]{6,14}$/;

function newAjv(): Ajv {
  // `strict: false`: the `ory.sh/kratos` keyword is not a valid ajv keyword name, and Kratos ignores
  // unknown keywords too. Each schema gets its own instance so `$id`s of different schemas cannot clash.
  const ajv = new Ajv({ strict: false, allErrors: true, allowUnionTypes: true, logger: false });
  addFormats(ajv);
  ajv.addFormat("tel", (value: string) => telPattern.test(value.replace(/[\s()-]/g, "")));
  return ajv;
}

function loadSchema(id: string, schema: unknown): LoadedSchema {
  const fail = (reason: string, cause?: unknown): never => {
    throw new InvalidArgumentError(`identity schema "${id}" is invalid: ${reason}`, {
      details: { schema_id: id },
      ...(cause === undefined ? {} : { cause }),
    });
  };
  if (!isObject(schema)) return fail("it must be a JSON object");
  let validate: ValidateFunction;
  try {
    validate = newAjv().compile(schema);
  } catch (err) {
    return fail(err instanceof Error ? err.message : String(err), err);
  }
  const properties = schema["properties"];
  const traitsRaw = isObject(properties) ? properties["traits"] : undefined;
  if (traitsRaw === undefined) return fail('it must declare "properties.traits"');
  const traits = deref(schema, traitsRaw, fail);
  if (!isObject(traits) || (traits["type"] !== undefined && traits["type"] !== "object")) {
    return fail('"properties.traits" must be an object schema');
  }
  const fields: TraitField[] = [];
  collectFields(schema, traits, [], true, fields, fail, 0);
  return { id, schema, fields, validate };
}

/** Follows local `$ref`s (`#/...`) so fields can be discovered; remote refs already failed compilation. */
function deref(root: JsonObject, node: unknown, fail: (reason: string) => never): unknown {
  let current = node;
  for (let hops = 0; isObject(current) && typeof current["$ref"] === "string"; hops++) {
    if (hops > 32) fail("a $ref chain is too long or cyclic");
    const ref = current["$ref"] as string;
    if (!ref.startsWith("#")) fail(`only local $ref are supported, got "${ref}"`);
    let target: unknown = root;
    const pointer = ref.slice(1);
    if (pointer !== "") {
      for (const raw of pointer.replace(/^\//, "").split("/")) {
        const key = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
        target = isObject(target) ? target[key] : Array.isArray(target) ? target[Number(key)] : undefined;
      }
    }
    if (target === undefined) fail(`$ref "${ref}" points nowhere`);
    current = target;
  }
  return current;
}

function typeOf(schema: JsonObject): string | undefined {
  const type = schema["type"];
  if (typeof type === "string") return type;
  if (Array.isArray(type)) return type.find((t): t is string => typeof t === "string" && t !== "null");
  if (isObject(schema["properties"])) return "object";
  return undefined;
}

function collectFields(
  root: JsonObject,
  objectSchema: JsonObject,
  prefix: readonly string[],
  requiredChain: boolean,
  out: TraitField[],
  fail: (reason: string) => never,
  depth: number,
): void {
  if (depth > 16) fail("traits are nested too deeply");
  const properties = objectSchema["properties"];
  if (!isObject(properties)) return;
  const required = Array.isArray(objectSchema["required"]) ? (objectSchema["required"] as unknown[]) : [];
  for (const [key, raw] of Object.entries(properties)) {
    const segments = [...prefix, key];
    const propSchema = deref(root, raw, fail);
    if (!isObject(propSchema)) continue; // `true`/`false` schemas carry no field facts
    const isRequired = requiredChain && required.includes(key);
    const type = typeOf(propSchema);
    if (type === "object" && isObject(propSchema["properties"])) {
      collectFields(root, propSchema, segments, isRequired, out, fail, depth + 1);
      continue;
    }
    const isArray = type === "array";
    const itemsRaw = isArray ? propSchema["items"] : undefined;
    const items = isArray && isObject(itemsRaw) ? deref(root, itemsRaw, fail) : undefined;
    const facts = isObject(items) ? items : propSchema;
    const path = segments.join(".");
    const extension = parseExtension(
      // the extension may sit on the array itself or on its items
      facts["ory.sh/kratos"] ?? propSchema["ory.sh/kratos"],
      path,
      fail,
    );
    const valueType = isArray ? (isObject(items) ? typeOf(items) : undefined) : type;
    if (usesValues(extension) && valueType !== undefined && valueType !== "string") {
      fail(`trait "${path}" is an identifier or address, so it must be a string (or an array of strings)`);
    }
    out.push({
      path,
      segments,
      name: `traits.${path}`,
      type,
      isArray,
      format: typeof facts["format"] === "string" ? facts["format"] : undefined,
      title: typeof propSchema["title"] === "string" ? propSchema["title"] : undefined,
      required: isRequired,
      enum: Array.isArray(facts["enum"]) ? (facts["enum"] as unknown[]) : undefined,
      pattern: typeof propSchema["pattern"] === "string" ? propSchema["pattern"] : undefined,
      maxLength: typeof propSchema["maxLength"] === "number" ? propSchema["maxLength"] : undefined,
      extension,
    });
  }
}

function usesValues(ext: TraitExtension): boolean {
  return (
    ext.passwordIdentifier ||
    ext.webauthnIdentifier ||
    ext.codeIdentifier ||
    ext.verificationVia !== undefined ||
    ext.recoveryVia !== undefined
  );
}

const noExtension: TraitExtension = Object.freeze({
  passwordIdentifier: false,
  webauthnIdentifier: false,
  totpAccountName: false,
  passkeyDisplayName: false,
  codeIdentifier: false,
  codeVia: undefined,
  verificationVia: undefined,
  recoveryVia: undefined,
});

function parseExtension(raw: unknown, path: string, fail: (reason: string) => never): TraitExtension {
  if (raw === undefined) return noExtension;
  const where = `"ory.sh/kratos" of trait "${path}"`;
  if (!isObject(raw)) fail(`${where} must be an object`);
  const obj = raw as JsonObject;
  const section = (parent: JsonObject, key: string, label: string): JsonObject => {
    const value = parent[key];
    if (value === undefined) return {};
    if (!isObject(value)) fail(`${where}: ${label} must be an object`);
    return value as JsonObject;
  };
  const flag = (parent: JsonObject, key: string, label: string): boolean => {
    const value = parent[key];
    if (value === undefined) return false;
    if (typeof value !== "boolean") fail(`${where}: ${label} must be true or false`);
    return value as boolean;
  };
  const via = (parent: JsonObject, label: string): AddressChannel | undefined => {
    const value = parent["via"];
    if (value === undefined) return undefined;
    if (value !== "email" && value !== "sms") fail(`${where}: ${label} must be "email" or "sms"`);
    return value as AddressChannel;
  };
  const credentials = section(obj, "credentials", "credentials");
  const password = section(credentials, "password", "credentials.password");
  const webauthn = section(credentials, "webauthn", "credentials.webauthn");
  const totp = section(credentials, "totp", "credentials.totp");
  const passkey = section(credentials, "passkey", "credentials.passkey");
  const code = section(credentials, "code", "credentials.code");
  const verification = section(obj, "verification", "verification");
  const recovery = section(obj, "recovery", "recovery");
  return {
    passwordIdentifier: flag(password, "identifier", "credentials.password.identifier"),
    webauthnIdentifier: flag(webauthn, "identifier", "credentials.webauthn.identifier"),
    totpAccountName: flag(totp, "account_name", "credentials.totp.account_name"),
    passkeyDisplayName: flag(passkey, "display_name", "credentials.passkey.display_name"),
    codeIdentifier: flag(code, "identifier", "credentials.code.identifier"),
    codeVia: via(code, "credentials.code.via"),
    verificationVia: via(verification, "verification.via"),
    recoveryVia: via(recovery, "recovery.via"),
  };
}

// ---- values ----------------------------------------------------------------------------------------------

function valueAt(root: unknown, segments: readonly string[]): unknown {
  let current = root;
  for (const segment of segments) {
    if (isObject(current)) current = current[segment];
    else if (Array.isArray(current) && /^(0|[1-9][0-9]*)$/.test(segment)) current = current[Number(segment)];
    else return undefined;
  }
  return current;
}

/** The string values of a field in traits: the value itself, or the string items of an array. */
function scalarValues(traits: unknown, field: TraitField): string[] {
  const value = valueAt(traits, field.segments);
  const items = Array.isArray(value) ? value : [value];
  return items.filter((v): v is string => typeof v === "string");
}

function inputTypeOf(field: TraitField): UiNodeInputType {
  switch (field.type) {
    case "number":
    case "integer":
      return "number";
    case "boolean":
      return "checkbox";
    case "string":
      switch (field.format) {
        case "email":
          return "email";
        case "tel":
          return "tel";
        case "date":
          return "date";
        case "date-time":
          return "datetime-local";
        case "uri":
        case "url":
          return "url";
        default:
          return "text";
      }
    default:
      return "text";
  }
}

function autocompleteOf(type: UiNodeInputType): UiNodeInputAutocomplete | undefined {
  switch (type) {
    case "email":
      return "email";
    case "tel":
      return "tel";
    case "url":
      return "url";
    default:
      return undefined;
  }
}

// ---- errors ----------------------------------------------------------------------------------------------

function pointerSegments(pointer: string): string[] {
  if (pointer === "") return [];
  return pointer
    .slice(1)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
}

function fieldName(segments: readonly string[]): string {
  return segments.length === 0 ? "traits" : segments.join(".");
}

function jsonTypeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

function shown(value: unknown): string {
  const text = typeof value === "string" ? value : JSON.stringify(value) ?? String(value);
  return text.length > 64 ? `${text.slice(0, 61)}...` : text;
}

function charLength(value: unknown): number {
  return typeof value === "string" ? [...value].length : 0;
}

function num(value: unknown): number {
  return typeof value === "number" ? value : Number(value);
}

function mapAjvError(err: ErrorObject, instance: unknown): TraitError {
  const segments = pointerSegments(err.instancePath);
  const field = fieldName(segments);
  const value = valueAt(instance, segments);
  const params = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case "required":
    case "dependencies":
    case "dependentRequired": {
      const missing = String(params["missingProperty"]);
      return { field: fieldName([...segments, missing]), message: textValidationRequired(missing) };
    }
    case "additionalProperties":
      return {
        field,
        message: textValidationGeneric(`Property ${String(params["additionalProperty"])} is not allowed.`),
      };
    case "format": {
      const format = String(params["format"]);
      const reason =
        format === "email"
          ? `"${shown(value)}" is not a valid email address.`
          : format === "tel"
            ? `"${shown(value)}" is not a valid phone number; use the international format, e.g. +4917612345678.`
            : `"${shown(value)}" is not a valid "${format}".`;
      return { field, message: textValidationGeneric(reason) };
    }
    case "type": {
      const expected = params["type"];
      const allowed = Array.isArray(expected) ? expected.map(String) : String(expected).split(",");
      return { field, message: textValidationWrongType(allowed, jsonTypeOf(value)) };
    }
    case "minLength":
      return { field, message: textValidationMinLength(num(params["limit"]), charLength(value)) };
    case "maxLength":
      return { field, message: textValidationMaxLength(num(params["limit"]), charLength(value)) };
    case "pattern":
      return { field, message: textValidationPattern(String(params["pattern"])) };
    case "minimum":
    case "exclusiveMinimum":
    case "maximum":
    case "exclusiveMaximum":
      return { field, message: textValidationRange(err.keyword, num(params["limit"]), num(value)) };
    case "multipleOf":
      return { field, message: textValidationMultipleOf(num(params["multipleOf"]), num(value)) };
    case "maxItems":
      return { field, message: textValidationMaxItems(num(params["limit"]), Array.isArray(value) ? value.length : 0) };
    case "minItems":
      return { field, message: textValidationMinItems(num(params["limit"]), Array.isArray(value) ? value.length : 0) };
    case "uniqueItems":
      // ajv reports the later index as `i` and the earlier as `j`
      return {
        field,
        message: textValidationUniqueItems(Math.min(num(params["i"]), num(params["j"])), Math.max(num(params["i"]), num(params["j"]))),
      };
    case "const":
      return { field, message: textValidationConst(params["allowedValue"]) };
    case "enum": {
      const allowed = Array.isArray(params["allowedValues"]) ? (params["allowedValues"] as unknown[]) : [];
      return {
        field,
        message: textValidationGeneric(`The value must be one of: ${allowed.map((v) => JSON.stringify(v)).join(", ")}.`),
      };
    }
    default:
      return { field, message: textValidationGeneric(`The value ${err.message ?? "is invalid"}.`) };
  }
}

function dedupe(errors: readonly TraitError[]): TraitError[] {
  const seen = new Set<string>();
  const out: TraitError[] = [];
  for (const e of errors) {
    const key = `${e.field}\u0000${e.message.id}\u0000${e.message.text}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(e);
  }
  return out;
}
