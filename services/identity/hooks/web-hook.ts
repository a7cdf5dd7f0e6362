/**
 * Kratos's `web_hook` after registration. The hook receives a JSON context (the flow, the identity about to
 * be stored, the request's method, URL and allow-listed headers, the submission's `transient_payload`).
 * - `parse` (pre-persist): a 200 reply with `{"identity": {traits?, metadata_public?, metadata_admin?}}`
 *   rewrites those parts of the identity before it is stored (the traits are validated again).
 * - `canInterrupt` (pre-persist): a 4xx/5xx reply with `{"messages":[{"instance_ptr":"#/traits/email",
 *   "messages":[{id,text,type,context?}]}]}` stops the registration and shows the messages on those fields.
 * - otherwise (post-persist): the hook is told after the identity is stored; `ignore` sends it without
 *   waiting, and its failures are only logged.
 * Kratos builds the body with Jsonnet; Gatehouse sends the context as is (a documented difference).
 */
import type { IncomingMessage } from "node:http";
import type { UiTextJson } from "../flows/flow-ui.js";
import type { Identity, StoredFlow } from "../model.js";
import { KratosHttpError } from "../api/http-io.js";

/** Configuration of one web hook. */
export interface WebHookConfig {
  readonly url: string;
  /** Default POST. */
  readonly method?: string;
  /** Extra request headers (e.g. an API key the receiver checks). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Apply the reply's `identity` to the identity before it is stored. */
  readonly parse?: boolean;
  /** A 4xx/5xx reply with messages stops the registration. */
  readonly canInterrupt?: boolean;
  /** Fire and forget (post-persist only). */
  readonly ignore?: boolean;
  /** Default 10,000 ms (Kratos: 30 s for ignored hooks). */
  readonly timeoutMillis?: number;
  /** Request headers passed on to the hook (lower-case names). Default: accept, accept-language, user-agent, content-type. */
  readonly headerAllowlist?: readonly string[];
}

/** What a pre-persist hook decided. */
export type PrePersistOutcome =
  | { readonly kind: "continue"; readonly identity: Identity }
  | { readonly kind: "interrupt"; readonly fieldMessages: Readonly<Record<string, readonly UiTextJson[]>>; readonly messages: readonly UiTextJson[] };

const DEFAULT_ALLOWLIST = ["accept", "accept-language", "user-agent", "content-type"];

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** `#/traits/name/first` → `traits.name.first` (the node name). */
function fieldOf(pointer: unknown): string | undefined {
  if (typeof pointer !== "string" || !pointer.startsWith("#/")) return undefined;
  return pointer
    .slice(2)
    .split("/")
    .map((part) => part.replace(/~1/g, "/").replace(/~0/g, "~"))
    .join(".");
}

function uiText(value: unknown): UiTextJson | undefined {
  const m = asRecord(value);
  if (m === undefined || typeof m["text"] !== "string") return undefined;
  const type = m["type"] === "info" || m["type"] === "success" ? m["type"] : "error";
  return {
    id: typeof m["id"] === "number" ? m["id"] : 4000001,
    text: m["text"],
    type,
    ...(asRecord(m["context"]) === undefined ? {} : { context: asRecord(m["context"]) as Record<string, unknown> }),
  };
}

/** A web hook after registration. */
export class RegistrationWebHook {
  constructor(
    private readonly config: WebHookConfig,
    private readonly log: (line: string) => void = () => {},
  ) {}

  /** Whether it runs before the identity is stored. */
  get prePersist(): boolean {
    return this.config.parse === true || this.config.canInterrupt === true;
  }

  private body(flow: StoredFlow, identity: Identity, req: IncomingMessage, transientPayload: unknown): string {
    const allow = new Set((this.config.headerAllowlist ?? DEFAULT_ALLOWLIST).map((h) => h.toLowerCase()));
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (allow.has(name) && typeof value === "string") headers[name] = value;
    }
    return JSON.stringify({
      flow: { id: flow.id, type: flow.type, request_url: flow.requestUrl },
      identity: {
        id: identity.id,
        schema_id: identity.schemaId,
        traits: identity.traits,
        state: identity.state,
        metadata_public: identity.metadataPublic ?? null,
        metadata_admin: identity.metadataAdmin ?? null,
      },
      request_headers: headers,
      request_method: req.method,
      request_url: flow.requestUrl,
      transient_payload: transientPayload ?? null,
    });
  }

  private async call(body: string): Promise<{ status: number; json: unknown }> {
    const timeout = this.config.timeoutMillis ?? 10_000;
    let response: Response;
    try {
      response = await fetch(this.config.url, {
        method: this.config.method ?? "POST",
        headers: { "content-type": "application/json", accept: "application/json", ...(this.config.headers ?? {}) },
        body,
        signal: AbortSignal.timeout(timeout),
      });
    } catch (err) {
      const timedOut = err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError");
      throw new KratosHttpError(
        timedOut ? 504 : 502,
        undefined,
        "A third-party upstream service could not be reached. Please try again later.",
        timedOut ? `the registration web hook did not answer within ${timeout} ms` : "the registration web hook could not be reached",
      );
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = text === "" ? undefined : (JSON.parse(text) as unknown);
    } catch {
      json = undefined;
    }
    return { status: response.status, json };
  }

  /** Runs before the identity is stored: may rewrite it (parse) or stop the registration (canInterrupt). */
  async beforePersist(flow: StoredFlow, identity: Identity, req: IncomingMessage, transientPayload: unknown): Promise<PrePersistOutcome> {
    const { status, json } = await this.call(this.body(flow, identity, req, transientPayload));
    if (status >= 400) {
      const list = asRecord(json)?.["messages"];
      if (this.config.canInterrupt === true && Array.isArray(list)) {
        const fieldMessages: Record<string, UiTextJson[]> = {};
        const messages: UiTextJson[] = [];
        for (const entry of list) {
          const e = asRecord(entry);
          const texts = (Array.isArray(e?.["messages"]) ? (e?.["messages"] as unknown[]) : []).map(uiText).filter((t): t is UiTextJson => t !== undefined);
          const field = fieldOf(e?.["instance_ptr"]);
          if (field === undefined || field === "") messages.push(...texts);
          else (fieldMessages[field] ??= []).push(...texts);
        }
        return { kind: "interrupt", fieldMessages, messages };
      }
      throw new KratosHttpError(502, undefined, "A third-party upstream service responded improperly. Please try again later.", `the registration web hook answered ${status}`);
    }
    if (this.config.parse !== true || status === 204) return { kind: "continue", identity };
    const patch = asRecord(asRecord(json)?.["identity"]);
    if (patch === undefined) return { kind: "continue", identity };
    const traits = asRecord(patch["traits"]);
    return {
      kind: "continue",
      identity: {
        ...identity,
        ...(traits === undefined ? {} : { traits }),
        ...("metadata_public" in patch ? { metadataPublic: patch["metadata_public"] } : {}),
        ...("metadata_admin" in patch ? { metadataAdmin: patch["metadata_admin"] } : {}),
      },
    };
  }

  /** Runs after the identity is stored; failures are logged, never undo the registration. */
  async afterPersist(flow: StoredFlow, identity: Identity, req: IncomingMessage, transientPayload: unknown): Promise<void> {
    const body = this.body(flow, identity, req, transientPayload);
    const send = this.call(body).then(
      ({ status }) => {
        if (status >= 400) this.log(`registration web hook answered ${status} for identity ${identity.id}`);
      },
      (err: unknown) => this.log(`registration web hook failed for identity ${identity.id}: ${err instanceof Error ? err.message : String(err)}`),
    );
    if (this.config.ignore !== true) await send;
  }
}
