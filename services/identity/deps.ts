/**
 * What the flows need from the identity schemas and the password machinery, as narrow interfaces (the
 * implementations live in `schema/` and `password/`; `identity-service.ts` wires them).
 */
import type { UiNodeJson, UiTextJson } from "./flows/flow-ui.js";

/** A trait that failed the schema, with the message for its node. */
export interface TraitError {
  /** The node name: `traits.email`, or `traits` for the object as a whole. */
  readonly field: string;
  readonly message: UiTextJson;
}

/** The identity schemas. */
export interface TraitSchemas {
  readonly defaultSchemaId: string;
  has(schemaId: string): boolean;
  /** The schema document, for `GET /schemas/{id}`. */
  document(schemaId: string): unknown;
  ids(): readonly string[];
  validateTraits(schemaId: string, traits: unknown): readonly TraitError[];
  /** Normalised password identifiers found in the traits (e.g. lower-cased email). */
  passwordIdentifiers(schemaId: string, traits: Readonly<Record<string, unknown>>): readonly string[];
  /** Verification and recovery addresses the traits name. */
  addresses(
    schemaId: string,
    traits: Readonly<Record<string, unknown>>,
  ): { verifiable: readonly { value: string; via: "email" | "sms" }[]; recovery: readonly { value: string; via: "email" | "sms" }[] };
  /** Input nodes for the traits (`traits.<path>`), with values filled in. */
  traitNodes(schemaId: string, values: Readonly<Record<string, unknown>> | undefined): readonly UiNodeJson[];
}

/** Password hashing and verification. */
export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(password: string, hashed: string): Promise<{ valid: boolean; needsRehash: boolean }>;
  /** Costs what a verification costs, for unknown identifiers (no timing oracle). */
  dummyVerify(password: string): Promise<void>;
}

/** Password policy: the messages for a password that is refused, empty when it is fine. */
export type PasswordPolicy = (password: string, identifiers: readonly string[]) => readonly UiTextJson[];
