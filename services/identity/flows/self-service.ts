/**
 * Login and registration with a password, Kratos's way: a flow is created (`/self-service/{kind}/api` for
 * native apps), fetched (`/flows?id=`), and submitted (`POST /self-service/{kind}?flow=`). A submission that
 * fails validation answers 400 with the flow, its messages attached to the nodes; an expired flow answers 410
 * with `use_flow_id` of a fresh one. Browser flows add CSRF and cookies on top (see `browser.ts`).
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { PasswordHasher, PasswordPolicy, TraitSchemas } from "../deps.js";
import type { Credential, FlowKind, Identity, IdentityWithCredentials, Session, StoredFlow } from "../model.js";
import type { SessionService } from "../sessions.js";
import type { IdentityStore } from "../store/identity-store.js";
import { KratosHttpError } from "../api/http-io.js";
import type { RegistrationWebHook } from "../hooks/web-hook.js";
import { flowJson, inputNode, label, type FlowState, type UiNodeJson, type UiTextJson } from "./flow-ui.js";

/** Kratos's message for a wrong identifier or password (the same for both: no account enumeration). */
export const INVALID_CREDENTIALS: UiTextJson = {
  id: 4000006,
  text: "The provided credentials are invalid, check for spelling mistakes in your password or username, email address, or phone number.",
  type: "error",
};
const DUPLICATE_IDENTIFIER: UiTextJson = {
  id: 4000007,
  text: "An account with the same identifier (email, phone, username, ...) exists already.",
  type: "error",
};
const IDENTITY_DISABLED: UiTextJson = { id: 4010011, text: "This account was disabled.", type: "error" };
const NO_STRATEGY: Record<FlowKind, UiTextJson> = {
  login: { id: 4010002, text: "Could not find a strategy to log you in with. Did you fill out the form correctly?", type: "error" },
  registration: { id: 4040002, text: "Could not find a strategy to sign you up with. Did you fill out the form correctly?", type: "error" },
};
const required = (field: string): UiTextJson => ({ id: 4000002, text: `Property ${field} is missing.`, type: "error", context: { property: field } });

/** Options of `SelfService`. */
export interface SelfServiceOptions {
  readonly store: IdentityStore;
  readonly schemas: TraitSchemas;
  readonly hasher: PasswordHasher;
  readonly policy: PasswordPolicy;
  readonly sessions: SessionService;
  /** The public base URL flows point their `ui.action` at, e.g. `http://127.0.0.1:4433`. */
  readonly publicBaseUrl: string;
  /** How long a flow can be submitted (Kratos: 1 h). */
  readonly flowLifespanMillis: number;
  /** The `session` hook after registration: sign the new identity in right away. */
  readonly sessionAfterRegistration: boolean;
  /** Kratos's `web_hook` after registration (pre- or post-persist, see `hooks/web-hook.ts`). */
  readonly registrationWebHook?: RegistrationWebHook;
}

/** The outcome of a submission. */
export type SubmitResult =
  /** Validation failed: answer 400 with this flow (now carrying messages). */
  | { readonly kind: "invalid"; readonly flow: StoredFlow }
  | { readonly kind: "registered"; readonly entry: IdentityWithCredentials; readonly session?: { session: Session; token: string } }
  | { readonly kind: "logged_in"; readonly entry: IdentityWithCredentials; readonly session: { session: Session; token: string } };

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** Fresh (unverified) address records for the addresses a schema found in the traits. */
function newAddresses(
  found: ReturnType<TraitSchemas["addresses"]>,
  now: Date,
): Pick<Identity, "verifiableAddresses" | "recoveryAddresses"> {
  return {
    verifiableAddresses: found.verifiable.map((a) => ({
      id: randomUUID(),
      value: a.value,
      via: a.via,
      verified: false,
      status: "pending",
      verifiedAt: undefined,
      createdAt: now,
      updatedAt: now,
    })),
    recoveryAddresses: found.recovery.map((a) => ({ id: randomUUID(), value: a.value, via: a.via, createdAt: now, updatedAt: now })),
  };
}

/** The self-service login and registration flows. */
export class SelfService {
  constructor(private readonly options: SelfServiceOptions) {}

  /** Starts a flow. */
  async create(
    kind: FlowKind,
    type: "api" | "browser",
    requestUrl: string,
    extra: { returnTo?: string; csrfTokenHash?: string; schemaId?: string; refresh?: boolean } = {},
  ): Promise<StoredFlow> {
    const now = new Date();
    const schemaId = extra.schemaId ?? this.options.schemas.defaultSchemaId;
    if (!this.options.schemas.has(schemaId)) {
      throw new KratosHttpError(400, undefined, `identity_schema: no identity schema "${schemaId}" is configured`);
    }
    const flow: StoredFlow = {
      id: randomUUID(),
      kind,
      type,
      issuedAt: now,
      expiresAt: new Date(now.getTime() + this.options.flowLifespanMillis),
      requestUrl,
      returnTo: extra.returnTo,
      csrfTokenHash: extra.csrfTokenHash,
      state: (kind === "registration" ? { schemaId } : extra.refresh === true ? { refresh: true } : {}) satisfies FlowState,
    };
    await this.options.store.saveFlow(flow);
    return flow;
  }

  /** True once a flow can no longer be submitted (expired, or used: a used flow is expired on purpose). */
  static isExpired(flow: StoredFlow, now = Date.now()): boolean {
    return flow.expiresAt.getTime() <= now;
  }

  /** A new flow of the same kind and type to continue with, carrying over return_to, the CSRF binding and the schema. */
  async replacementFor(flow: StoredFlow): Promise<StoredFlow> {
    if (flow.kind === "logout") throw new Error("logout entries are not self-service flows");
    const state = flow.state as FlowState;
    return this.create(flow.kind, flow.type, flow.requestUrl, {
      ...(flow.returnTo === undefined ? {} : { returnTo: flow.returnTo }),
      ...(flow.csrfTokenHash === undefined ? {} : { csrfTokenHash: flow.csrfTokenHash }),
      ...(state.schemaId === undefined ? {} : { schemaId: state.schemaId }),
      ...(state.refresh === true ? { refresh: true } : {}),
    });
  }

  /** A stored flow of this kind; 404 when unknown. Expiry is the caller's to check (`assertFresh`). */
  async get(kind: FlowKind, id: string | null | undefined): Promise<StoredFlow> {
    if (id === null || id === undefined || id === "") {
      throw new KratosHttpError(400, undefined, "The flow query parameter is missing or malformed.", "flow: the `flow` (or `id`) query parameter is required");
    }
    const flow = await this.options.store.getFlow(id);
    if (flow === undefined || flow.kind !== kind) {
      throw new KratosHttpError(404, undefined, "Unable to locate the resource", `no ${kind} flow with id "${id}"`);
    }
    return flow;
  }

  /**
   * Throws 410 `self_service_flow_expired` for an expired flow, with `use_flow_id` of a new flow of the same
   * kind and type that the client should continue with.
   */
  async assertFresh(flow: StoredFlow): Promise<void> {
    const now = Date.now();
    if (!SelfService.isExpired(flow, now)) return;
    const replacement = await this.replacementFor(flow);
    const ago = Math.round((now - flow.expiresAt.getTime()) / 1000);
    throw new KratosHttpError(
      410,
      "self_service_flow_expired",
      "self-service flow expired",
      `The self-service flow expired ${ago} seconds ago, initialize a new one.`,
      { use_flow_id: replacement.id, expired_at: flow.expiresAt.toISOString(), since: (now - flow.expiresAt.getTime()) * 1_000_000 },
    );
  }

  /** The flow's JSON with its current UI. */
  render(flow: StoredFlow, csrfToken?: string): Record<string, unknown> {
    return flowJson(flow, this.options.publicBaseUrl, this.nodes(flow, csrfToken));
  }

  private nodes(flow: StoredFlow, csrfToken: string | undefined): UiNodeJson[] {
    const state = flow.state as FlowState;
    const values = state.values ?? {};
    const nodes: UiNodeJson[] = [];
    if (csrfToken !== undefined) nodes.push(inputNode("default", "csrf_token", "hidden", { value: csrfToken, required: true }));
    if (flow.kind === "login") {
      nodes.push(
        inputNode("default", "identifier", "text", { value: values["identifier"] ?? "", required: true, label: label(1070004, "ID") }),
        inputNode("password", "password", "password", { required: true, autocomplete: "current-password", label: label(1070001, "Password") }),
        inputNode("password", "method", "submit", { value: "password", label: label(1010022, "Sign in with password") }),
      );
    } else {
      const schemaId = state.schemaId ?? this.options.schemas.defaultSchemaId;
      nodes.push(
        ...this.options.schemas.traitNodes(schemaId, asRecord(values["traits"])),
        inputNode("password", "password", "password", { required: true, autocomplete: "new-password", label: label(1070001, "Password") }),
        inputNode("password", "method", "submit", { value: "password", label: label(1040001, "Sign up") }),
      );
    }
    return nodes;
  }

  /** Stores the flow again with messages and the values to show, and reports the failure. */
  private async invalid(flow: StoredFlow, state: FlowState): Promise<SubmitResult> {
    const base = flow.state as FlowState;
    const kept: FlowState = {
      ...(base.schemaId === undefined ? {} : { schemaId: base.schemaId }),
      ...(base.refresh === true ? { refresh: true } : {}),
    };
    const next: StoredFlow = { ...flow, state: { ...kept, ...state } };
    await this.options.store.saveFlow(next);
    return { kind: "invalid", flow: next };
  }

  /** Registration with `{method: "password", traits, password}`. */
  async register(flow: StoredFlow, body: Readonly<Record<string, unknown>>, req: IncomingMessage): Promise<SubmitResult> {
    await this.assertFresh(flow);
    const state = flow.state as FlowState;
    const schemaId = state.schemaId ?? this.options.schemas.defaultSchemaId;
    const traits = asRecord(body["traits"]) ?? {};
    const values = { traits };
    if (body["method"] !== "password") return this.invalid(flow, { values, messages: [NO_STRATEGY.registration] });
    const fieldMessages: Record<string, UiTextJson[]> = {};
    const add = (field: string, message: UiTextJson): void => {
      (fieldMessages[field] ??= []).push(message);
    };
    for (const error of this.options.schemas.validateTraits(schemaId, traits)) add(error.field, error.message);
    const password = body["password"];
    const identifiers = this.options.schemas.passwordIdentifiers(schemaId, traits);
    if (typeof password !== "string" || password === "") add("password", required("password"));
    else for (const message of this.options.policy(password, identifiers)) add("password", message);
    if (Object.keys(fieldMessages).length > 0) return this.invalid(flow, { values, fieldMessages });
    if (identifiers.length === 0) {
      return this.invalid(flow, {
        values,
        messages: [{ id: 4000001, text: "The identity schema marks no trait as the password identifier, so no password can be set.", type: "error" }],
      });
    }

    const now = new Date();
    const addresses = this.options.schemas.addresses(schemaId, traits);
    let identity: Identity = {
      id: randomUUID(),
      schemaId,
      traits,
      state: "active",
      stateChangedAt: now,
      metadataPublic: null,
      metadataAdmin: null,
      externalId: undefined,
      ...newAddresses(addresses, now),
      createdAt: now,
      updatedAt: now,
    };
    const hook = this.options.registrationWebHook;
    const transientPayload = body["transient_payload"];
    let finalIdentifiers = identifiers;
    if (hook?.prePersist === true) {
      const outcome = await hook.beforePersist(flow, identity, req, transientPayload);
      if (outcome.kind === "interrupt") return this.invalid(flow, { values, fieldMessages: outcome.fieldMessages, messages: outcome.messages });
      if (outcome.identity.traits !== identity.traits) {
        // The hook rewrote the traits: they must still satisfy the schema, and identifiers follow them.
        const errors = this.options.schemas.validateTraits(schemaId, outcome.identity.traits);
        if (errors.length > 0) {
          return this.invalid(flow, { values, messages: errors.map((e) => ({ ...e.message, text: `${e.field}: ${e.message.text}` })) });
        }
        finalIdentifiers = this.options.schemas.passwordIdentifiers(schemaId, outcome.identity.traits);
        const rewritten = this.options.schemas.addresses(schemaId, outcome.identity.traits);
        identity = { ...outcome.identity, ...newAddresses(rewritten, now) };
      } else identity = outcome.identity;
    }
    const credential: Credential = {
      type: "password",
      identifiers: finalIdentifiers,
      config: { hashed_password: await this.options.hasher.hash(password as string) },
      version: 0,
      createdAt: now,
      updatedAt: now,
    };
    const entry: IdentityWithCredentials = { identity, credentials: { password: credential } };
    try {
      await this.options.store.createIdentity(entry);
    } catch (err) {
      if (err instanceof Error && "code" in err && (err as { code: unknown }).code === "already_exists") {
        return this.invalid(flow, { values, messages: [DUPLICATE_IDENTIFIER] });
      }
      throw err;
    }
    // A flow is used once; deleting it by expiring it keeps a replayed submission from creating anything.
    await this.options.store.saveFlow({ ...flow, expiresAt: new Date(0) });
    if (hook !== undefined && !hook.prePersist) await hook.afterPersist(flow, identity, req, transientPayload);
    const session = this.options.sessionAfterRegistration ? await this.options.sessions.issue(identity.id, "password", "aal1", req) : undefined;
    return { kind: "registered", entry, ...(session === undefined ? {} : { session }) };
  }

  /** Login with `{method: "password", identifier, password}`. */
  async login(flow: StoredFlow, body: Readonly<Record<string, unknown>>, req: IncomingMessage): Promise<SubmitResult> {
    await this.assertFresh(flow);
    const identifierValue = body["identifier"] ?? body["password_identifier"];
    const values = { identifier: typeof identifierValue === "string" ? identifierValue : "" };
    if (body["method"] !== "password") return this.invalid(flow, { values, messages: [NO_STRATEGY.login] });
    const password = body["password"];
    const fieldMessages: Record<string, UiTextJson[]> = {};
    if (typeof identifierValue !== "string" || identifierValue.trim() === "") fieldMessages["identifier"] = [required("identifier")];
    if (typeof password !== "string" || password === "") fieldMessages["password"] = [required("password")];
    if (Object.keys(fieldMessages).length > 0) return this.invalid(flow, { values, fieldMessages });
    const entry = await this.findByIdentifier(identifierValue as string);
    const hashed = entry?.credentials.password?.config["hashed_password"];
    if (entry === undefined || typeof hashed !== "string") {
      // The same work and the same answer as a wrong password.
      await this.options.hasher.dummyVerify(password as string);
      return this.invalid(flow, { values, messages: [INVALID_CREDENTIALS] });
    }
    const verdict = await this.options.hasher.verify(password as string, hashed);
    if (!verdict.valid) return this.invalid(flow, { values, messages: [INVALID_CREDENTIALS] });
    if (entry.identity.state !== "active") return this.invalid(flow, { values, messages: [IDENTITY_DISABLED] });
    if (verdict.needsRehash) await this.rehash(entry, password as string);
    await this.options.store.saveFlow({ ...flow, expiresAt: new Date(0) });
    const session = await this.options.sessions.issue(entry.identity.id, "password", "aal1", req);
    return { kind: "logged_in", entry, session };
  }

  /** Password identifiers are stored normalised; try the text as typed (trimmed), then lower-cased. */
  private async findByIdentifier(identifier: string): Promise<IdentityWithCredentials | undefined> {
    const trimmed = identifier.trim();
    const found = await this.options.store.findByCredentialIdentifier("password", trimmed);
    if (found !== undefined || trimmed.toLowerCase() === trimmed) return found;
    return this.options.store.findByCredentialIdentifier("password", trimmed.toLowerCase());
  }

  /** Imported (bcrypt, PBKDF2, older argon2) hashes are replaced with the current argon2id on a successful login. */
  private async rehash(entry: IdentityWithCredentials, password: string): Promise<void> {
    const current = entry.credentials.password;
    if (current === undefined) return;
    const now = new Date();
    await this.options.store.updateIdentity({
      identity: entry.identity,
      credentials: {
        password: { ...current, config: { ...current.config, hashed_password: await this.options.hasher.hash(password) }, updatedAt: now },
      },
    });
  }
}
