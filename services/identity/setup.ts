/**
 * Builds the identity service's dependencies from configuration: the identity schema registry, the
 * argon2id hasher and the password policy (with the offline breached-password list when one is configured),
 * adapted to the narrow interfaces the flows use (`deps.ts`).
 */
import { readFileSync } from "node:fs";
import { InvalidArgumentError } from "../../common/errors.js";
import type { PasswordHasher, PasswordPolicy, TraitSchemas } from "./deps.js";
import type { UiNodeJson, UiTextJson } from "./flows/flow-ui.js";
import { checkPassword, createPasswordHasher, loadBreachedPasswordList, type PasswordPolicyOptions } from "./password/index.js";
import { createIdentitySchemaRegistry, DEFAULT_SCHEMA_ID, defaultIdentitySchema, type IdentitySchemaRegistry } from "./schema/index.js";

/** Adapts the schema registry to `TraitSchemas`. */
export function traitSchemasOf(registry: IdentitySchemaRegistry): TraitSchemas {
  return {
    defaultSchemaId: registry.defaultId,
    has: (id) => registry.has(id),
    document: (id) => registry.get(id)?.schema,
    ids: () => registry.list().map((s) => s.id),
    validateTraits: (id, traits) => {
      const result = registry.validateTraits(id, traits);
      return result.ok ? [] : result.errors.map((e) => ({ field: e.field, message: e.message as UiTextJson }));
    },
    passwordIdentifiers: (id, traits) => registry.passwordIdentifiers(id, traits),
    addresses: (id, traits) => registry.addresses(id, traits),
    traitNodes: (id, values) => registry.traitNodes(id, values) as unknown as readonly UiNodeJson[],
  };
}

/** Options of `createIdentityDeps`. */
export interface IdentityDepsOptions {
  /** A JSON Schema file used as the default schema (id `default`); absent = the built-in one. */
  readonly schemaLocation?: string;
  /** More identity schemas by id (JSON Schema files); the built-in one stays available as `default` unless replaced. */
  readonly schemas?: readonly { readonly id: string; readonly path: string }[];
  /** The schema new identities get when a flow names none; default `default`. */
  readonly defaultSchemaId?: string;
  readonly argon2?: { memoryKiB: number; iterations: number; parallelism: number };
  readonly policy?: PasswordPolicyOptions;
}

/** The schemas, the hasher and the policy. */
export function createIdentityDeps(options: IdentityDepsOptions = {}): { schemas: TraitSchemas; hasher: PasswordHasher; policy: PasswordPolicy; warmUp(): Promise<void> } {
  const read = (path: string, field: string): unknown => {
    try {
      return JSON.parse(readFileSync(path, "utf8")) as unknown;
    } catch (err) {
      throw new InvalidArgumentError(`${field}: cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`, { details: { field } });
    }
  };
  const configured = new Map<string, unknown>([[DEFAULT_SCHEMA_ID, defaultIdentitySchema]]);
  if (options.schemaLocation !== undefined) configured.set(DEFAULT_SCHEMA_ID, read(options.schemaLocation, "identity.schema_location"));
  for (const { id, path } of options.schemas ?? []) configured.set(id, read(path, `identity.schemas (${id})`));
  const defaultSchemaId = options.defaultSchemaId ?? DEFAULT_SCHEMA_ID;
  if (!configured.has(defaultSchemaId)) {
    throw new InvalidArgumentError(`identity.default_schema_id: no identity schema "${defaultSchemaId}" is configured`, {
      details: { field: "identity.default_schema_id" },
    });
  }
  const registry: IdentitySchemaRegistry = createIdentitySchemaRegistry({
    schemas: [...configured].map(([id, schema]) => ({ id, schema })),
    defaultSchemaId,
  });
  const hasher = createPasswordHasher(options.argon2 === undefined ? {} : { argon2: options.argon2 });
  return {
    schemas: traitSchemasOf(registry),
    hasher: {
      hash: (password) => hasher.hash(password),
      verify: (password, hashed) => hasher.verify(password, hashed),
      dummyVerify: () => hasher.dummyVerify(),
    },
    policy: (password, identifiers) => checkPassword(password, identifiers, options.policy ?? {}) as UiTextJson[],
    warmUp: async () => {
      await hasher.warmUp();
    },
  };
}

/** Options of `loadIdentityDeps`. */
export interface LoadIdentityDepsOptions extends IdentityDepsOptions {
  /**
   * A breached-password list file (`identity.password.breached_list`): one entry a line, a plain password or
   * its SHA-1 hex (optionally `:count`, as HaveIBeenPwned downloads have it). Passwords on it are refused with
   * 4000034. Read once, at start; no network calls are ever made.
   */
  readonly breachedListPath?: string;
}

/** `createIdentityDeps`, after reading the breached-password list when one is configured. */
export async function loadIdentityDeps(
  options: LoadIdentityDepsOptions = {},
): Promise<ReturnType<typeof createIdentityDeps> & { breachedPasswords: number | undefined }> {
  const { breachedListPath, ...rest } = options;
  if (breachedListPath === undefined) return { ...createIdentityDeps(rest), breachedPasswords: undefined };
  let list: Awaited<ReturnType<typeof loadBreachedPasswordList>>;
  try {
    list = await loadBreachedPasswordList(breachedListPath);
  } catch (err) {
    const reason = err instanceof Error && err.cause instanceof Error ? err.cause.message : err instanceof Error ? err.message : String(err);
    throw new InvalidArgumentError(`identity.password.breached_list: cannot read ${breachedListPath}: ${reason}`, {
      details: { field: "identity.password.breached_list" },
      cause: err,
    });
  }
  return { ...createIdentityDeps({ ...rest, policy: { ...rest.policy, breachedPasswords: list } }), breachedPasswords: list.size };
}
